#!/usr/bin/env python3
"""Writes tests/fixtures-gguf/tok-llamacpp/NAME.jsonl: for the texts of the
tokenizer fixtures' cases (../shared/fixtures/tokenizers/NAME/cases.jsonl),
the ids llama.cpp (llama-cpp-python of PyPI, vocab only) gives with the
GGUF keys that tests/tools/tok2gguf writes for that tokenizer, special
tokens parsed, BOS as the file says; t0831 holds exo's ids to them.
Run from the repository root after make:
    /tmp/v/bin/python tests/fixtures-gguf/make-tok-llamacpp.py ../shared/fixtures/tokenizers"""
import json
import os
import subprocess
import sys
import tempfile

import llama_cpp
from llama_cpp import Llama

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TOKENIZERS = {"gpt2": "gpt-2", "llama3": "llama-bpe", "qwen2.5": "qwen2", "mistral": "-"}


def main():
    shared = sys.argv[1]
    os.makedirs(os.path.join(HERE, "tok-llamacpp"), exist_ok=True)
    for name, pre in TOKENIZERS.items():
        gguf = os.path.join(tempfile.mkdtemp(), name + ".gguf")
        subprocess.run([os.path.join(ROOT, "build/rel/tools/tok2gguf"),
                        os.path.join(shared, name, "tokenizer.json"), pre, gguf], check=True)
        llm = Llama(model_path=gguf, vocab_only=True, verbose=False)
        with open(os.path.join(HERE, "tok-llamacpp", name + ".jsonl"), "w") as out:
            for line in open(os.path.join(shared, name, "cases.jsonl")):
                c = json.loads(line)
                if c["add_special_tokens"]:
                    continue
                ids = llm.tokenize(c["text"].encode(), add_bos=False, special=True)
                out.write(json.dumps({"text": c["text"], "add_special_tokens": False, "ids": ids,
                                      "source": "llama-cpp-python %s" % llama_cpp.__version__},
                                     ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
