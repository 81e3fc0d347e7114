# The benchmark tools on a tiny model: make_random_model writes a checkpoint
# that exo-validate accepts and that is the same for the same seed, and
# bench_engine prints its table and its RSS line.  A smoke test: no timings
# are checked (scripts/bench-engine runs the real benchmark).
. tests/lib.sh

tools=$EXO_BUILD/tools
tiny='--hidden 64 --layers 2 --heads 4 --kv-heads 2 --head-dim 16 --intermediate 128 --vocab 256 -q'
if [ ! -x "$tools/make_random_model" ] || [ ! -x "$tools/bench_engine" ]; then
	test_skip "make_random_model or bench_engine not built in $tools"
	test_done
	exit
fi
test_expect_success 'make_random_model writes a tiny model' '
	"$tools/make_random_model" $tiny --out "$TMP/model" &&
	test -f "$TMP/model/config.json" && test -f "$TMP/model/model.safetensors" &&
	! ls "$TMP/model" | grep -q tmp
'
test_expect_success 'exo-validate model accepts it' '
	exo-validate model "$TMP/model" >"$TMP/validate.out"
'
test_expect_success 'the same seed gives the same weights, another seed others' '
	"$tools/make_random_model" $tiny --out "$TMP/same" &&
	"$tools/make_random_model" $tiny --seed 7 --out "$TMP/other" &&
	cmp "$TMP/model/model.safetensors" "$TMP/same/model.safetensors" &&
	! cmp -s "$TMP/model/model.safetensors" "$TMP/other/model.safetensors"
'
test_expect_success 'f32 and untied: exo-validate accepts it' '
	"$tools/make_random_model" $tiny --dtype f32 --untied --out "$TMP/f32" &&
	grep -q "\"float32\"" "$TMP/f32/config.json" &&
	exo-validate model "$TMP/f32" >"$TMP/validate-f32.out"
'
test_expect_code 64 'make_random_model refuses an unknown dtype' '
	"$tools/make_random_model" --dtype int4 --out "$TMP/bad"
'
test_expect_success 'bench_engine prints its table' '
	"$tools/bench_engine" -r 1 -n 2 -p 8,16 -B 8 -d stored,q8_0 -t 1 "$TMP/model" >"$TMP/table" &&
	grep -q "^| dtype | threads |.*pp8 t/s | pp16 t/s | tg2 t/s | limit t/s | tg/limit |" "$TMP/table" &&
	grep -q "^| BF16 | 1 |" "$TMP/table" && grep -q "^| Q8_0 | 1 |" "$TMP/table" &&
	grep -q "^kernels: " "$TMP/table"
'
test_expect_success 'bench_engine -o jsonl prints one object per row' '
	"$tools/bench_engine" -r 1 -n 2 -p 8 -B 8 -d q4_0 -t 1 -o jsonl "$TMP/model" >"$TMP/jsonl" &&
	test "$(wc -l <"$TMP/jsonl")" -eq 1 && grep -q "\"dtype\":\"Q4_0\"" "$TMP/jsonl" &&
	grep -q "\"tg_limit_ratio\":" "$TMP/jsonl"
'
test_expect_success 'bench_engine --cpu-clock says which clock, in the table and in jsonl' '
	"$tools/bench_engine" --cpu-clock -r 1 -n 2 -p 8 -B 8 -d q4_0 -t 1 "$TMP/model" >"$TMP/cpu.md" &&
	grep -q "; CPU time / threads, not wall time" "$TMP/cpu.md" &&
	"$tools/bench_engine" --cpu-clock -r 1 -n 2 -p 8 -B 8 -d q4_0 -t 1 -o jsonl "$TMP/model" >"$TMP/cpu.jsonl" &&
	grep -q "\"clock\":\"cpu\"" "$TMP/cpu.jsonl" && grep -q "\"clock\":\"wall\"" "$TMP/jsonl"
'
test_expect_success 'bench_engine --rss reports a stage of layers 1:2' '
	"$tools/bench_engine" --rss --layers 1:2 -n 3 "$TMP/model" >"$TMP/rss" &&
	grep -q "^rss: layers 1:2 of 2, BF16, 3 positions fed: VmRSS .*RssFile .*RssAnon " "$TMP/rss"
'
test_expect_code 64 'bench_engine refuses a bad layer range' '
	"$tools/bench_engine" --rss --layers 3:1 "$TMP/model"
'
test_done
