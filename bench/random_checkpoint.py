#!/usr/bin/env python3
"""Writes a random bf16 checkpoint of a real model shape in Hugging Face layout (config.json, sharded
safetensors with their index, tokenizer files), so the whole project (the CLI, the Flink pipeline) can be
timed at 7B / 8x7B size on a machine with no downloaded weights. The numbers are noise; only the shapes
are real. The tokenizer is a small model's, padded with placeholder tokens up to the vocabulary size.

    python3 bench/random_checkpoint.py --shape mistral-7b --tokenizer-from examples/models/tiny-mistral --out /tmp/m7b
"""
import argparse, json, os, shutil
import torch
from safetensors.torch import save_file

SHAPES = {
    "mistral-7b": dict(model_type="mistral", vocab_size=32000, hidden_size=4096, intermediate_size=14336,
                       num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8, head_dim=128,
                       sliding_window=4096, max_position_embeddings=32768, rope_theta=10000.0),
    "mixtral-8x7b": dict(model_type="mixtral", vocab_size=32000, hidden_size=4096, intermediate_size=14336,
                         num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8, head_dim=128,
                         sliding_window=None, max_position_embeddings=32768, rope_theta=1e6,
                         num_local_experts=8, num_experts_per_tok=2),
}


def tensors(c):
    d, h, q, kv = c["hidden_size"], c["intermediate_size"], c["num_attention_heads"] * c["head_dim"], c["num_key_value_heads"] * c["head_dim"]
    yield "model.embed_tokens.weight", (c["vocab_size"], d)
    yield "lm_head.weight", (c["vocab_size"], d)
    yield "model.norm.weight", (d,)
    for l in range(c["num_hidden_layers"]):
        p = f"model.layers.{l}."
        yield p + "input_layernorm.weight", (d,)
        yield p + "post_attention_layernorm.weight", (d,)
        yield p + "self_attn.q_proj.weight", (q, d)
        yield p + "self_attn.k_proj.weight", (kv, d)
        yield p + "self_attn.v_proj.weight", (kv, d)
        yield p + "self_attn.o_proj.weight", (d, q)
        if c["model_type"] == "mixtral":
            m = p + "block_sparse_moe."
            yield m + "gate.weight", (c["num_local_experts"], d)
            for e in range(c["num_local_experts"]):
                yield m + f"experts.{e}.w1.weight", (h, d)
                yield m + f"experts.{e}.w2.weight", (d, h)
                yield m + f"experts.{e}.w3.weight", (h, d)
        else:
            yield p + "mlp.gate_proj.weight", (h, d)
            yield p + "mlp.up_proj.weight", (h, d)
            yield p + "mlp.down_proj.weight", (d, h)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", default="mistral-7b", choices=SHAPES)
    ap.add_argument("--layers", type=int, default=0, help="fewer layers than the real model (0: all)")
    ap.add_argument("--tokenizer-from", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--shard-gb", type=float, default=4.0)
    a = ap.parse_args()
    c = dict(SHAPES[a.shape], rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2, tie_word_embeddings=False,
             torch_dtype="bfloat16", hidden_act="silu")
    if a.layers:
        c["num_hidden_layers"] = a.layers
    os.makedirs(a.out, exist_ok=True)
    json.dump(c, open(os.path.join(a.out, "config.json"), "w"), indent=1)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    g = torch.Generator(device=dev).manual_seed(42)
    shard, size, index, n = {}, 0, {}, 0

    def flush():
        nonlocal shard, size, n
        if shard:
            n += 1
            name = f"model-{n:05d}.safetensors"
            save_file(shard, os.path.join(a.out, name), metadata={"format": "pt"})
            index.update({k: name for k in shard})
            shard, size = {}, 0

    for name, shape in tensors(c):
        if len(shape) == 1:
            t = torch.ones(shape, dtype=torch.bfloat16)
        else:
            bound = shape[1] ** -0.5
            t = (torch.rand(shape, generator=g, device=dev, dtype=torch.float32) * (2 * bound) - bound).to(torch.bfloat16).cpu()
        shard[name] = t
        size += t.numel() * 2
        if size >= a.shard_gb * 1e9:
            flush()
    flush()
    total = sum(os.path.getsize(os.path.join(a.out, f)) for f in set(index.values()))
    json.dump({"metadata": {"total_size": total}, "weight_map": index},
              open(os.path.join(a.out, "model.safetensors.index.json"), "w"), indent=1)
    tok = json.load(open(os.path.join(a.tokenizer_from, "tokenizer.json")))
    vocab = tok["model"]["vocab"]
    for i in range(len(vocab), c["vocab_size"]):
        vocab[f"<pad_{i}>"] = i
    json.dump(tok, open(os.path.join(a.out, "tokenizer.json"), "w"))
    for f in ("tokenizer_config.json", "generation_config.json"):
        if os.path.exists(os.path.join(a.tokenizer_from, f)):
            shutil.copy(os.path.join(a.tokenizer_from, f), a.out)
    print(f"{a.shape}: {total / 1e9:.1f} GB in {n} shards at {a.out}")


if __name__ == "__main__":
    main()
