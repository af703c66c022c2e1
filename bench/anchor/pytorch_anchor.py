#!/usr/bin/env python3
"""The PyTorch anchor of `bench gpu`: the same two training steps with PyTorch + transformers (sdpa attention) + PEFT.

Shapes (bf16, random weights from the config, 4 x 2048 random tokens a step, AdamW, loss over every token):
  7b-lora  Llama-2-7B shape, LoRA r=8, alpha 16, no dropout, on q_proj and v_proj (PEFT keeps the adapters in fp32)
  1b-full  Llama-3.2-1B shape (tied 128,256 vocabulary), full fine-tuning
Prints "value <shape>_tokens_per_s X" and "value <shape>_bytes X" (torch.cuda.max_memory_reserved over the workload),
which `bench gpu` reads to print the ratios. --tiny runs tiny shapes on any device (a smoke test of this script).
"""
import argparse
import gc
import statistics
import sys
import time


def shapes(tiny):
    if tiny:
        lora = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                    vocab_size=1000, max_position_embeddings=256, rope_theta=10000.0, tie_word_embeddings=False)
        full = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                    vocab_size=2000, max_position_embeddings=256, rope_theta=10000.0, tie_word_embeddings=True)
        return lora, full, 2, 32, 1, 2
    lora = dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32,
                vocab_size=32000, max_position_embeddings=4096, rope_theta=10000.0, tie_word_embeddings=False)
    full = dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8,
                vocab_size=128256, max_position_embeddings=131072, rope_theta=500000.0, tie_word_embeddings=True)
    return lora, full, 4, 2048, 2, 5


def build(torch, fields, device):
    from transformers import AutoModelForCausalLM, LlamaConfig
    config = LlamaConfig(rms_norm_eps=1e-5, **fields)
    with torch.device(device):
        try:
            model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16, attn_implementation="sdpa")
        except TypeError:  # transformers before 4.56 spells it torch_dtype
            model = AutoModelForCausalLM.from_config(config, torch_dtype=torch.bfloat16, attn_implementation="sdpa")
    return model


def train(torch, fields, lora, rows, length, warmup, steps, device):
    torch.manual_seed(0)
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    model = build(torch, fields, device)
    if lora:
        from peft import LoraConfig, get_peft_model
        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "v_proj"],
                                                 task_type="CAUSAL_LM"))
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    ids = torch.randint(3, fields["vocab_size"], (rows, length), device=device)

    def step():
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()

    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    reserved = torch.cuda.max_memory_reserved() if device == "cuda" else 0
    del model, optimizer
    gc.collect()
    return statistics.median(times), reserved


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny shapes, any device")
    args = parser.parse_args()
    try:
        import peft
        import torch
        import transformers
    except ImportError as error:
        sys.exit(f"pytorch_anchor: {error}; needs torch, transformers and peft")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device != "cuda" and not args.tiny:
        sys.exit("pytorch_anchor: CUDA is not available (use --tiny for a smoke run)")
    lora, full, rows, length, warmup, steps = shapes(args.tiny)
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    print(f"# torch {torch.__version__} (CUDA {torch.version.cuda}), transformers {transformers.__version__}, peft {peft.__version__}, {name}")
    for shape, fields, is_lora in (("7b-lora", lora, True), ("1b-full", full, False)):
        seconds, reserved = train(torch, fields, is_lora, rows, length, warmup, steps, device)
        print(f"# {shape}: {seconds * 1e3:.0f} ms/step, {rows * length / seconds:.0f} tokens/s, {reserved / 1e9:.1f} GB reserved", flush=True)
        print(f"value {shape}_tokens_per_s {rows * length / seconds:.1f}")
        print(f"value {shape}_bytes {reserved}", flush=True)


if __name__ == "__main__":
    main()
