#!/usr/bin/env python3
"""PyTorch + transformers peer for the engine's speed figures: the same model shapes with random bf16
weights, `generate` with a fixed prompt length and a fixed number of new tokens (greedy, EOS ignored),
with the dynamic cache and with the static cache (which transformers compiles with torch.compile).

    python3 bench/hf_peer.py --model mistral-7b --batches 16,64,256 --prompt 128 --new 128 --modes dynamic,static

Per (mode, batch): a warm-up generate (for the static cache it also compiles), then a timed generate of
`new` tokens and a timed generate of 1 token (the prefill). Prints
  PEER <mode> batch=B total_tok_s=<B*new/total> decode_tok_s=<B*(new-1)/(total-prefill)>

Prefill alone (the engine's `CudaBench --prefill`): for each length of --prefill-lengths and batch of
--prefill-batches, one forward over the whole prompts with SDPA attention and logits_to_keep=1 (so the
vocabulary projection covers the last position only, as the engine's): one warm-up, best of two. Prints
  PEER prefill batch=B prompt=N: <B*N/time> tok/s

    python3 bench/hf_peer.py --model mistral-7b --modes "" --prefill-lengths 512,2048,4096,8192,16384 --prefill-batches 1,4

Perplexity (what the engine's `eval` computes): --perplexity DIR (an example checkpoint, e.g. examples/models/tiny-mistral)
scores the reference's Brown documents (--reference, its eval_doc_ids; the first 1,024 tokens of BOS + document + EOS,
one forward each) with transformers in bf16 and in float32 on this GPU. Prints, per document and overall,
  PEER perplexity <model> <dtype> <doc>: tokens=<n> ppl=<p> reference=<HF float32 figure of the reference>

    python3 bench/hf_peer.py --perplexity examples/models/tiny-mistral --modes "" --prefill-lengths ""
"""
import argparse, json, math, os, sys, time

import torch
from transformers import MistralConfig, MistralForCausalLM, MixtralConfig, MixtralForCausalLM


def build(model):
    torch.manual_seed(0)
    if model == "mistral-7b":
        cfg = MistralConfig(vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                            num_attention_heads=32, num_key_value_heads=8, head_dim=128, max_position_embeddings=32768,
                            sliding_window=4096, rope_theta=10000.0, rms_norm_eps=1e-5, tie_word_embeddings=False)
        cls = MistralForCausalLM
    elif model == "mixtral-8x7b":
        cfg = MixtralConfig(vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                            num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=32768,
                            num_local_experts=8, num_experts_per_tok=2, rope_theta=1e6, rms_norm_eps=1e-5)
        cls = MixtralForCausalLM
    else:
        raise SystemExit("unknown model " + model)
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        m = cls(cfg)
    torch.set_default_dtype(torch.float32)
    return m.eval()


def run(m, batch, prompt, new, mode):
    ids = torch.randint(3, 32000, (batch, prompt), device="cuda")
    mask = torch.ones_like(ids)
    kw = dict(do_sample=False, pad_token_id=0, eos_token_id=None)
    if mode == "static":
        kw["cache_implementation"] = "static"

    def gen(n):
        torch.cuda.synchronize()
        t = time.perf_counter()
        out = m.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n, **kw)
        torch.cuda.synchronize()
        assert out.shape[1] == prompt + n, out.shape
        return time.perf_counter() - t

    warm = gen(new)          # compiles for the static cache
    total = min(gen(new) for _ in range(1))
    pre = min(gen(1) for _ in range(2))
    return warm, total, pre


def prefill(m, batch, n):
    """Seconds of one forward over batch prompts of n tokens (logits of the last position only): best of two after a warm-up."""
    ids = torch.randint(3, 32000, (batch, n), device="cuda")
    best = None
    for i in range(3):
        torch.cuda.synchronize()
        t = time.perf_counter()
        out = m(input_ids=ids, use_cache=False, logits_to_keep=1)
        out.logits.float().sum().item()
        torch.cuda.synchronize()
        if i > 0:
            best = min(best or 1e9, time.perf_counter() - t)
        del out
    return best


def perplexity(model_dir, reference, dataset):
    """The reference's Brown documents scored by transformers in bf16 and float32 (SDPA) on the GPU."""
    import lzma
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM
    ref = json.load(open(reference))
    name = os.path.basename(os.path.normpath(model_dir))
    want = {e["id"]: e for e in ref["models"][name]["eval"]}
    docs = {}
    with lzma.open(dataset, "rt", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            if d["id"] in want:
                docs[d["id"]] = d["text"]
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    for dtype in (torch.bfloat16, torch.float32):
        m = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype, attn_implementation="sdpa").to("cuda").eval()
        nll_all, n_all, label = 0.0, 0, str(dtype).replace("torch.", "")
        for doc_id in ref["eval_doc_ids"]:
            ids = (tok.encode(docs[doc_id]).ids + [cfg["eos_token_id"]])[:1024]   # BOS (tokenizer.json adds it) + document + EOS
            x = torch.tensor([ids], device="cuda")
            with torch.inference_mode():
                logits = m(input_ids=x).logits.float()[0, :-1]
            nll = torch.nn.functional.cross_entropy(logits, x[0, 1:], reduction="sum").item()
            nll_all += nll
            n_all += len(ids) - 1
            e = want[doc_id]
            flag = "" if len(ids) == e["tokens"] else f" (reference has {e['tokens']} tokens)"
            print(f"PEER perplexity {name} {label} {doc_id}: tokens={len(ids)} ppl={math.exp(nll / (len(ids) - 1)):.4f} reference={e['ppl']:.4f}{flag}", flush=True)
        refs = sum(e["nll_sum"] for e in want.values()), sum(e["tokens"] - 1 for e in want.values())
        print(f"PEER perplexity {name} {label} all: tokens={n_all} ppl={math.exp(nll_all / n_all):.4f} reference={math.exp(refs[0] / refs[1]):.4f}", flush=True)
        del m
        torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mistral-7b")
    ap.add_argument("--batches", default="16,64,256")
    ap.add_argument("--prompt", type=int, default=128)
    ap.add_argument("--new", type=int, default=128)
    ap.add_argument("--modes", default="dynamic,static")
    ap.add_argument("--json", default="")
    ap.add_argument("--prefill-lengths", default="")
    ap.add_argument("--prefill-batches", default="1,4")
    ap.add_argument("--perplexity", default="", help="an example checkpoint directory: Brown perplexities instead of speed")
    ap.add_argument("--reference", default="model/src/test/resources/reference/hf-reference.json")
    ap.add_argument("--dataset", default="examples/datasets/brown.jsonl.xz")
    a = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}", flush=True)
    import transformers
    print(f"transformers {transformers.__version__}", flush=True)
    if a.perplexity:
        return perplexity(a.perplexity, a.reference, a.dataset)
    m = build(a.model)
    m.config._attn_implementation = "sdpa"
    print(f"attention: {m.config._attn_implementation}", flush=True)
    print(f"{a.model}: {sum(p.numel() for p in m.parameters()) / 1e9:.2f} B parameters, bf16", flush=True)
    results = []
    with torch.inference_mode():
        for mode in [x for x in a.modes.split(",") if x]:
            for b in [int(x) for x in a.batches.split(",") if x]:
                try:
                    warm, total, pre = run(m, b, a.prompt, a.new, mode)
                except Exception as e:  # keep going: report what ran
                    print(f"PEER {mode} batch={b} failed: {type(e).__name__}: {str(e)[:200]}", flush=True)
                    continue
                r = dict(mode=mode, batch=b, prompt=a.prompt, new=a.new, warmup_s=warm, total_s=total, prefill_s=pre,
                         total_tok_s=b * a.new / total, decode_tok_s=b * (a.new - 1) / max(total - pre, 1e-9))
                results.append(r)
                print(f"PEER {a.model} {mode} batch={b}: total_tok_s={r['total_tok_s']:.1f} decode_tok_s={r['decode_tok_s']:.1f} "
                      f"(generate {total:.2f} s, prefill {pre * 1e3:.0f} ms, warm-up {warm:.1f} s)", flush=True)
                torch._dynamo.reset() if mode == "static" else None
        for n in [int(x) for x in a.prefill_lengths.split(",") if x]:
            for b in [int(x) for x in a.prefill_batches.split(",") if x]:
                try:
                    secs = prefill(m, b, n)
                except Exception as e:
                    print(f"PEER prefill batch={b} prompt={n} failed: {type(e).__name__}: {str(e)[:200]}", flush=True)
                    torch.cuda.empty_cache()
                    continue
                results.append(dict(mode="prefill", batch=b, prompt=n, prefill_s=secs, prefill_tok_s=b * n / secs))
                print(f"PEER {a.model} prefill batch={b} prompt={n}: {b * n / secs:.0f} tok/s ({secs * 1e3:.0f} ms)", flush=True)
                torch.cuda.empty_cache()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
