#!/usr/bin/env python3
"""Writes tests/fixtures-gguf/blocks.json: random blocks of each GGUF block
type and the values the `gguf` package of PyPI (llama.cpp's gguf-py, whose
dequantisation follows ggml-quants.c) dequantises them to, so that
tests/unit/test_gguf.c holds exo's to_f32 of every type to ggml's layout.
The f16 scales are set to modest finite values; every other byte is random.
    python3 -m venv /tmp/v && /tmp/v/bin/pip install gguf numpy
    /tmp/v/bin/python tests/fixtures-gguf/make-blocks.py"""
import json
import os

import numpy as np
from gguf import GGMLQuantizationType as T, GGML_QUANT_SIZES, quants

# where the f16 scales of each block type lie: (offset, count)
SCALES = {"Q4_0": (0, 1), "Q4_1": (0, 2), "Q5_0": (0, 1), "Q5_1": (0, 2), "Q8_0": (0, 1),
          "Q4_K": (0, 2), "Q5_K": (0, 2), "Q6_K": (208, 1)}
rng = np.random.default_rng(19)
out = {}
for name, (off, count) in SCALES.items():
    qtype = T[name]
    block, size = GGML_QUANT_SIZES[qtype]
    nblocks = 1024 // block
    raw = rng.integers(0, 256, size=(nblocks, size), dtype=np.uint8)
    scales = rng.uniform(-0.05, 0.05, size=(nblocks, count)).astype(np.float16)
    raw[:, off:off + 2 * count] = scales.view(np.uint8).reshape(nblocks, 2 * count)
    values = quants.dequantize(raw.reshape(-1), qtype).astype(np.float32).reshape(-1)
    out[name] = {"blocks": raw.tobytes().hex(), "values": [float(v) for v in values]}
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "blocks.json"), "w") as f:
    json.dump({"source": "gguf (PyPI) quants.dequantize", "types": out}, f)
