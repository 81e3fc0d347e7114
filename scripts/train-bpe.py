#!/usr/bin/env python3
"""train-bpe.py: train a byte-level BPE tokenizer on text files and write it
in Hugging Face's layout, for the demo model (python3 standard library only).

    train-bpe.py --out DIR [--vocab N] FILE...

Writes DIR/tokenizer.json (model BPE over GPT-2's byte-to-unicode alphabet,
merges as "a b" strings; a Qwen2-style Split regex then a ByteLevel
pre-tokenizer; ByteLevel decoder), DIR/tokenizer_config.json (bos/eos/pad
tokens and a ChatML chat_template) and DIR/generation_config.json (eos ids),
with the special tokens <|endoftext|>, <|im_start|> and <|im_end|> after the
learned vocabulary.  Prints the total vocabulary size on stdout.

Training is deterministic: the text is split with (a close approximation in
Python's re of) the runtime regex, words are counted, and the most frequent
adjacent pair is merged until the vocabulary has N entries; ties go to the
pair that sorts first.  Files are written to a temporary name and renamed.
"""
import argparse
import collections
import json
import os
import re
import sys

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# The split regex of Qwen2 / Llama-3-style tokenizers, as written into
# tokenizer.json (run by the tokenizer with PCRE2), and its translation for
# Python's re, which has no \p{..}: letters [^\W\d_], digits \d.
RUNTIME_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
                 r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_L = r"[^\W\d_]"
_NOT_LN_NL = r"(?:(?![\r\n])[\W_])"
_NOT_LN_S = r"(?:(?!\s)[\W_])"
TRAIN_REGEX = re.compile(
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|" + _NOT_LN_NL + r"?" + _L + r"+|\d| ?" + _NOT_LN_S +
    r"+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}")


def bytes_to_unicode():
    """GPT-2's reversible map from bytes to printable characters."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) +
          list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def count_words(paths):
    words = collections.Counter()
    for p in paths:
        with open(p, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for w in TRAIN_REGEX.findall(text):
            words[w.encode("utf-8")] += 1
    return words


def train(words, n_merges):
    """Merges as pairs of byte strings, most frequent pair first."""
    seqs = [[bytes([b]) for b in w] for w in words]
    freq = list(words.values())
    pairs = collections.Counter()
    where = collections.defaultdict(set)
    for i, s in enumerate(seqs):
        for a, b in zip(s, s[1:]):
            pairs[(a, b)] += freq[i]
            where[(a, b)].add(i)
    merges = []
    while len(merges) < n_merges and pairs:
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        if pairs[best] < 2:
            break
        merges.append(best)
        joined = best[0] + best[1]
        for i in list(where[best]):
            s, f = seqs[i], freq[i]
            for a, b in zip(s, s[1:]):
                pairs[(a, b)] -= f
                if pairs[(a, b)] <= 0:
                    del pairs[(a, b)]
            out, k = [], 0
            while k < len(s):
                if k + 1 < len(s) and s[k] == best[0] and s[k + 1] == best[1]:
                    out.append(joined)
                    k += 2
                else:
                    out.append(s[k])
                    k += 1
            seqs[i] = out
            for a, b in zip(out, out[1:]):
                pairs[(a, b)] += f
                where[(a, b)].add(i)
        del where[best]
    return merges


def write_atomic(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description="train a byte-level BPE tokenizer")
    ap.add_argument("--out", required=True, help="directory to write the tokenizer files into")
    ap.add_argument("--vocab", type=int, default=3072, help="total vocabulary size, specials included")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    if a.vocab < 256 + len(SPECIALS) + 1:
        sys.exit("train-bpe.py: --vocab must be at least %d" % (256 + len(SPECIALS) + 1))
    b2u = bytes_to_unicode()

    def piece(bs):
        return "".join(b2u[b] for b in bs)

    vocab = {piece(bytes([b])): b for b in range(256)}
    merges = []
    for a_, b_ in train(count_words(a.files), a.vocab - 256 - len(SPECIALS)):
        merges.append(piece(a_) + " " + piece(b_))
        vocab.setdefault(piece(a_ + b_), len(vocab))
    added = [{"id": len(vocab) + i, "content": t, "single_word": False, "lstrip": False,
              "rstrip": False, "normalized": False, "special": True}
             for i, t in enumerate(SPECIALS)]
    ids = {t["content"]: t["id"] for t in added}
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                  "use_regex": False}
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": RUNTIME_REGEX}, "behavior": "Isolated",
             "invert": False}, byte_level]},
        "post_processor": byte_level, "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": "", "end_of_word_suffix": "", "fuse_unk": False,
                  "byte_fallback": False, "vocab": vocab, "merges": merges},
    }
    config = {
        "add_bos_token": False, "add_prefix_space": False,
        "added_tokens_decoder": {str(t["id"]): {k: v for k, v in t.items() if k != "id"}
                                 for t in added},
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "bos_token": "<|endoftext|>", "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
        "unk_token": None, "clean_up_tokenization_spaces": False, "model_max_length": 2048,
        "split_special_tokens": False, "tokenizer_class": "PreTrainedTokenizerFast",
        "chat_template": CHAT_TEMPLATE,
    }
    generation = {"bos_token_id": ids["<|endoftext|>"],
                  "eos_token_id": [ids["<|im_end|>"], ids["<|endoftext|>"]]}
    os.makedirs(a.out, exist_ok=True)
    write_atomic(os.path.join(a.out, "tokenizer.json"), tokenizer)
    write_atomic(os.path.join(a.out, "tokenizer_config.json"), config)
    write_atomic(os.path.join(a.out, "generation_config.json"), generation)
    print(len(vocab) + len(added))


if __name__ == "__main__":
    main()
