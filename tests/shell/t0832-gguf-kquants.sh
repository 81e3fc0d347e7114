#!/bin/sh
# K-quant GGUF files as llama.cpp's quantiser writes them (a random Llama of
# hidden size 256: Q4_K_M is Q4_K and Q6_K, Q5_K_M is Q5_K and Q6_K; made
# by tests/fixtures-gguf/make-random-k.py): exo's greedy tokens equal
# llama.cpp's, with the best kernels and the reference, in one process and
# over two stages on loopback.
. tests/lib.sh
G=tests/fixtures-gguf
CLIENT=$EXO_BUILD/tools/pipeline_client
trap 'stop_all; rm -rf "$TMP"' EXIT
export EXO_CONFIG=/dev/null
prompt='7 301 44 96 480 12 5 250 333 18 71 142'
want() { python3 -c 'import json, sys; print(*json.load(open(sys.argv[1]))["greedy"][sys.argv[2]])' $G/random-k-llamacpp.json $1; }

for q in Q4_K_M Q5_K_M; do
	for k in best ref; do
		test_expect_success "random-k-$q.gguf, $k kernels: llama.cpp's 16 greedy tokens" "
			w=\$(want $q) &&
			got=\$( [ $k = ref ] && export EXO_KERNELS=ref; $CLIENT --model $G/random-k-$q.gguf --local 2 \
				--prompt '$prompt' --tokens 16 --temperature 0 2>$TMP/err) &&
			echo \"want \$w\" && echo \"got  \$got\" && test \"\$(echo \$got)\" = \"\$w\"
		"
	done
done

base=$((10000 + $(od -An -N2 -tu2 /dev/urandom) % 22000))
test_expect_success "random-k-Q5_K_M.gguf over 2 stages on loopback: the same tokens" "
	exo-shard-serve --model $G/random-k-Q5_K_M.gguf --layers 1:2 --stage 1 --listen 127.0.0.1:$((base + 1)) \
		--threads 1 2>$TMP/s1.log & echo \$! >>$TMP/pids
	wait_for $TMP/s1.log ' on 127.0.0.1:' &&
	got=\$($CLIENT --model $G/random-k-Q5_K_M.gguf --local 1 --next 127.0.0.1:$((base + 1)) \
		--prompt '$prompt' --tokens 16 --temperature 0) &&
	test \"\$(echo \$got)\" = \"\$(want Q5_K_M)\"
"
test_done
