"""What a feature visualization maximizes.

An :class:`Objective` reads the activations of the layers it names and returns, for each of
``N`` inputs, the value of each of its ``U`` *units*: an ``(N, U)`` tensor. A channel
objective over 16 channels has 16 units; during optimization batch element ``i`` maximizes
unit ``i`` (so many channels are optimized together in one batch), and on a dataset the
same ``(N, U)`` values rank the inputs that excite each unit most.

Objectives add, subtract and scale (``channel("conv", 3) + 0.5 * layer_total("conv")``);
:func:`diversity` (Olah et al. 2017) is a batch term that pushes the batch's images apart.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from ..errors import NeuralscopeError

OUTPUT = "<output>"  # name of the model's output (class logits) in the activation dict


class ObjectiveError(NeuralscopeError, ValueError):
    """An objective that does not fit the model: a channel or class out of range, a wrong shape."""


class Objective:
    """A sum of weighted terms; each term maps ``{layer: activation}`` to ``(N, U)`` values.

    Example:
        >>> obj = channel("features.0", [0, 1]) - 0.1 * layer_total("features.0")
        >>> obj.layers, obj.num_units
        (['features.0'], 2)
    """

    def __init__(self, terms: list[tuple[float, "_Term"]]):
        self.terms = terms

    # -- algebra -------------------------------------------------------------------------------
    def __add__(self, other: "Objective") -> "Objective":
        if isinstance(other, (int, float)) and other == 0:
            return self
        if not isinstance(other, Objective):
            return NotImplemented
        return Objective(self.terms + other.terms)

    __radd__ = __add__

    def __mul__(self, k: float) -> "Objective":
        if not isinstance(k, (int, float)):
            return NotImplemented
        return Objective([(w * float(k), t) for w, t in self.terms])

    __rmul__ = __mul__

    def __neg__(self) -> "Objective":
        return self * -1.0

    def __sub__(self, other: "Objective") -> "Objective":
        return self + (-other)

    # -- description ---------------------------------------------------------------------------
    @property
    def layers(self) -> list[str]:
        out: list[str] = []
        for _, t in self.terms:
            if t.layer not in out:
                out.append(t.layer)
        return out

    @property
    def num_units(self) -> int:
        sizes = {t.units for _, t in self.terms if not t.batch_term}
        sizes.discard(1)
        if len(sizes) > 1:
            raise ObjectiveError(f"Objective terms have different numbers of units {sorted(sizes)}; "
                                 "combine terms with the same number of units (or one).")
        return sizes.pop() if sizes else 1

    def unit_labels(self) -> list[str]:
        units = self.num_units
        main = [t for _, t in self.terms if not t.batch_term and t.units == units]
        if not main:
            return ["objective"] * units
        return main[0].labels()

    def channels(self) -> tuple[str, list[int]] | None:
        """``(layer, channel indices)`` when the objective is one channel or neuron term of a
        named layer (what :func:`~neuralscope.featurevis.patches.top_patches` can crop for),
        else ``None``.

        Example:
            >>> channel("features.5", [3, 7]).channels()
            ('features.5', [3, 7])
            >>> (channel("a", 0) + channel("b", 0)).channels() is None
            True
        """
        if len(self.terms) != 1 or not isinstance(self.terms[0][1], _Channels) or self.terms[0][0] <= 0:
            return None
        term = self.terms[0][1]
        return None if term.layer == OUTPUT else (term.layer, list(term.index))

    def __repr__(self) -> str:
        parts = [t.name if w == 1 else f"{w:g}*{t.name}" for w, t in self.terms]
        return " + ".join(parts).replace("+ -", "- ")

    # -- evaluation ----------------------------------------------------------------------------
    def check(self, acts: dict[str, torch.Tensor]) -> None:
        """Raise :class:`ObjectiveError` if a term does not fit its layer's activation."""
        for _, t in self.terms:
            t.check(acts[t.layer])

    def unit_values(self, acts: dict[str, torch.Tensor]) -> torch.Tensor:
        """``(N, U)``: each unit's value for each input (batch terms such as diversity left out)."""
        total = None
        for w, t in self.terms:
            if t.batch_term:
                continue
            v = w * t(acts[t.layer])
            total = v if total is None else total + v
        if total is None:
            raise ObjectiveError("The objective has only batch terms (diversity); add a unit objective.")
        return total

    def batch_values(self, acts: dict[str, torch.Tensor]) -> torch.Tensor:
        """``(B,)``: what batch element ``i`` maximizes (unit ``i``, or the single unit)."""
        v = self.unit_values(acts)
        B, U = v.shape
        if U == B:
            out = v.diagonal()
        elif U == 1:
            out = v[:, 0]
        else:
            raise ObjectiveError(f"The objective has {U} units but the batch has {B} images; "
                                 f"use batch={U} (one image per unit) or one unit.")
        for w, t in self.terms:
            if t.batch_term:
                out = out + w * t(acts[t.layer])
        return out


class _Term:
    batch_term = False

    def __init__(self, layer: str, name: str, units: int = 1):
        self.layer, self.name, self.units = layer, name, units

    def check(self, act: torch.Tensor) -> None:
        pass

    def labels(self) -> list[str]:
        return [self.name] * self.units

    def __call__(self, act: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


def _as_list(n) -> list[int]:
    if isinstance(n, int):
        return [n]
    if isinstance(n, range) or isinstance(n, (list, tuple)):
        return [int(i) for i in n]
    if torch.is_tensor(n):
        return [int(i) for i in n.flatten().tolist()]
    raise TypeError(f"Channels must be an int or a sequence of ints, not {type(n).__name__}.")


class _Channels(_Term):
    def __init__(self, layer, n, kind="channel", x=None, y=None):
        self.index = _as_list(n)
        # the model's output has no layer name to show: its units are classes
        super().__init__(layer, f"class {n}" if layer == OUTPUT else f"{kind} {layer}:{n}", len(self.index))
        self.kind, self.x, self.y = kind, x, y

    def labels(self):
        return [f"class {i}" if self.layer == OUTPUT else f"{self.layer}:{i}" for i in self.index]

    def check(self, act):
        where = "class logits" if self.layer == OUTPUT else f"layer {self.layer!r}"
        if act.dim() < 2:
            raise ObjectiveError(f"{where} has output shape {tuple(act.shape)}; a {self.kind} objective "
                                 "needs (batch, channels, ...).")
        c = act.shape[1]
        bad = [i for i in self.index if not -c <= i < c]
        if bad:
            what = "class" if self.layer == OUTPUT else self.kind
            raise ObjectiveError(f"{what} {bad[0]} is out of range for {where} with {c} "
                                 f"{'classes' if self.layer == OUTPUT else 'channels'} (valid: 0..{c - 1}).")
        if self.kind == "neuron" and act.dim() == 4:
            h, w = act.shape[-2:]
            x = w // 2 if self.x is None else self.x
            y = h // 2 if self.y is None else self.y
            if not (0 <= x < w and 0 <= y < h):
                raise ObjectiveError(f"neuron position (x={x}, y={y}) is outside layer {self.layer!r} "
                                     f"of spatial size {h}x{w}.")

    def __call__(self, act):
        sel = act[:, self.index]
        if self.kind == "neuron" and act.dim() == 4:
            h, w = act.shape[-2:]
            x = w // 2 if self.x is None else self.x
            y = h // 2 if self.y is None else self.y
            return sel[:, :, y, x]
        return sel.flatten(2).mean(-1) if sel.dim() > 2 else sel


class _LayerTotal(_Term):
    def __init__(self, layer):
        super().__init__(layer, f"layer_total {layer}")

    def __call__(self, act):
        return (act.flatten(1) ** 2).mean(1, keepdim=True)


class _Direction(_Term):
    def __init__(self, layer, vectors):
        v = torch.as_tensor(vectors, dtype=torch.float32)
        self.vectors = v[None] if v.dim() == 1 else v
        super().__init__(layer, f"direction {layer}", self.vectors.shape[0])

    def labels(self):
        return [f"{self.layer}:dir{i}" for i in range(self.units)]

    def check(self, act):
        if act.shape[1] != self.vectors.shape[1]:
            raise ObjectiveError(f"direction has {self.vectors.shape[1]} components but layer {self.layer!r} "
                                 f"has {act.shape[1]} channels.")

    def __call__(self, act):
        v = self.vectors.to(act.device, act.dtype)
        flat = act.flatten(2) if act.dim() > 2 else act[..., None]  # (N, C, P)
        return torch.einsum("ncp,uc->nu", flat, v) / flat.shape[-1]


class _Diversity(_Term):
    batch_term = True

    def __init__(self, layer):
        super().__init__(layer, f"diversity {layer}")

    def __call__(self, act):
        B = act.shape[0]
        if B < 2:
            return act.new_zeros(B)
        flat = act.flatten(2) if act.dim() > 2 else act[..., None]
        gram = torch.einsum("bcp,bdp->bcd", flat, flat).flatten(1)
        gram = torch.nn.functional.normalize(gram, dim=1)
        sim = gram @ gram.T
        return -(sim.sum(1) - sim.diagonal()) / (B - 1)


def channel(layer: str, n: int | Sequence[int]) -> Objective:
    """Mean activation of channel ``n`` of ``layer`` (a list of channels makes one unit each).

    Example:
        >>> channel("features.6", range(8)).num_units
        8
    """
    return Objective([(1.0, _Channels(layer, n))])


def neuron(layer: str, n: int | Sequence[int], x: int | None = None, y: int | None = None) -> Objective:
    """Activation of channel ``n`` at one spatial position (the centre by default)."""
    return Objective([(1.0, _Channels(layer, n, kind="neuron", x=x, y=y))])


def layer_total(layer: str) -> Objective:
    """Mean squared activation of a whole layer (DeepDream, Mordvintsev et al. 2015)."""
    return Objective([(1.0, _LayerTotal(layer))])


deepdream = layer_total


def direction(layer: str, vectors) -> Objective:
    """Dot product of the activation (per position, averaged) with a direction ``(C,)`` or
    several directions ``(U, C)`` in the layer's channel space."""
    return Objective([(1.0, _Direction(layer, vectors))])


def class_logit(n: int | Sequence[int]) -> Objective:
    """The model output (logit) of class ``n``."""
    return Objective([(1.0, _Channels(OUTPUT, n, kind="class"))])


def diversity(layer: str) -> Objective:
    """Negative mean cosine similarity of each image's Gram matrix at ``layer`` to the other
    images' (Olah et al. 2017): added to an objective, it spreads the batch's images apart."""
    return Objective([(1.0, _Diversity(layer))])


def as_objective(obj: Objective | str | Callable) -> Objective:
    """An :class:`Objective` from an objective or a string ``"layer:channel"``
    (``"layer:0-15"`` for a range, ``"logits:3"`` for a class)."""
    if isinstance(obj, Objective):
        return obj
    if isinstance(obj, str):
        layer, sep, spec = obj.rpartition(":")
        if not sep or not layer:
            raise ObjectiveError(f"Objective string {obj!r} must look like 'layer:channel' or 'layer:0-15'.")
        try:
            if "-" in spec:
                a, b = spec.split("-")
                idx: int | list[int] = list(range(int(a), int(b) + 1))
            else:
                idx = int(spec)
        except ValueError:
            raise ObjectiveError(f"Objective string {obj!r}: {spec!r} is not a channel number or range.") from None
        return class_logit(idx) if layer in ("logits", OUTPUT) else channel(layer, idx)
    raise TypeError(f"An objective must be an Objective or a 'layer:channel' string, not {type(obj).__name__}.")
