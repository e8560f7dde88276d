"""Loss landscapes and curvature of Keras 3 models (TensorFlow, JAX or torch backend), through
the adapter.

The weights are seen in the adapter's canonical layout (:func:`~neuralscope.adapters.keras.
to_canonical_weight`: a Dense kernel as ``(out, in)``, a convolution kernel as ``(out, in,
*k)``), so that filter normalisation works per output filter exactly as for PyTorch, and a
seed draws the same directions for a Keras model and its PyTorch twin. A weight point is
written into the model's variables (``assign``) and the data run through ``model(x,
training=False)``; the original arrays are assigned back at the end, also on Ctrl-C, so the
variables end bit for bit as they were. Hessian-vector products come from the backend's own
autodiff (:func:`~neuralscope.adapters.keras.hessian_vector_product`), for all trainable
variables or one layer's (its diagonal block), in the same canonical order, and feed the same
power iteration, Lanczos and Hutchinson code as PyTorch models.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from ..errors import InputShapeError, TargetError


class KerasObjective:
    """The loss of a Keras model on ``(x, y)`` as a function of its trainable weights."""

    def __init__(self, model: Any, data: Any, loss_fn: Callable | None = None, batch_size: int | None = None):
        from ..adapters import for_model

        adapter = for_model(model)
        self.model, self.adapter, self.keras = model, adapter, adapter.keras
        names = adapter.variable_names()
        owner = {id(v): layer for _, layer in adapter._walk(model, "") for v in layer.weights}
        self.vars = [v for v in model.trainable_variables if "float" in str(v.dtype)]
        self.names = [names[id(v)] for v in self.vars]
        self.index = [_canonical_index(owner.get(id(v)), v) for v in self.vars]
        self.batches = _batches(data, batch_size)
        self.n_examples = sum(len(y) for _, y in self.batches)
        y0 = self.batches[0][1]
        self.classifies = np.issubdtype(y0.dtype, np.integer) and y0.ndim == 1
        self.loss_fn = loss_fn or _default_loss(self.classifies)
        self._probe()

    def _probe(self) -> None:
        x, y = self.batches[0]
        try:
            out = self.model(x[:2], training=False)
        except Exception as exc:  # any framework error becomes one sentence
            raise InputShapeError(f"{type(self.model).__name__} cannot run on inputs of shape {x.shape} "
                                  f"({str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}); "
                                  "pass inputs shaped as the model expects, batch first.") from exc
        try:
            self.loss_fn(y[:2], out)
        except Exception as exc:  # any framework error becomes one sentence
            raise TargetError(f"The loss cannot compare outputs of shape {tuple(out.shape)} with targets of shape "
                              f"{y.shape}; pass targets that fit loss_fn (class indices for cross-entropy).") from exc

    def center(self) -> dict[str, torch.Tensor]:
        """The trainable weights in the canonical layout, as torch tensors (copies)."""
        return {n: torch.from_numpy(np.asarray(v.numpy()).reshape(-1)[idx])
                for n, v, idx in zip(self.names, self.vars, self.index)}

    def assign(self, weights: dict[str, torch.Tensor]) -> None:
        """Write canonical-layout ``weights`` into the model's variables."""
        for n, v, idx in zip(self.names, self.vars, self.index):
            flat = np.empty(idx.size, dtype=np.dtype(self.keras.backend.standardize_dtype(v.dtype)))
            flat[idx.reshape(-1)] = weights[n].detach().cpu().numpy().reshape(-1)
            v.assign(flat.reshape(tuple(v.shape)))

    def batch_loss(self, x, y, training: bool = False) -> tuple[float, np.ndarray]:
        """The loss on one batch and the model's outputs (numpy), without gradients."""
        with _no_grad(self.adapter.backend):
            out = self.model(x, training=training)
            loss = self.loss_fn(y, out)
            return float(self.keras.ops.convert_to_numpy(loss)), self.keras.ops.convert_to_numpy(out)

    def loss_and_accuracy(self) -> tuple[float, float | None]:
        lo, co = 0.0, 0.0
        for x, y in self.batches:
            loss, out = self.batch_loss(x, y)
            lo += loss * len(y) / self.n_examples
            if self.classifies:
                co += float(np.sum(np.argmax(np.asarray(out), -1) == y)) / self.n_examples
        return lo, (co if self.classifies else None)

    @contextlib.contextmanager
    def restored(self) -> Iterator[None]:
        """Run a block that assigns weights; put the original arrays back, bit for bit."""
        from ..adapters.keras import preserve_keras_state

        saved = [np.array(v.numpy(), copy=True) for v in self.vars]
        with preserve_keras_state(self.model):
            try:
                yield
            finally:
                for v, a in zip(self.vars, saved):
                    v.assign(a)


def _no_grad(backend: str):
    """The torch backend records every Keras call for autograd; evaluations need no graph."""
    return torch.no_grad() if backend == "torch" else contextlib.nullcontext()


def _canonical_index(layer: Any, v: Any) -> np.ndarray:
    """``idx`` (of the canonical shape) such that ``keras_array.reshape(-1)[idx]`` is the canonical array."""
    from ..adapters.keras import to_canonical_weight

    shape = tuple(int(s) for s in v.shape)
    ids = np.arange(int(np.prod(shape, dtype=np.int64))).reshape(shape)
    name = v.name if layer is None else v.path.split("/")[-1]
    return np.ascontiguousarray(to_canonical_weight(layer, name, ids) if layer is not None else ids)


def _batches(data: Any, batch_size: int | None) -> list[tuple[np.ndarray, np.ndarray]]:
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise TargetError("data must be an (inputs, targets) pair of arrays for a Keras model, not "
                          f"{type(data).__name__}; the loss needs targets.")
    x, y = (np.asarray(t.detach().cpu().numpy() if hasattr(t, "detach") else t) for t in data)
    if len(x) != len(y):
        raise InputShapeError(f"data holds {len(x)} inputs but {len(y)} targets; pass (x, y) of equal length.")
    if len(x) == 0:
        raise InputShapeError("data is empty; pass at least one (input, target) example.")
    x = x.astype(np.float32) if x.dtype == np.float64 else x
    step = batch_size or len(x)
    return [(x[i:i + step], y[i:i + step]) for i in range(0, len(x), step)]


def _default_loss(classifies: bool) -> Callable:
    from ..adapters.keras import keras_module

    keras = keras_module()
    if classifies:  # like torch's cross_entropy: the model's outputs are logits
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return keras.losses.MeanSquaredError()


def evaluate_keras(obj: KerasObjective, center: dict[str, torch.Tensor], directions: list[dict[str, torch.Tensor]],
                   coords: np.ndarray, accuracy: bool = True, bar=None,
                   on_progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Loss (and accuracy) at ``center + coords @ directions``, one point at a time."""
    loss = np.zeros(len(coords))
    acc = np.zeros(len(coords)) if accuracy and obj.classifies else None
    with obj.restored():
        for k, c in enumerate(coords):
            obj.assign({n: t + sum(float(ci) * d[n] for ci, d in zip(c, directions)) for n, t in center.items()})
            lo, co = obj.loss_and_accuracy()
            loss[k] = lo
            if acc is not None:
                acc[k] = co
            if bar is not None:
                bar.update(1)
            if on_progress is not None:
                on_progress(k + 1, len(coords))
    return loss, acc


class KerasHessianOperator:
    """``v -> H v`` for a Keras model's loss, ``v`` a flat torch vector in canonical order
    (the interface :mod:`~neuralscope.landscape.hessian` estimators use); with ``names``, the
    block of those variables only (one layer's: its diagonal block of the Hessian)."""

    def __init__(self, obj: KerasObjective, names: list[str] | None = None):
        keep = [i for i, n in enumerate(obj.names) if names is None or n in names]
        self.obj = obj
        self.vars = [obj.vars[i] for i in keep]
        self.index = [obj.index[i] for i in keep]
        self.sizes = [int(i.size) for i in self.index]
        self.size = sum(self.sizes)
        self.products = 0

    def _to_keras(self, v: torch.Tensor) -> list[np.ndarray]:
        out, i = [], 0
        for var, idx, n in zip(self.vars, self.index, self.sizes):
            flat = np.empty(n, dtype=np.float32)
            flat[idx.reshape(-1)] = v[i:i + n].detach().cpu().numpy()
            out.append(flat.reshape(tuple(var.shape)))
            i += n
        return out

    def _to_canonical(self, arrays: list[np.ndarray]) -> torch.Tensor:
        return torch.cat([torch.from_numpy(np.ascontiguousarray(a.reshape(-1)[idx.reshape(-1)]))
                          for a, idx in zip(arrays, self.index)])

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        from ..adapters.keras import hessian_vector_product

        obj, vs = self.obj, self._to_keras(v)
        total = None
        for x, y in obj.batches:
            hv = hessian_vector_product(obj.model, obj.loss_fn, x, y, self.vars, vs)
            part = self._to_canonical(hv) * (len(y) / obj.n_examples)
            total = part if total is None else total + part
        self.products += 1
        return total

    def random(self, gen: torch.Generator, rademacher: bool = False) -> torch.Tensor:
        r = torch.randn(self.size, generator=gen, dtype=torch.float64)
        return (torch.sign(r) if rademacher else r).float()


def keras_layer_variables(obj: KerasObjective, layers: list[str] | None) -> list[tuple[str, list[str]]]:
    """``(layer, its trainable variables' names)`` for every Keras layer owning trainable
    weights (or the chosen ones; a wrong name lists the layers there are)."""
    from ..errors import LayerNotFoundError

    owned: dict[str, list[str]] = {}
    for name in obj.names:
        owned.setdefault(name.rsplit("/", 1)[0] if "/" in name else name, []).append(name)
    if layers is None:
        return list(owned.items())
    missing = [name for name in layers if name not in owned]
    if missing:
        raise LayerNotFoundError(missing[0], list(owned), what="layer with parameters")
    return [(name, owned[name]) for name in layers]
