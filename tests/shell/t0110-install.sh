# make install: every program of cmd/ lands in PREFIX/bin and every page of
# man/ in PREFIX/share/man/manN, all under DESTDIR.  Run from the repository
# root; under make check the sub-make inherits SAN=1 and so installs the
# binaries that were just tested.
. tests/lib.sh

cmds=$(for c in cmd/*.c; do [ -e "$c" ] && basename "$c" .c; done)
if [ -z "$cmds" ]; then
	test_skip "no programs in cmd/ yet"
	test_done
	exit
fi

root=$TMP/root/usr/local
test_expect_success 'make install PREFIX=/usr/local DESTDIR=$TMP/root' '
	make -s --no-print-directory install PREFIX=/usr/local DESTDIR="$TMP/root" </dev/null
'
for name in $cmds; do
	test_expect_success "installed bin/$name" 'test -f "$root/bin/$name" && test -x "$root/bin/$name"'
done
for page in man/*.[1-9]; do
	[ -e "$page" ] || continue
	dest=$root/share/man/man${page##*.}/$(basename "$page")
	test_expect_success "installed $dest" 'test -f "$dest" && cmp "$page" "$dest"'
done
test_done
