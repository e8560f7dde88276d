"""Test helpers for users and for neuralscope's own suite.

:func:`assert_model_unchanged` pins down neuralscope's promise that a model is left exactly
as it was found: the same parameters (bit for bit), buffers, ``training`` flags,
``requires_grad`` flags, ``.grad`` values and no hooks left behind.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn

from .adapters.torch import hook_keys


@dataclass
class ModelSnapshot:
    params: dict[str, torch.Tensor]
    param_ids: dict[str, int]
    buffers: dict[str, torch.Tensor]
    training: dict[str, bool]
    requires_grad: dict[str, bool]
    grads: dict[str, torch.Tensor | None]
    hooks: dict[str, dict[str, set]]

    @classmethod
    def of(cls, model: nn.Module) -> "ModelSnapshot":
        named = dict(model.named_parameters())
        return cls(
            params={n: p.detach().clone() for n, p in named.items()},
            param_ids={n: id(p) for n, p in named.items()},
            buffers={n: b.detach().clone() for n, b in model.named_buffers()},
            training={n: m.training for n, m in model.named_modules()},
            requires_grad={n: p.requires_grad for n, p in named.items()},
            grads={n: None if p.grad is None else p.grad.detach().clone() for n, p in named.items()},
            hooks={n: hook_keys(m) for n, m in model.named_modules()},
        )

    def differences(self, model: nn.Module) -> list[str]:
        now = ModelSnapshot.of(model)
        diffs = []
        if now.param_ids != self.param_ids:
            diffs.append("the set of parameter objects changed")
        for n, p in self.params.items():
            q = now.params.get(n)
            if q is None or q.dtype != p.dtype or q.shape != p.shape or not torch.equal(
                    q.view(torch.uint8) if q.numel() else q, p.view(torch.uint8) if p.numel() else p):
                diffs.append(f"parameter {n!r} changed")
        for n, b in self.buffers.items():
            c = now.buffers.get(n)
            if c is None or c.shape != b.shape or not torch.equal(c, b):
                diffs.append(f"buffer {n!r} changed")
        for n, t in self.training.items():
            if now.training.get(n) != t:
                diffs.append(f"module {n!r} training flag changed from {t}")
        for n, r in self.requires_grad.items():
            if now.requires_grad.get(n) != r:
                diffs.append(f"parameter {n!r} requires_grad changed from {r}")
        for n, g in self.grads.items():
            h = now.grads.get(n)
            if (g is None) != (h is None) or (g is not None and not torch.equal(g, h)):
                diffs.append(f"parameter {n!r} .grad changed")
        for n, keys in now.hooks.items():
            before = self.hooks.get(n, {})
            for kind, ids in keys.items():
                extra = ids - before.get(kind, set())
                if extra:
                    diffs.append(f"module {n!r} has {len(extra)} new {kind.strip('_')}")
        return diffs


class KerasSnapshot:
    """Everything neuralscope promises not to change in a Keras model: every variable's value
    (bit for bit), every layer's and variable's ``trainable`` flag, no intercepted ``call``
    left on a layer, and the compile state (optimizer, loss, compiled functions) by identity."""

    def __init__(self, model):
        from .adapters.keras import _COMPILE_ATTRS, keras_module

        ops = keras_module().ops
        self.layers = [model] + list(model._flatten_layers(include_self=False, recursive=True))
        self.values = [(v.path, ops.convert_to_numpy(v.value).copy()) for v in model.variables]
        self.flags = [(layer.name, layer.trainable) for layer in self.layers]
        self.var_flags = [(v.path, v.trainable) for v in model.variables]
        self.calls = [("call" in layer.__dict__) for layer in self.layers]
        self.compiled = {a: id(model.__dict__[a]) for a in _COMPILE_ATTRS if a in model.__dict__}

    @classmethod
    def of(cls, model) -> "KerasSnapshot":
        return cls(model)

    def differences(self, model) -> list[str]:
        now = KerasSnapshot(model)
        diffs = []
        if len(now.values) != len(self.values):
            diffs.append("the set of variables changed")
        for (path, a), (_, b) in zip(self.values, now.values):
            if a.dtype != b.dtype or a.shape != b.shape or a.tobytes() != b.tobytes():
                diffs.append(f"variable {path!r} changed")
        diffs += [f"layer {n!r} trainable changed from {f}" for (n, f), (_, g) in zip(self.flags, now.flags) if f != g]
        diffs += [f"variable {n!r} trainable changed from {f}"
                  for (n, f), (_, g) in zip(self.var_flags, now.var_flags) if f != g]
        diffs += [f"layer {layer.name!r} has an intercepted call left" for layer, had, has in
                  zip(now.layers, self.calls, now.calls) if has and not had]
        if now.compiled != self.compiled:
            diffs.append("the compile state changed: " + ", ".join(
                sorted(k for k in set(now.compiled) | set(self.compiled) if now.compiled.get(k) != self.compiled.get(k))))
        return diffs


def snapshot_of(model):
    """A :class:`ModelSnapshot` of a PyTorch module or a :class:`KerasSnapshot` of a Keras model."""
    from .adapters.keras import is_keras_model

    return KerasSnapshot.of(model) if is_keras_model(model) else ModelSnapshot.of(model)


def assert_model_unchanged(model: nn.Module, snapshot: ModelSnapshot) -> None:
    """Raise AssertionError listing every way ``model`` differs from ``snapshot``."""
    diffs = snapshot.differences(model)
    if diffs:
        raise AssertionError("the model was changed: " + "; ".join(diffs[:10]))


@contextlib.contextmanager
def model_unchanged(model: nn.Module) -> Iterator[ModelSnapshot]:
    """Check that the block leaves ``model`` (PyTorch or Keras) exactly as it was, also when
    the block raises.

    Example:
        >>> m = torch.nn.Linear(3, 1)
        >>> with model_unchanged(m):
        ...     _ = m(torch.zeros(2, 3))
    """
    snap = snapshot_of(model)
    try:
        yield snap
    finally:
        assert_model_unchanged(model, snap)
