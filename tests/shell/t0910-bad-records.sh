#!/bin/sh
# Bad record streams: each file in tests/corpus-bad-records is refused with
# exit status 65 and one line naming the record; good streams convert to
# every format and back unchanged.
. ./tests/lib.sh
REC=$EXO_BUILD/tools/exo-rec
for f in tests/corpus-bad-records/*; do
	name=$(basename "$f")
	case $name in
	*.json) in=json ;;
	*.yaml) in=yaml ;;
	*) in=msgpack ;;
	esac
	test_expect_success "bad input $name: status 65, one line naming the record" "
		$REC -i $in -o json $f >$TMP/out 2>$TMP/err; test \$? -eq 65 &&
		test \$(wc -l <$TMP/err) -eq 1 && grep -q 'record [0-9]' $TMP/err
	"
done
cat >$TMP/node.json <<'JSON'
{"kind":"node","v":1,"name":"box","arch":"x86_64","mem_total":17179869184,"r":0.1,"s":"007","t":"true","e":"","a":[],"o":{}}
{"kind":"other","v":1,"x":[1.0,-9223372036854775808,"\u00e9"]}
JSON
test_expect_success "JSON -> msgpack -> YAML -> msgpack -> JSON is unchanged" "
	$REC -i json -o json $TMP/node.json >$TMP/canon.json &&
	$REC -i json -o msgpack $TMP/node.json >$TMP/a.mp &&
	$REC -o yaml $TMP/a.mp | $REC -i yaml -o msgpack >$TMP/b.mp &&
	cmp $TMP/a.mp $TMP/b.mp &&
	$REC -o json $TMP/b.mp >$TMP/back.json && cmp $TMP/canon.json $TMP/back.json
"
test_expect_success "text output names the kind and shows sizes" "
	$REC -i json -o text $TMP/node.json >$TMP/text &&
	grep -q '^node  box' $TMP/text && grep -q '(16.0 GiB)' $TMP/text
"
test_expect_code 65 "a newer major version is refused" "
	echo '{\"kind\":\"node\",\"v\":9}' | $REC -i json -o json
"
test_done
