"""The loss as a function of the weights: data batches, the loss function and a functional
forward pass (:func:`torch.func.functional_call`) that never writes into the model.

Shared by the landscape evaluation and the curvature estimates, so that both see the same
loss of the same data in the same mode.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from ..errors import InputShapeError, TargetError

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Objective:
    """``loss(weights)`` of ``model`` on ``batches`` (a list of ``(x, y)`` on the model's device).

    ``loss_fn(output, y)`` must return the mean over the batch (PyTorch's default
    ``reduction="mean"``); batches are weighted by their size, so the result is the mean over
    all examples however the data are split.
    """

    model: nn.Module
    batches: list[tuple[torch.Tensor, torch.Tensor]]
    loss_fn: LossFn
    buffers: dict[str, torch.Tensor]
    resizable: bool = False  # the batches are our split of one (x, y) pair, not the user's loader

    def rebatch(self, size: int) -> None:
        """Split the data again into batches of ``size`` (only when we made the split)."""
        if not self.resizable:
            return
        x = torch.cat([b[0] for b in self.batches])
        y = torch.cat([b[1] for b in self.batches])
        size = max(1, int(size))
        self.batches = [(x[i:i + size], y[i:i + size]) for i in range(0, len(x), size)]

    @property
    def n_examples(self) -> int:
        return sum(len(y) for _, y in self.batches)

    @property
    def classifies(self) -> bool:
        """Whether accuracy means something: integer class labels."""
        y = self.batches[0][1]
        return not y.is_floating_point() and y.dim() == 1

    def forward(self, weights: Mapping[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.model, ({**weights}, self.buffers), (x,), strict=False)

    def batch_loss(self, weights: Mapping[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(self.forward(weights, x), y)

    def loss(self, weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Mean loss over every batch (differentiable in ``weights``)."""
        n = self.n_examples
        total = 0.0
        for x, y in self.batches:
            total = total + self.batch_loss(weights, x, y) * (len(y) / n)
        return total


def default_loss(y: torch.Tensor) -> LossFn:
    if not y.is_floating_point():
        return nn.functional.cross_entropy
    return nn.functional.mse_loss


def make_objective(model: nn.Module, data: Any, loss_fn: LossFn | None = None,
                   batch_size: int | None = None) -> Objective:
    """An :class:`Objective` from ``data``: an ``(x, y)`` pair of tensors (split into
    ``batch_size`` chunks; all at once when ``None``) or an iterable of ``(x, y)`` batches such
    as a DataLoader (read once and kept, so every weight point sees the same examples)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, not {type(model).__name__}.")
    batches = _batches(data, batch_size)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    batches = [(x.to(device), y.to(device)) for x, y in batches]
    if loss_fn is None:
        loss_fn = default_loss(batches[0][1])
    buffers = {n: b.detach() for n, b in model.named_buffers()}
    resizable = batch_size is None and isinstance(data, (tuple, list)) and len(batches) == 1
    obj = Objective(model, batches, loss_fn, buffers, resizable)
    _probe(obj)
    return obj


def _probe(obj: Objective) -> None:
    """Run the model and the loss on two examples (eval mode, no gradients) so that data of the
    wrong shape fails here with one sentence, not deep inside a batched pass."""
    from ..adapters.torch import preserve_model_state

    x, y = obj.batches[0]
    with preserve_model_state(obj.model), torch.no_grad():
        obj.model.eval()
        try:
            out = obj.forward({}, x[:2])
        except (RuntimeError, ValueError, TypeError, IndexError) as exc:
            raise InputShapeError(
                f"{type(obj.model).__name__} cannot run on inputs of shape {tuple(x.shape)} "
                f"({_first_line(exc)}); pass inputs shaped as the model expects, batch first.") from exc
        try:
            obj.loss_fn(out, y[:2])
        except (RuntimeError, ValueError, TypeError, IndexError) as exc:
            raise TargetError(
                f"The loss cannot compare outputs of shape {tuple(out.shape)} with targets of shape "
                f"{tuple(y.shape)} ({_first_line(exc)}); pass targets that fit loss_fn (class indices "
                "for cross-entropy).") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _batches(data: Any, batch_size: int | None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(torch.is_tensor(t) for t in data):
        x, y = data
        if len(x) != len(y):
            raise InputShapeError(f"data holds {len(x)} inputs but {len(y)} targets; pass (x, y) of equal length.")
        if len(x) == 0:
            raise InputShapeError("data is empty; pass at least one (input, target) example.")
        step = batch_size or len(x)
        return [(x[i:i + step], y[i:i + step]) for i in range(0, len(x), step)]
    if isinstance(data, Iterable) and not torch.is_tensor(data):
        out = []
        for item in data:
            if not (isinstance(item, (tuple, list)) and len(item) >= 2 and torch.is_tensor(item[0])):
                raise InputShapeError("Each batch of data must be an (inputs, targets) pair of tensors, "
                                      f"not {type(item).__name__}.")
            out.append((item[0], item[1]))
        if out:
            return out
    raise TargetError("data must be an (inputs, targets) pair of tensors or an iterable of such batches "
                      f"(a DataLoader), not {type(data).__name__}; the loss needs targets.")
