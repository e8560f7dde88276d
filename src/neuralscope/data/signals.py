"""A synthetic signal set whose class depends on a known time window, so that the right
explanation is known: every signal is noise plus distractor bumps, and class 1 signals
carry a burst (a windowed sine) inside ``[window_start, window_end)``. Generated from a
seed; no files."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class SignalSet:
    """Signals ``(N, channels, length)`` float32 and labels ``(N,)`` long, split train/test.

    ``windows`` is ``(N, 2)`` per signal: the [start, end) of its burst (class 1 only; class
    0 signals have none and report the window they would have used). ``sampling_rate`` is
    in Hz, so ``time = arange(length) / sampling_rate`` seconds.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    windows_train: np.ndarray
    windows_test: np.ndarray
    sampling_rate: float
    channel_names: list[str]

    classes = ["no burst", "burst"]

    @property
    def length(self) -> int:
        return int(self.x_train.shape[-1])


def make_signals(n: int = 600, length: int = 128, channels: int = 2, window: tuple[int, int] = (48, 80),
                 jitter: int = 8, sampling_rate: float = 64.0, noise: float = 0.3, period: float = 6.0,
                 seed: int = 0, test_fraction: float = 0.25) -> SignalSet:
    """Generate the signal set: class 1 has a burst (a Hann-windowed sine of ``period``
    samples) on channel 0 inside ``window`` (shifted by up to ``jitter`` samples either
    way); both classes have a slow drift, noise, and a distractor bump outside the window on
    every channel.

    Example:
        >>> s = make_signals(n=40, length=64, window=(24, 40), jitter=2)
        >>> tuple(s.x_train.shape), s.classes
        ((30, 2, 64), ['no burst', 'burst'])
    """
    from ..errors import InputShapeError

    lo, hi = int(window[0]), int(window[1])
    if not (0 <= lo - jitter and hi + jitter <= length and hi > lo):
        raise InputShapeError(f"The window {window} with jitter {jitter} must lie inside 0..{length}.")
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    y = np.arange(n) % 2
    rng.shuffle(y)
    x = noise * rng.standard_normal((n, channels, length))
    x += 0.5 * np.sin(2 * np.pi * (t / length * rng.uniform(0.5, 1.5, (n, channels, 1)) + rng.uniform(0, 1, (n, channels, 1))))
    shift = rng.integers(-jitter, jitter + 1, n)
    starts, ends = lo + shift, hi + shift
    for i in range(n):
        _add_distractor(x[i], rng, lo - jitter, hi + jitter)
        if y[i]:
            w = ends[i] - starts[i]
            seg = np.hanning(w) * np.sin(2 * np.pi * np.arange(w) / period) * 1.5
            x[i, 0, starts[i]:ends[i]] += seg
    k = int(round(n * (1 - test_fraction)))
    xs = torch.from_numpy(x.astype(np.float32))
    ys = torch.from_numpy(y.astype(np.int64))
    win = np.stack([starts, ends], 1)
    names = [f"ch{c}" for c in range(channels)]
    return SignalSet(xs[:k], ys[:k], xs[k:], ys[k:], win[:k], win[k:], float(sampling_rate), names)


def _add_distractor(sig: np.ndarray, rng, lo: int, hi: int) -> None:
    """A smooth bump (no oscillation) somewhere outside ``[lo, hi)`` on each channel."""
    length = sig.shape[-1]
    for c in range(sig.shape[0]):
        w = int(rng.integers(8, 16))
        choices = [s for s in range(0, length - w) if s + w <= lo or s >= hi]
        if not choices:
            continue
        s = int(rng.choice(choices))
        sig[c, s:s + w] += rng.uniform(0.8, 1.5) * np.hanning(w)


__all__ = ["SignalSet", "make_signals"]
