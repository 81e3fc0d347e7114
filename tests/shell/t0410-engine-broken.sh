#!/bin/sh
# Broken checkpoints are refused with one line naming the file, the tensor or
# the offset, and exit status 2 (a failed check); never a crash.
. tests/lib.sh
M=$EXO_SHARED/fixtures/models

broken() { # name: a fresh copy of llama3-tiny to break
	rm -rf "$TMP/$1" && cp -r "$M/llama3-tiny" "$TMP/$1" && chmod -R u+w "$TMP/$1"
}
refuses() { # dir, expected text in the message
	exo-validate model "$1" -o json >"$TMP/out"
	rc=$?
	cat "$TMP/out"
	[ $rc -eq 2 ] && grep '"level":"fail"' "$TMP/out" | grep -q -- "$2"
}

broken missing
perl -0777 -pi -e 's/model\.norm\.weight/model.norx.weight/' "$TMP/missing/model.safetensors"
test_expect_success "a missing tensor is named with its file" \
	'refuses $TMP/missing "model.safetensors: tensor model.norm.weight is missing"'

broken shape
sed -i 's/"intermediate_size": 160/"intermediate_size": 172/' "$TMP/shape/config.json"
test_expect_success "a shape that disagrees with config.json names both" \
	'refuses $TMP/shape "mlp.gate_proj.weight: shape 160x64, config says 172x64"'

broken truncated
truncate -s 500000 "$TMP/truncated/model.safetensors"
test_expect_success "a truncated file names the file and the offset" \
	'refuses $TMP/truncated "past the end of the file (truncated?"'

broken header
perl -0777 -pi -e 's/"dtype"/"dtype"}/' "$TMP/header/model.safetensors"
test_expect_success "malformed header JSON names the byte" \
	'refuses $TMP/header "header JSON at byte"'

broken hdrlen
printf '\377\377\377\000\000\000\000\000' | dd of="$TMP/hdrlen/model.safetensors" conv=notrunc 2>/dev/null
test_expect_success "a header length past the end of the file" \
	'refuses $TMP/hdrlen "header length 16777215 at offset 0 runs past the end"'

broken arch
sed -i 's/LlamaForCausalLM/NemotronHForCausalLM/' "$TMP/arch/config.json"
test_expect_success "an unsupported architecture is named with the reason" \
	'refuses $TMP/arch "architecture NemotronHForCausalLM is not supported: hybrid Mamba / mixture-of-experts layers"'

broken badjson
echo '{"architectures": [' >"$TMP/badjson/config.json"
test_expect_success "broken config.json names the file, line and column" \
	'refuses $TMP/badjson "config.json:2:"'

broken overlap
perl -0777 -pi -e 's/"data_offsets":\[131072,262144\]/"data_offsets":[131071,262143]/' "$TMP/overlap/model.safetensors"
test_expect_success "overlapping tensors are refused" \
	'grep -q "131071" "$TMP/overlap/model.safetensors" && refuses $TMP/overlap "overlap"'

test_expect_code 66 "a model that is neither a directory nor in the cache" \
	'HF_HUB_CACHE=$TMP/none exo-validate model org/absent --reference $M/llama3-tiny/reference -o json >$TMP/out 2>$TMP/err || { rc=$?; cat $TMP/out; exit $rc; }'
test_expect_code 64 "an unknown option is a usage error" 'exo-validate --bogus'
test_expect_code 64 "a missing model is a usage error" 'exo-validate model'
test_expect_success "--help prints the usage on stdout" 'exo-validate --help | grep -q "usage: exo-validate model"'

mkdir -p "$TMP/cache/models--org--tiny/refs" "$TMP/cache/models--org--tiny/snapshots"
cp -r "$M/qwen2-tiny" "$TMP/cache/models--org--tiny/snapshots/0123abcd0123abcd0123abcd0123abcd0123abcd"
echo 0123abcd0123abcd0123abcd0123abcd0123abcd >"$TMP/cache/models--org--tiny/refs/main"
test_expect_success "ORG/NAME is found in the Hugging Face cache through refs/main" \
	'HF_HUB_CACHE=$TMP/cache exo-validate model org/tiny --reference $M/qwen2-tiny/reference -o json | grep -q "all 16 greedy tokens match"'
printf 'hardware:\n  cpu: {threads: many}\n' >"$TMP/bad.yaml"
test_expect_code 78 "a bad configuration file is refused naming file:line:col" \
	'EXO_CONFIG=$TMP/bad.yaml exo-validate model $M/qwen2-tiny 2>$TMP/err; rc=$?; grep -q "bad.yaml:2:18: key .hardware.cpu.threads." $TMP/err && exit $rc'
printf 'hardware:\n  cpu: {threads: 1}\n' >"$TMP/one.yaml"
test_expect_success "the configuration's thread count is used" \
	'EXO_CONFIG=$TMP/one.yaml EXO_DEBUG=3 exo-validate model $M/qwen2-tiny -o json 2>$TMP/log >/dev/null && grep -q "1 threads" $TMP/log'
test_done
