# Man pages: every page in man/ lints clean; every binary answers --help and
# --version and has a page man/NAME.1 that documents every long option its
# --help shows.  Run from the repository root (make check does).
. tests/lib.sh

for page in man/*.[1-9]; do
	[ -e "$page" ] || continue
	test_expect_success "mandoc -T lint -W warning $page is silent" '
		mandoc -T lint -W warning "$page" >"$TMP/lint" 2>&1
		cat "$TMP/lint"
		test ! -s "$TMP/lint"
	'
done

# The long options of $TMP/help that the rendered page does not mention.
missing_options() {
	for opt in $(grep -o -- '--[a-z][a-z-]*' "$TMP/help" | sed 's/-*$//' | sort -u); do
		grep -Eq -- "$opt([^a-z-]|\$)" "$TMP/page" || printf ' %s' "$opt"
	done
}

check_binary() {
	timeout 10 "$bin" --help >"$TMP/help" 2>"$TMP/help.err" </dev/null ||
		{ echo "$name --help exited $?"; cat "$TMP/help.err"; return 1; }
	test -s "$TMP/help" || { echo "$name --help printed nothing on stdout"; return 1; }
	timeout 10 "$bin" --version >"$TMP/version" 2>&1 </dev/null ||
		{ echo "$name --version exited $?"; return 1; }
	page=man/$name.1
	test -f "$page" || { echo "no man page $page"; return 1; }
	mandoc -T ascii "$page" | col -bx >"$TMP/page"
	missing=$(missing_options)
	test -z "$missing" || { echo "$page does not mention:$missing"; return 1; }
}

found=0
for bin in "$EXO_BIN"/*; do
	[ -f "$bin" ] && [ -x "$bin" ] || continue
	found=1
	name=$(basename "$bin")
	test_expect_success "$name: --help, --version, man/$name.1 with every long option" check_binary
done
[ "$found" -eq 1 ] || test_skip "no binaries in $EXO_BIN yet"
test_done
