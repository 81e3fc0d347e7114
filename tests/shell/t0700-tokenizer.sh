#!/bin/sh
# exo-validate tokenizer: every reference case of every fixture tokenizer
# gives exactly its ids (and every chat case renders and encodes exactly);
# a wrong id is reported with the text, both ids and the position, exit 2;
# a bad cases file is one line naming FILE:LINE, exit 65.
. ./tests/lib.sh
T=$EXO_SHARED/fixtures/tokenizers

for dir in "$T"/*/; do
	name=$(basename "$dir")
	test_expect_success "$name: every case gives exactly the expected ids" "
		exo-validate tokenizer $dir --cases $dir/cases.jsonl -o json >\$TMP/$name.out &&
		grep -q '\"code\":\"tokenizer.cases\",\"level\":\"ok\"' \$TMP/$name.out &&
		! grep -q '\"level\":\"fail\"' \$TMP/$name.out
	"
	if [ -f "$dir/chat.jsonl" ]; then
		test_expect_success "$name: every chat case renders and encodes exactly" "
			exo-validate tokenizer $dir --chat $dir/chat.jsonl -o json >\$TMP/$name.chat &&
			grep -q '\"code\":\"tokenizer.chat\",\"level\":\"ok\"' \$TMP/$name.chat
		"
	fi
done

test_expect_success "--chat-template gives the template from a file" '
	exo-validate tokenizer "$T/mistral" --chat "$T/mistral/chat.jsonl" \
		--chat-template "$T/mistral/chat_template.jinja" -o json >"$TMP/tpl.out" &&
	grep -q "\"code\":\"tokenizer.chat\",\"level\":\"ok\"" "$TMP/tpl.out"
'
printf '%s' '{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}' >"$TMP/other.jinja"
test_expect_code 2 "another template's prompts are failures" '
	exo-validate tokenizer "$T/mistral" --chat "$T/mistral/chat.jsonl" \
		--chat-template "$TMP/other.jinja" -o json >"$TMP/other.out"
'
test_expect_success "... naming the line and the first differing byte" '
	grep -F "chat.jsonl:1: rendered prompt differs at byte 3: expected" "$TMP/other.out" |
		grep -q -F "[INST] Hello! [/INST]"
'
printf '%s' '{% if messages %}never closed' >"$TMP/broken.jinja"
test_expect_code 2 "a template that does not parse is a failed check" '
	exo-validate tokenizer "$T/mistral" --chat "$T/mistral/chat.jsonl" \
		--chat-template "$TMP/broken.jinja" -o json >"$TMP/broken-tpl.out"
'
test_expect_success "... naming the template file" '
	grep "tokenizer.chat.parse" "$TMP/broken-tpl.out" | grep -q "broken.jinja"
'

# One id changed on line 3 of a copy of the gpt2 cases.
sed '3s/"ids": \[\([0-9]*\)/"ids": [99\1/' "$T/gpt2/cases.jsonl" >"$TMP/wrong.jsonl"
test_expect_success "the altered copy differs from the original" '
	! cmp -s "$T/gpt2/cases.jsonl" "$TMP/wrong.jsonl"
'
test_expect_code 2 "a wrong id exits 2" '
	exo-validate tokenizer "$T/gpt2" --cases "$TMP/wrong.jsonl" -o json >"$TMP/wrong.out"
'
test_expect_success "the mismatch names the line, the position and both ids" '
	grep "\"code\":\"tokenizer.encode\"" "$TMP/wrong.out" >"$TMP/fail" &&
	test $(wc -l <"$TMP/fail") -eq 1 &&
	grep -q "wrong.jsonl:3: .*ids differ at position 0: expected 99" "$TMP/fail" &&
	grep -q "\"expected\":\[99" "$TMP/fail" && grep -q "\"actual\":\[" "$TMP/fail" &&
	grep -q "\"position\":0" "$TMP/fail" &&
	grep -q "\"code\":\"tokenizer.cases\",\"level\":\"fail\".*183 of 184 cases" "$TMP/wrong.out"
'
test_expect_success "-q prints only the failures" '
	exo-validate tokenizer "$T/gpt2" --cases "$T/gpt2/cases.jsonl" -o json -q >"$TMP/quiet" &&
	test ! -s "$TMP/quiet"
'

printf '{"text": "a", "add_special_tokens": false, "ids": [64]}\n{"text": 5, "ids": []}\n' >"$TMP/bad.jsonl"
test_expect_code 65 "a case without a text string exits 65" '
	exo-validate tokenizer "$T/gpt2" --cases "$TMP/bad.jsonl" -o json 2>"$TMP/bad.err" >/dev/null
'
test_expect_success "the error is one line naming FILE:LINE and the field" '
	test $(wc -l <"$TMP/bad.err") -eq 1 && grep -q "bad.jsonl:2: .text.: expected a string" "$TMP/bad.err"
'
printf '{"text": "a", "add_special_tokens": false, "ids": [64]}\n{"text": "b",\n' >"$TMP/broken.jsonl"
test_expect_code 65 "a line that is not JSON exits 65" '
	exo-validate tokenizer "$T/gpt2" --cases "$TMP/broken.jsonl" -o json 2>"$TMP/broken.err" >/dev/null
'
test_expect_success "... naming its line" 'grep -q "broken.jsonl:2: column" "$TMP/broken.err"'
test_expect_code 66 "a missing tokenizer directory exits 66" '
	exo-validate tokenizer "$TMP/nowhere" -o json
'
mkdir "$TMP/broken-tok" && printf '{"model": {"type": "WordPiece", "vocab": {}}}' >"$TMP/broken-tok/tokenizer.json"
test_expect_code 2 "an unsupported tokenizer.json is a failed check" '
	exo-validate tokenizer "$TMP/broken-tok" -o json >"$TMP/broken-tok.out"
'
test_expect_success "... naming the file, the field and the model type" '
	grep -q "broken-tok/tokenizer.json: model.type: unsupported model type .WordPiece." "$TMP/broken-tok.out"
'
test_done
