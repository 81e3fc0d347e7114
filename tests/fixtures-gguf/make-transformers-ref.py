#!/usr/bin/env python3
"""Transformers' own GGUF loader as the oracle for the quantised GGUF files.

For each quantised file here (random-k-Q4_K_M, random-k-Q5_K_M and the
random-q-TYPE files), loads it with transformers'
AutoModelForCausalLM.from_pretrained(dir, gguf_file=...) (for architecture
llama, transformers 5.x's legacy GGUF loader, which dequantises every tensor
with gguf-py's dequantize: ggml's layouts) in float32 with eager attention,
and writes what it computes to transformers/NAME/ in the layout of the model
fixtures' reference/ folders (../shared/fixtures/models/README.md), so that
`exo-validate model FILE.gguf --reference transformers/NAME` reads it as it
is; tests/shell/t0833-gguf-transformers.sh holds exo to it.  Each file's
prompt (8 tokens) is the first seeded random one whose 16 greedy tokens have
every top-1 minus top-2 margin at least MARGIN, at least DISTINCT distinct
tokens and no token more than MAX_RUN times in a row.

With --quantize LLAMA_QUANTIZE it first writes the random-q-TYPE.gguf files
again: a random Llama of hidden size 256 (3 layers, vocabulary 128, FFN 64,
so that each file stays small; its head scaled by Q_HEAD_SCALE) converted
by scripts/hf-to-gguf.py and
quantised by llama.cpp's own llama-quantize --pure to each of Q8_0, Q4_0,
Q4_1, Q5_0, Q5_1 and Q6_K.  Run from the repository root after make:

    python3 -m venv build/venv-tf && build/venv-tf/bin/pip install torch transformers accelerate gguf numpy
    build/venv-tf/bin/python tests/fixtures-gguf/make-transformers-ref.py \\
        [--quantize ~/.cache/exo/llama.cpp/build/bin/llama-quantize]
"""
import argparse
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import transformers
import gguf
from importlib.metadata import version
from transformers import AutoModelForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "transformers")
N_NEW = 16
RANDOM_K = ["random-k-Q4_K_M", "random-k-Q5_K_M"]
Q_TYPES = ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q6_K"]
Q_MODEL = ["--dtype", "f32", "--seed", "23", "--hidden", "256", "--layers", "3", "--heads", "2",
           "--kv-heads", "1", "--head-dim", "64", "--intermediate", "64", "--vocab", "128",
           "--max-pos", "256", "--no-rope-scaling", "--untied", "-q"]
PROMPT_LEN, PROMPT_SEED, MARGIN, DISTINCT, MAX_RUN = 8, 2033, 0.02, 6, 3
# make_random_model's head gives logits of std 0.3 here; scaled to about 3,
# as the model fixtures', so that greedy margins stand far above f32 error
Q_HEAD_SCALE = 10.0


def scale_head(model_dir, factor):
    """lm_head.weight of model_dir's (single, F32) safetensors file multiplied by factor, in place."""
    path = os.path.join(model_dir, "model.safetensors")
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    a, b = header["lm_head.weight"]["data_offsets"]
    assert header["lm_head.weight"]["dtype"] == "F32"
    w = np.memmap(path, dtype="<f4", mode="r+", offset=8 + n + a, shape=((b - a) // 4,))
    w *= factor
    w.flush()


def make_random_q(quantize):
    tmp = tempfile.mkdtemp()
    try:
        subprocess.run([os.path.join(ROOT, "build/rel/tools/make_random_model"), "--out", tmp + "/hf"] + Q_MODEL,
                       check=True)
        scale_head(tmp + "/hf", Q_HEAD_SCALE)
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts/hf-to-gguf.py"), tmp + "/hf",
                        tmp + "/f32.gguf"], check=True)
        for t in Q_TYPES:
            out = os.path.join(HERE, "random-q-%s.gguf" % t)
            subprocess.run([quantize, "--pure", tmp + "/f32.gguf", out + ".tmp", t], check=True,
                           stdout=subprocess.DEVNULL)
            os.rename(out + ".tmp", out)
    finally:
        shutil.rmtree(tmp)


def tensor_types(path):
    """{ggml type name: tensor count} of a GGUF file."""
    counts = {}
    for t in gguf.GGUFReader(path).tensors:
        counts[t.tensor_type.name] = counts.get(t.tensor_type.name, 0) + 1
    return dict(sorted(counts.items()))


def load(name, dtype=torch.float32):
    m = AutoModelForCausalLM.from_pretrained(HERE, gguf_file=name + ".gguf", dtype=dtype,
                                             attn_implementation="eager")
    return m.eval()


def dequantiser(model):
    """Which code of transformers unpacked the blocks: its legacy GGUF loader (gguf-py's
    dequantize, then an ordinary float model) or its own torch port (integrations/gguf)."""
    q = getattr(model, "hf_quantizer", None)
    if q is not None and getattr(q, "supported", False):
        return "transformers.integrations.gguf.dequant (transformers' own torch port)"
    return "gguf.dequantize (gguf-py %s) in transformers' legacy GGUF loader" % version("gguf")


def first(x):
    return x[0] if isinstance(x, (tuple, list)) else x


@torch.no_grad()
def run(model, prompt):
    """Prefill logits, every layer's raw output, and greedy decoding with a KV cache."""
    layers = model.model.layers
    caught = []
    hooks = [l.register_forward_hook(lambda mod, i, o: caught.append(first(o)[0].clone())) for l in layers]
    ids = torch.tensor([prompt])
    out = model(input_ids=ids, use_cache=True, output_hidden_states=True)
    layer_outputs = torch.stack(caught)  # [L, T, H]
    prefill = out.logits[0]
    pkv = out.past_key_values
    dec_logits, dec_hidden, gen, margins = [], [], [], []
    logits, hidden = prefill[-1], torch.stack([h[0, -1] for h in out.hidden_states])
    for k in range(N_NEW):
        dec_logits.append(logits)
        dec_hidden.append(hidden)
        top = torch.topk(logits, 2).values
        margins.append(float(top[0] - top[1]))
        gen.append(int(torch.argmax(logits)))
        if k == N_NEW - 1:
            break
        out = model(input_ids=torch.tensor([[gen[-1]]]), past_key_values=pkv, use_cache=True,
                    output_hidden_states=True)
        pkv = out.past_key_values
        logits, hidden = out.logits[0, -1], torch.stack([h[0, -1] for h in out.hidden_states])
    for h in hooks:
        h.remove()
    return {"prefill_logits": prefill, "layer_outputs": layer_outputs, "decode_logits": torch.stack(dec_logits),
            "decode_hidden_states": torch.stack(dec_hidden, dim=1),  # [L+1, N, H]
            "generated": gen, "margins": margins, "hidden_states": out.hidden_states}


def longest_run(ids):
    best = cur = 1
    for a, b in zip(ids, ids[1:]):
        cur = cur + 1 if a == b else 1
        best = max(best, cur)
    return best


def good_run(r):
    g = r["generated"]
    return min(r["margins"]) >= MARGIN and len(set(g)) >= DISTINCT and longest_run(g) <= MAX_RUN


def choose_prompt(model):
    """The first seeded random prompt whose greedy continuation has every top1 - top2 margin at
    least MARGIN (far above float32 error), at least DISTINCT distinct tokens and no token
    more than MAX_RUN times in a row (a random model this small likes to repeat itself)."""
    g = np.random.RandomState(PROMPT_SEED)
    for attempt in range(1000):
        prompt = [int(x) for x in g.randint(0, model.config.vocab_size, PROMPT_LEN)]
        if good_run(run(model, prompt)):
            return prompt, attempt
    sys.exit("no prompt meets the criteria")


def write_reference(name, model, prompt, extra):
    r = run(model, prompt)
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    files = {}

    def put(fname, data):
        with open(os.path.join(d, fname), "wb") as f:
            f.write(data)
        files[fname] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}

    put("prompt.json", json.dumps({"prompt_ids": prompt}).encode())
    put("greedy.json", json.dumps({"generated_ids": r["generated"],
                                   "step_logits_argmax_margin": min(r["margins"]),
                                   "step_margins": r["margins"], "n_new_tokens": N_NEW,
                                   "stops_at_eos": False}, indent=1).encode())
    for key in ("prefill_logits", "layer_outputs", "decode_logits", "decode_hidden_states"):
        put(key + ".f32", r[key].contiguous().numpy().astype("<f4").tobytes())
    # the same file in float64: how far float32 rounding alone moves the logits
    m64 = load(name, torch.float64)
    r64 = run(m64, prompt)
    f64_err = float((r64["prefill_logits"] - r["prefill_logits"].double()).abs().max())
    cfg = model.config
    meta = {
        "model": name + ".gguf",
        "architecture": type(model).__name__,
        "gguf_tensor_types": tensor_types(os.path.join(HERE, name + ".gguf")),
        "config_summary": {k: getattr(cfg, k, None) for k in (
            "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
            "num_key_value_heads", "head_dim", "rms_norm_eps", "rope_theta", "tie_word_embeddings")},
        "reference_compute": {
            "how": "AutoModelForCausalLM.from_pretrained(tests/fixtures-gguf, gguf_file=NAME.gguf, "
                   "dtype=torch.float32, attn_implementation='eager'), CPU",
            "dequantised_by": dequantiser(model),
            "positions": "prompt tokens at positions 0..T-1; decode step k (k>=1) feeds generated_ids[k-1] at "
                         "position T-1+k; layout as ../shared/fixtures/models/README.md's reference/"},
        "prompt_len": len(prompt), "n_generated": N_NEW,
        "tolerances": {"f32_engine": {
            "logits": {"atol": 1e-3, "rtol": 1e-4, "rule": "|engine - ref| <= atol + rtol*|ref| elementwise"},
            "hidden_states": {"atol": 1e-3, "rtol": 1e-4, "rule": "|engine - ref| <= atol + rtol*|ref| elementwise"},
            "greedy_tokens": "must match exactly"}},
        "measured": {
            "transformers_f64_vs_f32_logits_max_abs": f64_err,
            "prefill_logits_abs_max": float(r["prefill_logits"].abs().max()),
            "hidden_states_abs_max": float(max(h.abs().max() for h in r["hidden_states"])),
            "min_step_margin": min(r["margins"])},
        "provenance": {"transformers_version": transformers.__version__, "torch_version": torch.__version__,
                       "gguf_version": version("gguf"), "numpy_version": np.__version__,
                       "python_version": sys.version.split()[0], "generator_script":
                       "tests/fixtures-gguf/make-transformers-ref.py"},
        "reference_file_hashes": files,
    }
    meta.update(extra)
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print("%s: tokens %s, min margin %.3f, f64 vs f32 %.2e" % (name, r["generated"], min(r["margins"]), f64_err))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quantize", help="llama-quantize: write the random-q-TYPE.gguf files again first")
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.quantize:
        make_random_q(a.quantize)
    for name in RANDOM_K + ["random-q-%s" % t for t in Q_TYPES]:
        m = load(name)
        prompt, attempt = choose_prompt(m)
        write_reference(name, m, prompt, {"prompt_selection": {
            "seed": PROMPT_SEED, "attempt": attempt, "min_margin": MARGIN,
            "min_distinct_generated": DISTINCT, "max_same_token_run": MAX_RUN,
            "method": "numpy RandomState(seed).randint(0, vocab, %d) per attempt" % PROMPT_LEN}})


if __name__ == "__main__":
    main()
