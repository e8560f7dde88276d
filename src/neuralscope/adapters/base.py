"""The framework-neutral adapter interface: everything an analysis needs from a model.

An analysis never calls a framework's API on a model directly; it asks an :class:`Adapter`
(from :func:`neuralscope.adapters.for_model`) for:

- **layers**: :meth:`Adapter.named_layers` lists every addressable layer as a
  :class:`LayerInfo` (qualified name, type, trainable and non-trainable parameter counts);
  :meth:`Adapter.layers` / :meth:`Adapter.layer` choose layers by qualified name, glob
  (``"layer2.*"``, ``"block3_*"``), layer type or layer object, and a name that is not
  there raises :class:`~neuralscope.errors.LayerNotFoundError` listing the closest names.
  Qualified names use the framework's own separator: ``"layer1.0.conv1"`` in PyTorch,
  ``"inner/dense"`` for a layer of a nested Keras model.
- **weights** as numpy arrays in one canonical layout (:data:`CANONICAL_LAYOUT`), so a
  weight view draws a Keras ``Dense`` exactly as a PyTorch ``Linear``.
- **inputs** normalised once (:meth:`Adapter.normalize_inputs`): one tensor, a tuple or list
  of tensors (a model with several inputs), a dict (keyword or named inputs), numpy arrays,
  and images in either channel layout (``layout="channels_last"`` / ``"channels_first"``
  says which one the caller gives; the adapter converts to the model's own).
- **a recording forward** (:meth:`Adapter.record`) that keeps chosen layers' outputs (one
  entry per call, so shared layers show every call) and can replace them
  (``replace={name: fn}``: CAM, ablation, feature visualization, gradients at a layer);
  :meth:`Adapter.activations` runs it in batches and returns numpy arrays in the canonical
  activation layout (batch, channel or unit, then positions).
- **the guard** (:meth:`Adapter.preserved`): a context manager that puts the model back as
  it was found (parameters, train/eval modes, trainable / ``requires_grad`` flags,
  gradients, hooks or call interceptions, compiled state), also when the block raises.

Example:
    >>> import torch
    >>> from neuralscope.adapters import for_model
    >>> a = for_model(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()))
    >>> [(i.name, i.type, i.trainable_params) for i in a.named_layers()]
    [('0', 'Linear', 15), ('1', 'ReLU', 0)]
    >>> a.weights("0")["weight"].shape  # canonical: (out, in)
    (3, 4)
"""
from __future__ import annotations

import abc
import fnmatch
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager, Iterator, Sequence

import numpy as np

from ..errors import LayerNotFoundError

#: The one weight layout every adapter returns (PyTorch's): output units first.
CANONICAL_LAYOUT = {
    "dense": "(out, in)",
    "conv": "(out, in/groups, *kernel) -- Conv1D (out, in, k), Conv2D (out, in, kh, kw), ...",
    "conv_transpose": "(in, out/groups, *kernel), as torch's ConvTranspose",
    "depthwise": "(in*multiplier, 1, *kernel), as a torch conv with groups=in",
    "recurrent": "(gates*units, in) for input kernels, (gates*units, units) for recurrent ones",
    "embedding": "(vocabulary, dim)",
    "vector": "(n,) for biases, norm scales and statistics",
}

#: The canonical activation layout: batch first, then channel / unit, then positions.
ACTIVATION_LAYOUT = "(batch, channel or unit, *positions)"


@dataclass(frozen=True)
class LayerInfo:
    """One addressable layer of a model.

    ``layer`` is the framework's own object (an ``nn.Module``, a ``keras.layers.Layer``);
    parameter counts are the layer's own and those of its sublayers.
    """

    name: str
    type: str
    trainable_params: int
    non_trainable_params: int
    layer: Any = field(repr=False, compare=False)
    is_leaf: bool = True

    @property
    def params(self) -> int:
        return self.trainable_params + self.non_trainable_params


@dataclass(frozen=True)
class ParamInfo:
    """One parameter (weight) tensor: qualified name, canonical-layout array, trainable or not."""

    name: str
    array: np.ndarray = field(repr=False, compare=False)
    trainable: bool = True


@dataclass
class Inputs:
    """Model inputs after :meth:`Adapter.normalize_inputs`: positional and keyword tensors
    of the framework (passing an ``Inputs`` back to an adapter method uses it as it is)."""

    args: tuple
    kwargs: dict


class Recording:
    """What :meth:`Adapter.record` kept: ``output`` (the model's own output, framework
    tensors) and, per chosen layer, one framework tensor per call (a shared layer runs more
    than once)."""

    def __init__(self, output: Any, outputs: dict[str, list]):
        self.output, self.outputs = output, outputs

    @property
    def names(self) -> list[str]:
        return list(self.outputs)

    def __getitem__(self, name: str):
        """The layer's output of its first call (see ``outputs[name]`` for all calls)."""
        if name not in self.outputs:
            raise LayerNotFoundError(name, list(self.outputs), what="recorded layer")
        calls = self.outputs[name]
        if not calls:
            from ..capture import LayerNotRunError

            raise LayerNotRunError(f"Layer {name!r} was chosen for recording but never ran in the forward pass.")
        return calls[0]


def select_layers(named: Sequence[tuple[str, Any]], spec: Any, *, layer_type: type | tuple = (),
                  all_names: Sequence[str] | None = None) -> list[tuple[str, Any]]:
    """Layers chosen from ``named`` by qualified name, glob, layer type, layer object, or a
    list of those: in the order the specs are given (each one's matches in model order),
    without duplicates. The one implementation behind every adapter's layer lookup; a miss
    raises :class:`LayerNotFoundError` with the closest valid names.

    ``layer_type`` is the framework's layer base class (a spec that is a subclass of it
    selects by type); ``all_names`` the names offered in errors (default: those of ``named``).

    Example:
        >>> select_layers([("a", 1), ("b1", 2), ("b2", 3)], "b*")
        [('b1', 2), ('b2', 3)]
    """
    names = [n for n, _ in named if n] if all_names is None else list(all_names)
    specs = list(spec) if isinstance(spec, (list, tuple, set)) else [spec]
    chosen: dict[str, Any] = {}
    for s in specs:
        if isinstance(s, str):
            if any(c in s for c in "*?["):
                hits = [(n, m) for n, m in named if n and fnmatch.fnmatchcase(n, s)]
            else:
                hits = [(n, m) for n, m in named if n == s]
            if not hits:
                raise LayerNotFoundError(s, names)
        elif isinstance(s, type) and layer_type and issubclass(s, layer_type):
            hits = [(n, m) for n, m in named if isinstance(m, s)]
            if not hits:
                raise LayerNotFoundError(s.__name__, sorted({type(m).__name__ for _, m in named}),
                                         what="layer of type")
        elif layer_type and isinstance(s, layer_type):
            hits = [(n, m) for n, m in named if m is s]
            if not hits:
                raise LayerNotFoundError(f"<{type(s).__name__} object>", names)
        else:
            raise TypeError(
                f"A layer must be given as a name, glob, layer type or layer object, not {type(s).__name__}.")
        for n, m in hits:
            chosen.setdefault(n, m)
    return list(chosen.items())


class Adapter(abc.ABC):
    """What analyses need from a model, for one framework (see the module docstring).

    Subclasses set ``framework`` (``"torch"``, ``"keras"``), ``separator`` (between the
    parts of a qualified layer name) and ``channels_axis`` (where the channels of an image
    batch are for this model: 1 or -1).
    """

    framework: str = ""
    separator: str = "."
    channels_axis: int = 1

    def __init__(self, model: Any):
        self.model = model

    # -- layers ---------------------------------------------------------------------------
    @abc.abstractmethod
    def named_layers(self) -> list[LayerInfo]:
        """Every addressable layer in model order (the root model itself not included)."""

    @property
    def layer_type(self) -> type | tuple:
        """The framework's layer base class (specs of this type select by type or object)."""
        return ()

    def layers(self, spec: Any) -> list[tuple[str, Any]]:
        """``(qualified_name, layer)`` chosen by name, glob, type, object or a list of those."""
        return select_layers([(i.name, i.layer) for i in self.named_layers()], spec, layer_type=self.layer_type)

    def layer(self, spec: Any) -> tuple[str, Any]:
        """Exactly one ``(qualified_name, layer)``; a glob matching several is an error."""
        found = self.layers(spec)
        if len(found) != 1:
            raise LayerNotFoundError(str(spec), [n for n, _ in found], what="single layer matching")
        return found[0]

    def layer_names(self) -> list[str]:
        return [i.name for i in self.named_layers()]

    # -- weights --------------------------------------------------------------------------
    @abc.abstractmethod
    def weights(self, layer: Any) -> dict[str, np.ndarray]:
        """The layer's own weights by short name (``"weight"``/``"kernel"``, ``"bias"``...)
        as float numpy arrays in :data:`CANONICAL_LAYOUT`."""

    @abc.abstractmethod
    def parameters(self, layers: Any = None) -> list[ParamInfo]:
        """Every parameter tensor (or those of ``layers``), qualified names, canonical layout."""

    def weight(self, layer: Any, param: str = "weight") -> tuple[str, np.ndarray]:
        """``(qualified_param_name, array)`` of one weight of one layer; ``"weight"`` also
        names a layer's main kernel where the framework calls it otherwise."""
        name, _ = self.layer(layer)
        ws = self.weights(layer)
        key = self.weight_key(ws, param)
        if key is None:
            raise LayerNotFoundError(self.join(name, param), [self.join(name, k) for k in ws] or
                                     [p.name for p in self.parameters()], what="parameter")
        return self.join(name, key), ws[key]

    @staticmethod
    def weight_key(ws: dict[str, np.ndarray], param: str) -> str | None:
        if param in ws:
            return param
        if param == "weight":
            for alias in ("kernel", "embeddings", "depthwise_kernel", "pointwise_kernel", "gamma"):
                if alias in ws:
                    return alias
        return None

    def join(self, *parts: str) -> str:
        return self.separator.join(p for p in parts if p)

    # -- inputs and forward ----------------------------------------------------------------
    @abc.abstractmethod
    def normalize_inputs(self, inputs: Any, *, layout: str | None = None) -> Inputs:
        """:class:`Inputs` (positional and keyword framework tensors) for one call of the model. ``layout``
        (``"channels_first"`` / ``"channels_last"``) says how 4-D image batches are given;
        they are transposed to the model's own layout when it differs."""

    @abc.abstractmethod
    def forward(self, inputs: Any) -> Any:
        """The model's output on ``inputs`` (inference mode, no state change)."""

    @abc.abstractmethod
    def record(self, inputs: Any, layers: Any, *,
               replace: dict[str, Callable[[Any], Any]] | None = None) -> Recording:
        """One forward pass keeping the outputs of ``layers`` (framework tensors, one per
        call); ``replace`` maps a layer name to a function of its output whose result the
        rest of the model sees instead."""

    @abc.abstractmethod
    def to_numpy(self, tensor: Any) -> np.ndarray:
        """A framework tensor as a numpy array (a copy when it lives on an accelerator)."""

    def to_canonical(self, array: np.ndarray) -> np.ndarray:
        """An activation in the model's layout as :data:`ACTIVATION_LAYOUT`."""
        return array

    def batch_size_of(self, inputs: Any) -> int:
        x = self.normalize_inputs(inputs)
        for t in _leaves((x.args, x.kwargs)):
            shape = getattr(t, "shape", None)
            if shape is not None and len(shape):
                return int(shape[0])
        from ..errors import InputShapeError

        raise InputShapeError("The inputs hold no tensor with a batch dimension.")

    def batches(self, inputs: Any, batch_size: int, desc: str = "") -> Iterator[Inputs]:
        """``inputs`` cut into batches of ``batch_size`` along the batch dimension (every
        tensor of a structure that has it), with a progress bar on a terminal."""
        from ..progress import progress

        x = self.normalize_inputs(inputs)
        n = self.batch_size_of(x)
        starts = range(0, n, batch_size)
        for start in progress(starts, desc=desc, total=len(starts), enabled=None if desc else False):
            s = slice(start, start + batch_size)
            yield Inputs(tuple(_take(a, s, n) for a in x.args), {k: _take(v, s, n) for k, v in x.kwargs.items()})

    def recorded_batches(self, inputs: Any, layers: Any, *, batch_size: int = 256, desc: str = "",
                         eval: bool = True, output_index: int | None = None,
                         to_cpu: bool = True) -> Iterator[dict[str, list]]:
        """Per batch of ``inputs``, the outputs of ``layers``: ``{name: [one per call]}`` in
        :data:`ACTIVATION_LAYOUT` (numpy here; an adapter may give framework tensors). A
        chosen layer that never ran raises :class:`~neuralscope.capture.LayerNotRunError`.
        ``eval``, ``output_index`` and ``to_cpu`` are for frameworks that need them (the
        model runs in inference mode and layers give one tensor here)."""
        names = [nm for nm, _ in self.layers(layers)]
        for batch in self.batches(inputs, batch_size, desc):
            rec = self.record(batch, names)
            yield {nm: [self.to_canonical(self.to_numpy(t)) for t in _ran(rec.outputs[nm], nm)] for nm in names}

    def activations(self, inputs: Any, layers: Any, *, batch_size: int = 256, desc: str = "activations",
                    **options: Any) -> dict[str, list]:
        """Outputs of ``layers`` over ``inputs`` in batches (:meth:`recorded_batches`, whose
        ``options`` it takes): ``{name: [one array per call, batches concatenated]}``."""
        parts: dict[str, list[list]] = {}
        for batch in self.recorded_batches(inputs, layers, batch_size=batch_size, desc=desc, **options):
            for nm, calls in batch.items():
                if nm not in parts:
                    parts[nm] = [[c] for c in calls]
                else:
                    for acc, c in zip(parts[nm], calls):
                        acc.append(c)
        return {nm: [_concat(c) for c in calls] for nm, calls in parts.items()}

    def default_layers(self) -> list[tuple[str, Any]]:
        """"Every layer" as analyses mean it: every leaf layer (one without sublayers)."""
        return [(i.name, i.layer) for i in self.named_layers() if i.is_leaf]

    def attention_weights(self, inputs: Any, method: str = "auto") -> tuple:
        """Every attention layer's weights in one forward pass, ``(names, maps, stacked,
        path)``: names, one ``(batch, heads, queries, keys)`` map per layer call, the maps
        stacked ``(batch, layers, ...)`` when the capture laid them out so (else ``None``),
        and the capture path taken. The adapter picks the path for its framework."""
        from ..errors import UnsupportedModelError

        raise UnsupportedModelError(f"{type(self).__name__} cannot read attention weights.")

    def recurrent_layers(self) -> list[tuple[str, Any]]:
        """Every recurrent layer (LSTM, GRU, simple RNN), in model order."""
        return [(i.name, i.layer) for i in self.named_layers() if i.type in _RECURRENT]

    def sequence_states(self, output: Any, layer: Any) -> Any:
        """A recurrent layer's recorded output as ``(batch, time, units)``, from
        :data:`ACTIVATION_LAYOUT` ``(batch, units, time)``; ``None`` for an output without a
        time axis."""
        return output.transpose(1, 2) if output.dim() == 3 else None

    def activation_layers(self) -> list[tuple[str, Any]]:
        """Every leaf layer that ends in a nonlinearity (:meth:`activation_of`)."""
        return [(n, layer) for n, layer in self.default_layers() if self.activation_of(layer)]

    def activation_of(self, layer: Any) -> str | None:
        """The lowercase name of the nonlinearity a layer applies last (``"relu"``,
        ``"sigmoid"``, ``"tanh"``...), or ``None`` for layers that apply none."""
        return None

    # -- the guard --------------------------------------------------------------------------
    @abc.abstractmethod
    def preserved(self) -> ContextManager:
        """A context manager that leaves the model exactly as it was found."""


def _leaves(obj: Any):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _leaves(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _leaves(v)
    else:
        yield obj


_RECURRENT = ("LSTM", "GRU", "SimpleRNN", "RNN", "Bidirectional")


def _ran(calls: list, name: str) -> list:
    if not calls:
        from ..capture import LayerNotRunError

        raise LayerNotRunError(f"Layer {name!r} was chosen but never ran in the model's forward pass.")
    return calls


def _concat(parts: list) -> Any:
    """Batches of one call joined along the batch dimension (numpy arrays or torch tensors)."""
    if len(parts) == 1:
        return parts[0]
    if all(isinstance(p, np.ndarray) for p in parts):
        return np.concatenate(parts, 0)
    import torch

    return torch.cat([torch.as_tensor(p) for p in parts], 0)


def _take(t: Any, s: slice, n: int) -> Any:
    """Rows ``s`` of every tensor in ``t`` (nested lists, tuples, dicts) with batch size ``n``."""
    if isinstance(t, dict):
        return {k: _take(v, s, n) for k, v in t.items()}
    if isinstance(t, (list, tuple)):
        return type(t)(_take(v, s, n) for v in t)
    shape = getattr(t, "shape", None)
    return t[s] if shape is not None and len(shape) and shape[0] == n else t


__all__ = ["Adapter", "Inputs", "LayerInfo", "ParamInfo", "Recording", "select_layers", "CANONICAL_LAYOUT",
           "ACTIVATION_LAYOUT"]
