"""Training tracking: neuralscope's run store beside TensorBoard, in one process.

Prints, side by side:
  1. scalars per second logged by ``run.log`` and by ``SummaryWriter.add_scalar`` (the
     logging calls alone, and including the final flush to disk);
  2. time to load 100,000 points of one series: our reader vs TensorBoard's EventAccumulator;
  3. time for a 1,000-bucket downsampled query of a 1,000,000-point series (min/max, LTTB);
  4. training-step slowdown of ``watch(every=100)`` (plus ``run.log`` every step) on the
     digits CNN, timing plain and watched steps alternately.

Targets (issue 6): >= 10x the scalars/s of SummaryWriter, >= 10x faster loading than
EventAccumulator, a 1,000-bucket query of 1M points under 50 ms, watch overhead under 5%.

Run: ``.venv/bin/python benchmarks/tracking.py`` (a few minutes on 2 cores). Torch uses one
thread so the training-step timings are stable on a shared machine.
"""
from __future__ import annotations

import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch._dynamo  # (loads triton now: loaded after TensorFlow, whose peer writer part 1 uses, it segfaults)
from torch import nn

warnings.filterwarnings("ignore")
torch.set_num_threads(1)


def _line(what, ours, theirs, unit, better="higher"):
    ratio = ours / theirs if better == "higher" else theirs / ours
    print(f"  {what:<44} neuralscope {ours:>12,.1f} {unit:<9} peer {theirs:>12,.1f} {unit:<9} ratio {ratio:6.1f}x")


def bench_logging(tmp: Path, n: int = 100_000, blocks: int = 10) -> None:
    from torch.utils.tensorboard import SummaryWriter

    from neuralscope.track import Run

    print(f"1. logging {n:,} scalars (one value per call), interleaved in {blocks} blocks")
    run = Run(tmp / "log")
    writer = SummaryWriter(str(tmp / "tb-log"))
    ours = theirs = 0.0
    per = n // blocks
    for b in range(blocks):  # alternate so that load on a shared machine hits both alike
        t = time.perf_counter()
        for i in range(b * per, (b + 1) * per):
            run.log({"loss": 0.5}, step=i)
        ours += time.perf_counter() - t
        t = time.perf_counter()
        for i in range(b * per, (b + 1) * per):
            writer.add_scalar("loss", 0.5, i)
        theirs += time.perf_counter() - t
    t = time.perf_counter()
    run.close()
    ours_flush = time.perf_counter() - t
    t = time.perf_counter()
    writer.close()
    theirs_flush = time.perf_counter() - t
    _line("interleaved: calls only (scalars/s)", n / ours, n / theirs, "/s")
    _line("interleaved: incl. final flush (scalars/s)", n / (ours + ours_flush), n / (theirs + theirs_flush), "/s")
    # one after the other, first call to data on disk: each background writer's work is
    # charged to its own side (interleaving can charge one side for the other's thread)
    pairs = []
    for rep in range(3):
        t = time.perf_counter()
        r = Run(tmp / f"log-seq{rep}")
        for i in range(n):
            r.log({"loss": 0.5}, step=i)
        r.close()
        a = time.perf_counter() - t
        t = time.perf_counter()
        w = SummaryWriter(str(tmp / f"tb-seq{rep}"))
        for i in range(n):
            w.add_scalar("loss", 0.5, i)
        w.close()
        pairs.append((n / a, n / (time.perf_counter() - t)))
    ours_rate, theirs_rate = sorted(pairs, key=lambda p: p[0] / p[1])[1]  # the median pair
    _line("sequential: open, log, close (median of 3)", ours_rate, theirs_rate, "/s")
    print("    pairs: " + ", ".join(f"{a:,.0f} vs {b:,.0f} ({a / b:.1f}x)" for a, b in pairs))


def bench_loading(tmp: Path, n: int = 100_000) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    from neuralscope.track import Run, open_run

    print(f"2. loading one series of {n:,} points")
    with Run(tmp / "load") as run:
        for i in range(n):
            run.log({"loss": 1.0 / (i + 1)}, step=i)
    writer = SummaryWriter(str(tmp / "tb-load"))
    for i in range(n):
        writer.add_scalar("loss", 1.0 / (i + 1), i)
    writer.close()
    ours, theirs = [], []
    for _ in range(3):
        t = time.perf_counter()
        r = open_run(tmp / "load")
        s = r.scalars("loss")
        r.close()
        ours.append(time.perf_counter() - t)
        assert len(s) == n
    for _ in range(2):
        t = time.perf_counter()
        ea = EventAccumulator(str(tmp / "tb-load"), size_guidance={"scalars": 0})
        ea.Reload()
        ev = ea.Scalars("loss")
        theirs.append(time.perf_counter() - t)
        assert len(ev) == n
    _line("open + read all points (ms)", 1e3 * min(ours), 1e3 * min(theirs), "ms", better="lower")


def bench_query(tmp: Path, n: int = 1_000_000) -> None:
    from neuralscope.track import Run, open_run

    print(f"3. 1,000-bucket query of a {n:,}-point series (no peer: TensorBoard samples at write time)")
    rng = np.random.default_rng(0)
    y = np.cumsum(rng.standard_normal(n))
    with Run(tmp / "big") as run:
        for i in range(n):
            run.log({"x": float(y[i])}, step=i)
    for method in ("minmax", "lttb"):
        cold, warm = [], []
        for _ in range(5):
            t = time.perf_counter()
            r = open_run(tmp / "big")
            s = r.scalars("x", buckets=1000, method=method)
            cold.append(time.perf_counter() - t)
            t = time.perf_counter()
            r.scalars("x", buckets=1000, method=method)
            warm.append(time.perf_counter() - t)
            r.close()
        print(f"  {method:<7} open + query {1e3 * statistics.median(cold):7.1f} ms, query on an open reader "
              f"{1e3 * statistics.median(warm):7.1f} ms -> {len(s)} points (target < 50 ms)")
    try:
        import tsdownsample

        x = np.arange(n)
        t = time.perf_counter()
        tsdownsample.MinMaxLTTBDownsampler().downsample(x, y, n_out=1000)
        print(f"  (for scale: tsdownsample MinMaxLTTB on in-memory arrays {1e3 * (time.perf_counter() - t):.1f} ms)")
    except ImportError:
        pass


def bench_watch(tmp: Path, steps: int = 600, every: int = 100) -> None:
    from neuralscope.data import load_digits
    from neuralscope.track import Run
    from neuralscope.zoo import DigitsCNN

    print(f"4. digits CNN training, {steps} steps each with and without watch(every={every}), "
          "alternating step by step")
    data = load_digits()
    torch.manual_seed(0)
    plain, watched = DigitsCNN(), DigitsCNN()
    watched.load_state_dict(plain.state_dict())
    opts = {id(m): torch.optim.Adam(m.parameters(), lr=3e-3) for m in (plain, watched)}
    g = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, len(data.x_train), (64,), generator=g) for _ in range(steps)]

    def one(model, idx, run=None):
        opt = opts[id(model)]
        t = time.perf_counter()
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
        loss.backward()
        opt.step()
        if run is not None:
            run.log({"loss": loss.item()})
        else:
            loss.item()
        return time.perf_counter() - t

    with Run(tmp / "watch") as run:
        for idx in batches[:5]:  # warm-up (not watched: the watcher starts after)
            one(plain, idx), one(watched, idx)
        run.watch(watched, every=every)
        t_plain, t_watch = [], []
        for idx in batches:  # step by step, so load on a shared machine hits both alike
            t_plain.append(one(plain, idx))
            t_watch.append(one(watched, idx, run))
    p, w = float(np.mean(t_plain)), float(np.mean(t_watch))
    on = np.array(t_watch[::every])
    off = np.delete(np.array(t_watch), np.arange(0, steps, every))
    off_plain = np.delete(np.array(t_plain), np.arange(0, steps, every))
    print(f"  mean step: plain {1e3 * p:.2f} ms, watched {1e3 * w:.2f} ms -> overhead {100 * (w - p) / p:+.1f}% "
          f"(target < 5%)")
    on_plain = np.array(t_plain[::every])
    robust = ((np.median(off) - np.median(off_plain)) * (every - 1) + (np.median(on) - np.median(on_plain))) \
        / every / np.median(t_plain)
    print(f"  robust estimate (medians: other steps' difference x {every - 1} + a watched step's extra, "
          f"per {every} steps): {100 * robust:+.1f}%")
    print(f"  median step: plain {1e3 * np.median(t_plain):.2f} ms, watched {1e3 * np.median(t_watch):.2f} ms; "
          f"a watched step {1e3 * np.median(on):.1f} ms (median of {len(on)}); other steps "
          f"{1e3 * np.median(off):.2f} ms vs plain {1e3 * np.median(off_plain):.2f} ms")


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        bench_logging(tmp)
        bench_loading(tmp)
        bench_query(tmp)
        bench_watch(tmp)


if __name__ == "__main__":
    main()
