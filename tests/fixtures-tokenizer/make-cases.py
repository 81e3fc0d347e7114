#!/usr/bin/env python3
"""Writes tests/fixtures-tokenizer/NAME.jsonl: random texts (many scripts,
odd whitespace, combining marks, emoji, the tokenizer's own added tokens
sprinkled in) with the ids Hugging Face's tokenizers library (the Rust
implementation, `pip install tokenizers`) gives for them, in the cases
format of ../shared/fixtures/tokenizers.  Usage:
    make-cases.py SHARED_TOKENIZERS_DIR [N]
Generated with tokenizers 0.23.3; run again to regenerate."""
import json
import os
import random
import sys

from tokenizers import Tokenizer, __version__

HERE = os.path.dirname(os.path.abspath(__file__))
POOLS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789",
    " \t\n\r\u00a0\u3000\u2009\u0085\u000b\u000c", ".,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`",
    "éèàüößçñøåÆŒ", "абвгдежзийклмнопрстуфхцчшщыэюяАБВ", "αβγδεζηθικλμνξοπρστυφχψω",
    "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年", "あいうえおかきくけこアイウエオ",
    "한국어조선말", "\u0301\u0300\u0308\u0327", "😀🎉👍🏽🚀❤️🦙", "\u200b\u200d\ufeff", "▁",
    "'s 't 're 've 'm 'll 'd", "١٢٣٤٥٦٧٨٩", "ⅠⅡⅢ½¼²³",
]


def text(rng, added):
    parts = []
    for _ in range(rng.randint(1, 12)):
        if rng.random() < 0.1 and added:
            parts.append(rng.choice(added))
        else:
            pool = rng.choice(POOLS)
            parts.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 8))))
        parts.append(rng.choice(["", " ", "  ", "\n", " \n ", "\t", ""]))
    return "".join(parts)


def main():
    shared, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100
    for name in sorted(os.listdir(shared)):
        path = os.path.join(shared, name, "tokenizer.json")
        if not os.path.exists(path):
            continue
        tk = Tokenizer.from_file(path)
        with open(path, encoding="utf-8") as f:
            added = [a["content"] for a in json.load(f)["added_tokens"]][:40]
        rng = random.Random(name)
        with open(os.path.join(HERE, name + ".jsonl"), "w", encoding="utf-8") as out:
            for _ in range(n):
                t = text(rng, added)
                special = rng.random() < 0.3
                ids = tk.encode(t, add_special_tokens=special).ids
                case = {"text": t, "add_special_tokens": special, "ids": ids,
                        "source": "tokenizers %s (Python, Rust core)" % __version__}
                if not special:
                    case["decoded"] = tk.decode(ids, skip_special_tokens=False)
                out.write(json.dumps(case, ensure_ascii=False) + "\n")


main()
