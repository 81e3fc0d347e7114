#!/usr/bin/env python3
"""hf-to-gguf.py: a Llama-, Mixtral-, Qwen2-, Qwen3- or Qwen3-MoE-shaped Hugging Face checkpoint
(config.json and *.safetensors, F32/F16/BF16) written as a GGUF file for
llama.cpp, so that scripts/bench-vs-llamacpp times both engines on the same
weights, and tests/data/gguf holds the model fixtures as GGUF files.

Only what llama.cpp needs to load and run the model is written: the
hyper-parameters, the tensors (for llama, Q and K permuted to GGML's rotary
layout and Llama 3 RoPE scaling as rope_freqs.weight, as llama.cpp's
convert_hf_to_gguf.py does) and a placeholder vocabulary of the model's size
(random-weight models have no tokenizer).  A layer's experts are stacked
into one [experts, rows, cols] tensor per projection (blk.N.ffn_gate_exps,
ffn_up_exps, ffn_down_exps), as convert_hf_to_gguf.py writes them.  Needs the `gguf` and `numpy`
packages (PyPI).

    hf-to-gguf.py MODEL_DIR OUT.gguf
"""
import json
import os
import struct
import sys

import numpy as np
import gguf


def tensors(model_dir):
    """(name, dtype, shape, bytes) for every tensor of every safetensors file."""
    for f in sorted(os.listdir(model_dir)):
        if not f.endswith(".safetensors"):
            continue
        path = os.path.join(model_dir, f)
        with open(path, "rb") as fh:
            n = struct.unpack("<Q", fh.read(8))[0]
            header = json.loads(fh.read(n))
        data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
        for name, t in header.items():
            if name == "__metadata__":
                continue
            a, b = t["data_offsets"]
            yield name, t["dtype"], t["shape"], data[a:b]


def permute(w, heads):
    """HF's rotate-half rows to GGML's interleaved pairs (convert_hf_to_gguf)."""
    rows = w.shape[0]
    return w.reshape(heads, 2, rows // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


NAMES = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}
LAYER = {
    "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down", "self_attn.q_norm": "attn_q_norm",
    "self_attn.k_norm": "attn_k_norm", "mlp.gate": "ffn_gate_inp",
    "block_sparse_moe.gate": "ffn_gate_inp",
}
EXPERT_PART = {"gate_proj": "gate", "up_proj": "up", "down_proj": "down",
               "w1": "gate", "w3": "up", "w2": "down"}


def expert_of(name):
    """(layer, expert, part) of model.layers.N.PREFIX.experts.X.PART.weight, else None."""
    parts = name.split(".")
    if len(parts) == 8 and parts[3] in ("mlp", "block_sparse_moe") and parts[4] == "experts":
        return int(parts[2]), int(parts[5]), EXPERT_PART[parts[6]]
    return None


def gguf_name(name):
    if name in NAMES:
        return NAMES[name]
    parts = name.split(".")  # model.layers.N.<module>.weight|bias
    return "blk.%s.%s.%s" % (parts[2], LAYER[".".join(parts[3:-1])], parts[-1])


def llama3_rope_factors(cfg, head_dim):
    """convert_hf_to_gguf.py's LlamaModel rope_freqs for rope_type llama3."""
    rs = cfg.get("rope_scaling") or {}
    if rs.get("rope_type", rs.get("type")) != "llama3":
        return None
    base = cfg.get("rope_theta", 10000.0)
    freqs = 1.0 / (base ** (np.arange(0, head_dim, 2, dtype=np.float32) / head_dim))
    factor, low, high = rs.get("factor", 8.0), rs.get("low_freq_factor", 1.0), rs.get("high_freq_factor", 4.0)
    old = rs.get("original_max_position_embeddings", 8192)
    out = []
    for f in freqs:
        wavelen = 2 * np.pi / f
        if wavelen < old / high:
            out.append(1.0)
        elif wavelen > old / low:
            out.append(factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: hf-to-gguf.py MODEL_DIR OUT.gguf")
    model_dir, out = sys.argv[1], sys.argv[2]
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    heads, kv_heads = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    head_dim = cfg.get("head_dim", cfg["hidden_size"] // heads)
    arch = {"qwen2": "qwen2", "qwen3": "qwen3", "qwen3_moe": "qwen3moe"}.get(cfg.get("model_type"), "llama")
    rope_theta = cfg.get("rope_theta", (cfg.get("rope_parameters") or {}).get("rope_theta", 10000.0))
    experts = cfg.get("num_experts", cfg.get("num_local_experts", 0))
    w = gguf.GGUFWriter(out + ".tmp", arch)
    w.add_context_length(cfg.get("max_position_embeddings", 4096))
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_rope_dimension_count(head_dim)
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_layer_norm_rms_eps(cfg.get("rms_norm_eps", 1e-5))
    w.add_rope_freq_base(rope_theta)
    if experts:
        w.add_expert_count(experts)
        w.add_expert_used_count(cfg["num_experts_per_tok"])
        if "moe_intermediate_size" in cfg:
            w.add_expert_feed_forward_length(cfg["moe_intermediate_size"])
    w.add_vocab_size(cfg["vocab_size"])
    w.add_file_type(gguf.LlamaFileType.MOSTLY_BF16)
    w.add_tokenizer_model("llama")
    w.add_token_list(["<t%d>" % i for i in range(cfg["vocab_size"])])
    w.add_token_scores([0.0] * cfg["vocab_size"])
    w.add_token_types([gguf.TokenType.NORMAL] * cfg["vocab_size"])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    stacks = {}  # (layer, part) -> {expert: array}
    for name, dtype, shape, raw in tensors(model_dir):
        np_dtype = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16}[dtype]
        a = raw.view(np_dtype).reshape(shape)
        x = expert_of(name)
        if x:
            stacks.setdefault((x[0], x[2], dtype), {})[x[1]] = a
            continue
        if arch == "llama" and name.endswith("q_proj.weight"):
            a = permute(a, heads)
        elif arch == "llama" and name.endswith("k_proj.weight"):
            a = permute(a, kv_heads)
        if (name.endswith("norm.weight") or name.endswith(".bias")) and dtype != "F32":
            a = (a.astype(np.uint32) << 16).view(np.float32) if dtype == "BF16" else a.astype(np.float32)
            w.add_tensor(gguf_name(name), np.ascontiguousarray(a))
        elif dtype == "BF16":
            w.add_tensor(gguf_name(name), np.ascontiguousarray(a), raw_dtype=gguf.GGMLQuantizationType.BF16)
        else:
            w.add_tensor(gguf_name(name), np.ascontiguousarray(a))
    for (layer, part, dtype), by_expert in sorted(stacks.items()):
        a = np.stack([by_expert[x] for x in range(experts)])
        raw_dtype = gguf.GGMLQuantizationType.BF16 if dtype == "BF16" else None
        w.add_tensor("blk.%d.ffn_%s_exps.weight" % (layer, part), np.ascontiguousarray(a), raw_dtype=raw_dtype)
    factors = llama3_rope_factors(cfg, head_dim) if arch == "llama" else None
    if factors is not None:
        w.add_tensor("rope_freqs.weight", factors)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.rename(out + ".tmp", out)


if __name__ == "__main__":
    main()
