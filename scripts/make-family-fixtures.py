#!/usr/bin/env python3
"""Writes the tiny model-family fixtures of tests/PromptLossWeight.Llama.Tests/Fixtures/Families.

For each family (qwen2, qwen3, mistral, gemma2, gemma3_text) it writes, deterministically:
  <family>/config.json        a Hugging Face config of a tiny random model;
  <family>/model.safetensors  its fp32 weights (safetensors written by hand: JSON header + raw little-endian bytes);
  <family>/reference.json     fp32 logits at every position of a fixed sequence and the greedy continuation of a prompt.

The reference is an independent NumPy forward pass (float64) written from transformers' modeling files
(src/transformers/models/{qwen2,qwen3,mistral,gemma2,gemma3}/modeling_*.py): it shares no code with the C# model.
The modeling files were read at transformers main of late 2025 (5.0.0.dev: rope_parameters, masking_utils), and the
semantics checked against them are: Qwen2's q/k/v biases; Qwen3's and Gemma 3's per-head q/k RMSNorm before RoPE; the
sliding-window mask of masking_utils (key j is seen by query i when i - W < j <= i); Gemma's (1 + w) RMSNorm in float32,
the embedding scale sqrt(hidden) cast to the weights' dtype, tanh GELU, sandwich norms, query_pre_attn_scalar, Gemma 2's
attention and final logit soft-capping and even sliding layers, Gemma 3's layer_types, rope_local_base_freq on sliding
layers and linear rope scaling on global ones.

transformers is not installed where the fixtures were first written. On a machine that has it (the GPU machine), run
    python3 scripts/make-family-fixtures.py --check-transformers
which loads each folder with AutoModelForCausalLM (fp32, eager attention) and compares its logits to reference.json
(1e-4) and its greedy generate() tokens to the committed ones, without rewriting anything.

Usage: /usr/bin/python3 scripts/make-family-fixtures.py   (needs only NumPy; writes the same bytes on every run)
"""
import json
import math
import os
import struct
import sys

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "PromptLossWeight.Llama.Tests", "Fixtures", "Families")
TRANSFORMERS_READ = "5.0.0.dev (main, late 2025)"
REFERENCE = ("NumPy reference (float64) written from transformers' modeling files "
             f"(qwen2, qwen3, mistral, gemma2, gemma3; transformers {TRANSFORMERS_READ}), NumPy {np.__version__}")

COMMON = {
    "vocab_size": 48, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 3,
    "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 64,
    "rms_norm_eps": 1e-6, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32",
}

FAMILIES = {
    "qwen2": dict(COMMON, model_type="qwen2", architectures=["Qwen2ForCausalLM"], hidden_act="silu", rope_theta=1000000.0,
                  tie_word_embeddings=True, use_sliding_window=False, sliding_window=4, max_window_layers=3),
    "qwen3": dict(COMMON, model_type="qwen3", architectures=["Qwen3ForCausalLM"], hidden_act="silu", rope_theta=1000000.0,
                  head_dim=12, attention_bias=False, tie_word_embeddings=False, use_sliding_window=False, sliding_window=None),
    "mistral": dict(COMMON, model_type="mistral", architectures=["MistralForCausalLM"], hidden_act="silu", rope_theta=1000000.0,
                    head_dim=8, sliding_window=4, tie_word_embeddings=False),
    "gemma2": dict(COMMON, model_type="gemma2", architectures=["Gemma2ForCausalLM"], hidden_act="gelu_pytorch_tanh",
                   hidden_activation="gelu_pytorch_tanh", rope_theta=10000.0, head_dim=8, query_pre_attn_scalar=12,
                   attn_logit_softcapping=2.0, final_logit_softcapping=3.0, sliding_window=4, tie_word_embeddings=True,
                   attention_bias=False),
    "gemma3_text": dict(COMMON, model_type="gemma3_text", architectures=["Gemma3ForCausalLM"], hidden_activation="gelu_pytorch_tanh",
                        rope_theta=1000000.0, rope_local_base_freq=10000.0, rope_scaling={"rope_type": "linear", "factor": 2.0},
                        head_dim=8, query_pre_attn_scalar=12, attn_logit_softcapping=None, final_logit_softcapping=None,
                        sliding_window=4, sliding_window_pattern=3,
                        layer_types=["sliding_attention", "sliding_attention", "full_attention"],
                        tie_word_embeddings=True, attention_bias=False),
}

# One seed per family, picked (by trying seeds from 24000 on) so that the greedy continuation varies, never produces
# eos (2), and every argmax wins by more than 0.01: a near tie would make the greedy tokens fragile.
SEEDS = {"qwen2": 24002, "qwen3": 24000, "mistral": 24001, "gemma2": 24001, "gemma3_text": 24015}

SEQUENCE = [1, 17, 5, 33, 40, 9, 22, 11, 46, 3, 28, 14]   # 12 positions, three times the sliding window of 4
PROMPT = [1, 30, 7, 19, 44, 12]                            # the greedy continuation runs past the window too
GREEDY_TOKENS = 8


def head_dim(c):
    return c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]


def is_gemma(c):
    return c["model_type"] in ("gemma2", "gemma3_text")


def layer_is_sliding(c, i):
    t = c["model_type"]
    if t == "mistral":
        return c.get("sliding_window") is not None
    if t == "gemma2":
        return i % 2 == 0                                   # even layers slide, odd layers are global
    if t == "gemma3_text":
        return c["layer_types"][i] == "sliding_attention"
    if t in ("qwen2", "qwen3"):                             # only with use_sliding_window, from max_window_layers on
        return bool(c.get("use_sliding_window")) and c.get("sliding_window") is not None and i >= c["max_window_layers"]
    return False


def weights(c, seed):
    """Random weights under Hugging Face names; norms near their identity (1 for w·x̂, 0 for (1 + w)·x̂)."""
    rng = np.random.default_rng(seed)
    d, inner, v, h = c["hidden_size"], c["intermediate_size"], c["vocab_size"], head_dim(c)
    heads, kv = c["num_attention_heads"], c["num_key_value_heads"]
    gemma = is_gemma(c)

    def mat(rows, cols, std=0.3):
        return rng.normal(0.0, std, size=(rows, cols))

    def norm(n):
        return rng.uniform(-0.25, 0.25, size=n) if gemma else rng.uniform(0.75, 1.25, size=n)

    w = {"model.embed_tokens.weight": mat(v, d, 0.5 if not gemma else 0.15)}
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = norm(d)
        w[p + "self_attn.q_proj.weight"] = mat(heads * h, d)
        w[p + "self_attn.k_proj.weight"] = mat(kv * h, d)
        w[p + "self_attn.v_proj.weight"] = mat(kv * h, d)
        w[p + "self_attn.o_proj.weight"] = mat(d, heads * h)
        if c["model_type"] == "qwen2":
            for name, n in (("q_proj", heads * h), ("k_proj", kv * h), ("v_proj", kv * h)):
                w[p + f"self_attn.{name}.bias"] = rng.normal(0.0, 0.1, size=n)
        if c["model_type"] in ("qwen3", "gemma3_text"):
            w[p + "self_attn.q_norm.weight"] = norm(h)
            w[p + "self_attn.k_norm.weight"] = norm(h)
        w[p + "post_attention_layernorm.weight"] = norm(d)
        if gemma:
            w[p + "pre_feedforward_layernorm.weight"] = norm(d)
            w[p + "post_feedforward_layernorm.weight"] = norm(d)
        w[p + "mlp.gate_proj.weight"] = mat(inner, d)
        w[p + "mlp.up_proj.weight"] = mat(inner, d)
        w[p + "mlp.down_proj.weight"] = mat(d, inner)
    w["model.norm.weight"] = norm(d)
    if not c["tie_word_embeddings"]:
        w["lm_head.weight"] = mat(v, d)
    # Stored in fp32: the reference computes from exactly the values the C# model loads.
    return {k: np.asarray(a, dtype=np.float32) for k, a in w.items()}


def write_safetensors(path, tensors):
    header, offset, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def rms_norm(x, weight, eps, gemma):
    normed = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)
    return normed * ((1.0 + weight) if gemma else weight)


def inverse_frequencies(c, sliding):
    h = head_dim(c)
    theta = c["rope_theta"]
    scaling = c.get("rope_scaling")
    if c["model_type"] == "gemma3_text" and sliding:
        theta, scaling = c["rope_local_base_freq"], None   # local layers: their own base, no scaling
    inv = 1.0 / theta ** (np.arange(0, h, 2, dtype=np.float64) / h)
    if scaling and scaling.get("rope_type", scaling.get("type")) == "linear":
        inv = inv / scaling["factor"]
    return inv


def rope(x, positions, inv):
    """x [N, heads, H]: rotate-half RoPE."""
    angles = positions[:, None] * inv[None, :]             # [N, H/2]
    emb = np.concatenate([angles, angles], axis=-1)        # [N, H]
    cos, sin = np.cos(emb)[:, None, :], np.sin(emb)[:, None, :]
    half = x.shape[-1] // 2
    rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos + rotated * sin


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def silu(x):
    return x / (1.0 + np.exp(-x))


def forward(c, w, ids):
    """Logits [N, V] for one sequence at positions 0..N-1 (float64)."""
    w = {k: a.astype(np.float64) for k, a in w.items()}
    gemma, eps = is_gemma(c), c["rms_norm_eps"]
    n, h = len(ids), head_dim(c)
    heads, kv = c["num_attention_heads"], c["num_key_value_heads"]
    positions = np.arange(n, dtype=np.float64)
    x = w["model.embed_tokens.weight"][ids]                # [N, D]
    if gemma:
        x = x * np.float32(math.sqrt(c["hidden_size"]))     # the normaliser is cast to the weights' dtype
    scale = (c["query_pre_attn_scalar"] ** -0.5) if gemma else h ** -0.5
    softcap = c.get("attn_logit_softcapping") if gemma else None
    act = gelu_tanh if gemma else silu
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        sliding = layer_is_sliding(c, i)
        a = rms_norm(x, w[p + "input_layernorm.weight"], eps, gemma)
        q = a @ w[p + "self_attn.q_proj.weight"].T
        k = a @ w[p + "self_attn.k_proj.weight"].T
        v = a @ w[p + "self_attn.v_proj.weight"].T
        if p + "self_attn.q_proj.bias" in w:
            q, k, v = q + w[p + "self_attn.q_proj.bias"], k + w[p + "self_attn.k_proj.bias"], v + w[p + "self_attn.v_proj.bias"]
        q, k, v = q.reshape(n, heads, h), k.reshape(n, kv, h), v.reshape(n, kv, h)
        if p + "self_attn.q_norm.weight" in w:             # per-head norms, before RoPE
            q = rms_norm(q, w[p + "self_attn.q_norm.weight"], eps, gemma)
            k = rms_norm(k, w[p + "self_attn.k_norm.weight"], eps, gemma)
        inv = inverse_frequencies(c, sliding)
        q, k = rope(q, positions, inv), rope(k, positions, inv)
        groups = heads // kv
        k, v = np.repeat(k, groups, axis=1), np.repeat(v, groups, axis=1)   # head j reads kv head j // groups
        scores = np.einsum("ihd,jhd->hij", q, k) * scale   # [heads, N, N]
        if softcap is not None:
            scores = np.tanh(scores / softcap) * softcap
        qi, kj = np.arange(n)[:, None], np.arange(n)[None, :]
        allowed = kj <= qi
        if sliding:
            allowed &= kj > qi - c["sliding_window"]        # a key is seen by the window's last W queries
        scores = np.where(allowed[None], scores, -np.inf)
        scores = scores - scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=-1, keepdims=True)
        y = np.einsum("hij,jhd->ihd", probs, v).reshape(n, heads * h)
        o = y @ w[p + "self_attn.o_proj.weight"].T
        if gemma:
            o = rms_norm(o, w[p + "post_attention_layernorm.weight"], eps, gemma)
            x = x + o
            m = rms_norm(x, w[p + "pre_feedforward_layernorm.weight"], eps, gemma)
        else:
            x = x + o
            m = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps, gemma)
        m = (act(m @ w[p + "mlp.gate_proj.weight"].T) * (m @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
        if gemma:
            m = rms_norm(m, w[p + "post_feedforward_layernorm.weight"], eps, gemma)
        x = x + m
    x = rms_norm(x, w["model.norm.weight"], eps, gemma)
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    logits = x @ head.T
    cap = c.get("final_logit_softcapping")
    if cap is not None:
        logits = np.tanh(logits / cap) * cap
    return logits


def greedy(c, w, prompt, steps):
    ids, margins = list(prompt), []
    for _ in range(steps):
        last = forward(c, w, ids)[-1]
        order = np.argsort(-last)
        margins.append(float(last[order[0]] - last[order[1]]))
        ids.append(int(order[0]))
    return ids[len(prompt):], min(margins)


def check_transformers():
    """Compares every committed fixture with transformers itself (run where torch and transformers are installed)."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM
    failures = 0
    for family in FAMILIES:
        folder = os.path.join(OUT, family)
        with open(os.path.join(folder, "reference.json")) as f:
            reference = json.load(f)
        model = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32, attn_implementation="eager").eval()
        with torch.no_grad():
            logits = model(torch.tensor([reference["input_ids"]])).logits[0].double().numpy()
            out = model.generate(torch.tensor([reference["prompt"]]), max_new_tokens=len(reference["greedy"]), do_sample=False,
                                 eos_token_id=None, pad_token_id=0)
        greedy = out[0, len(reference["prompt"]):].tolist()
        worst = float(np.max(np.abs(logits - np.array(reference["logits"]))))
        ok = worst <= 1e-4 and greedy == reference["greedy"]
        failures += not ok
        tokens = "equal" if greedy == reference["greedy"] else f"{greedy} != {reference['greedy']}"
        print(f"{family}: transformers {transformers.__version__}, max |logit diff| {worst:.2e}, greedy {tokens}"
              f" -> {'ok' if ok else 'MISMATCH'}")
    sys.exit(1 if failures else 0)


def main():
    if "--check-transformers" in sys.argv[1:]:
        check_transformers()
        return
    for family, config in FAMILIES.items():
        folder = os.path.join(OUT, family)
        os.makedirs(folder, exist_ok=True)
        w = weights(config, seed=SEEDS[family])
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
        write_safetensors(os.path.join(folder, "model.safetensors"), w)
        logits = forward(config, w, SEQUENCE).astype(np.float32)
        tokens, margin = greedy(config, w, PROMPT, GREEDY_TOKENS)
        argmax_margin = float(np.min(np.sort(logits, axis=-1)[:, -1] - np.sort(logits, axis=-1)[:, -2]))
        assert margin > 1e-2 and argmax_margin > 1e-2, f"{family}: a near tie would make greedy tokens fragile"
        assert config["eos_token_id"] not in tokens, f"{family}: the greedy continuation must not stop at eos"
        reference = {
            "reference": REFERENCE,
            "model_type": config["model_type"],
            "input_ids": SEQUENCE,
            "logits": [[float(f"{v:.7g}") for v in row] for row in logits.tolist()],
            "prompt": PROMPT,
            "greedy": tokens,
            "greedy_min_margin": round(margin, 6),
            "seed": SEEDS[family],
        }
        with open(os.path.join(folder, "reference.json"), "w") as f:
            json.dump(reference, f, indent=1)
            f.write("\n")
        print(f"{family}: {sum(a.size for a in w.values())} weights, greedy {tokens}, min margin {margin:.4f}")


if __name__ == "__main__":
    main()
