#!/usr/bin/env python3
"""Writes tests/fixtures-gguf/random-k-Q4_K_M.gguf and random-k-Q5_K_M.gguf
(a random Llama of hidden size 256, so that every K type applies, quantised
by llama.cpp's own quantiser: Q4_K and Q6_K, Q5_K and Q6_K) and
random-k-llamacpp.json: llama.cpp's greedy continuation of a prompt on each
(llama-cpp-python of PyPI, CPU, f32 K/V), which t0832-gguf-kquants.sh holds
exo to.  Run from the repository root after make:
    python3 -m venv /tmp/v && /tmp/v/bin/pip install gguf numpy llama-cpp-python
    /tmp/v/bin/python tests/fixtures-gguf/make-random-k.py"""
import ctypes
import json
import os
import subprocess
import sys
import tempfile

import llama_cpp
from llama_cpp import Llama

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PROMPT = [7, 301, 44, 96, 480, 12, 5, 250, 333, 18, 71, 142]
FTYPES = {"Q4_K_M": 15, "Q5_K_M": 17}


def main():
    tmp = tempfile.mkdtemp()
    subprocess.run([os.path.join(ROOT, "build/rel/tools/make_random_model"), "--out", tmp + "/hf", "--dtype", "f32",
                    "--seed", "19", "--hidden", "256", "--layers", "2", "--heads", "4", "--kv-heads", "2",
                    "--head-dim", "64", "--intermediate", "512", "--vocab", "512", "--max-pos", "256",
                    "--no-rope-scaling", "--untied", "-q"], check=True)
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts/hf-to-gguf.py"), tmp + "/hf", tmp + "/f32.gguf"],
                   check=True)
    out = {"source": "llama-cpp-python %s (llama.cpp, CPU, f32 K/V)" % llama_cpp.__version__,
           "prompt": PROMPT, "greedy": {}}
    for name, ftype in FTYPES.items():
        path = os.path.join(HERE, "random-k-%s.gguf" % name)
        p = llama_cpp.llama_model_quantize_default_params()
        p.ftype = ftype
        assert llama_cpp.llama_model_quantize((tmp + "/f32.gguf").encode(), path.encode(), ctypes.byref(p)) == 0
        llm = Llama(model_path=path, n_ctx=256, n_threads=2, verbose=False, type_k=0, type_v=0, flash_attn=False)
        got = []
        for tok in llm.generate(PROMPT, temp=0.0, top_k=1, top_p=1.0, repeat_penalty=1.0):
            got.append(tok)
            if len(got) == 16:
                break
        out["greedy"][name] = got
    json.dump(out, open(os.path.join(HERE, "random-k-llamacpp.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
