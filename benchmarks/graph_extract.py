"""Extraction and summary speed: neuralscope's graph() readers next to torchview's graph
build, and summary() next to torchinfo, on ResNet-50 and ViT-B/16 (untrained, batch 1, CPU).

Run: .venv/bin/python benchmarks/graph_extract.py   (a minute or two on 2 cores)
Prints seconds (best of ``REPEATS``) and ratios; ratio < 1 means neuralscope is faster. The
summary row runs both sides alternately and prints CPU time too (the fairer number on a shared
machine).
"""
from __future__ import annotations

import os
import time
import warnings

import torch

REPEATS = 2


def best(fn, repeats=REPEATS):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def paired(ours, peer, repeats=REPEATS + 1):
    """Best wall and CPU (process) time of each, run alternately after a warm-up of each:
    load from other processes hits both sides alike, and CPU time does not count waiting."""
    ours(), peer()
    res = {"ours": [], "peer": []}
    for _ in range(repeats):
        for side, fn in (("ours", ours), ("peer", peer)):
            w, c = time.perf_counter(), time.process_time()
            fn()
            res[side].append((time.perf_counter() - w, time.process_time() - c))
    return {k: (min(w for w, _ in v), min(c for _, c in v)) for k, v in res.items()}


def main() -> None:
    import torchinfo
    import torchvision
    from torchview import draw_graph

    from neuralscope.graph.api import graph
    from neuralscope.graph.summary import summary

    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    models = {"resnet50": torchvision.models.resnet50(), "vit_b_16": torchvision.models.vit_b_16()}
    x = torch.randn(1, 3, 224, 224)
    print(f"{'model':10} {'task':34} {'neuralscope s':>14} {'peer s':>9} {'ratio':>7}")
    for name, model in models.items():
        model.eval()
        graph(model, x)  # warm-up (first fx trace / export imports)
        tv = best(lambda: draw_graph(model, input_data=x, depth=99, expand_nested=True, device="cpu"))
        for method in ("fx", "export", "hooks"):
            ns = best(lambda: graph(model, x, method=method))
            print(f"{name:10} {'graph(' + method + ') vs torchview build':34} {ns:14.3f} {tv:9.3f} {ns / tv:7.2f}")
        t = paired(lambda: summary(model, x), lambda: torchinfo.summary(model, input_data=x, verbose=0, depth=10))
        (ow, oc), (pw, pc) = t["ours"], t["peer"]
        print(f"{name:10} {'summary() vs torchinfo.summary':34} {ow:14.3f} {pw:9.3f} {ow / pw:7.2f}"
              f"   CPU {oc:.3f} / {pc:.3f} s = {oc / pc:.2f} (load average {os.getloadavg()[0]:.1f})")
        with torch.no_grad():
            fw = best(lambda: model(x))
        print(f"{name:10} {'(one plain forward pass)':34} {fw:14.3f}")


if __name__ == "__main__":
    main()
