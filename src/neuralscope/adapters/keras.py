"""The Keras 3 adapter: Sequential, functional and subclassed models on the TensorFlow, JAX
and torch backends.

Keras is imported lazily: ``import neuralscope`` works without Keras or TensorFlow.

**Layer names** are Keras layer names (``"conv"``, ``"block3_conv2"``). Layers of a nested
model are addressed through the nested model's name with ``/`` between the parts
(``"inner/dense"``), as Keras writes variable paths; the nested model itself is a layer too
(``"inner"``). ``InputLayer`` objects are not layers here (their output is the input). Only
models nest: the sublayers of a custom layer (an LSTM's cell, a ``MultiHeadAttention``'s
projections) are part of that layer.

**Weights** come back in the canonical layout of :mod:`neuralscope.adapters.base`: a ``Dense``
kernel ``(in, out)`` becomes ``(out, in)``, a ``ConvND`` kernel ``(*kernel, in, out)`` becomes
``(out, in, *kernel)`` (for ``ConvNDTranspose`` Keras stores ``(*kernel, out, in)`` and the same
permutation gives torch's ``(in, out, *kernel)``), a depthwise kernel ``(*kernel, in, mult)``
(Keras's ``DepthwiseConvND.kernel``, ``SeparableConvND.depthwise_kernel``)
becomes ``(in*mult, 1, *kernel)``, recurrent kernels ``(in, gates*units)`` become
``(gates*units, in)``. Every other variable keeps Keras's shape. ``"weight"`` names a layer's
main kernel (``kernel``, ``embeddings``, ``depthwise_kernel``...).

**Recording** intercepts the ``call`` of each chosen layer object for one eager forward pass
(``model(x, training=False)``) and removes the interception afterwards, also when the pass
raises. That works the same for Sequential, functional and subclassed models and on every
backend, sees every call of a shared layer, and can replace a layer's output (``replace=``),
which is how gradients at a layer are taken on backends without a tape. Limits: a subclassed
model that calls a layer's ``call`` method directly (not the layer itself) is not seen, and
layers must run eagerly (the adapter never wraps the model in ``tf.function`` or ``jax.jit``).

**The guard** puts back every layer's and variable's ``trainable`` flag, every non-trainable
variable's value (BatchNorm statistics), the compile state (optimizer, loss, compiled train /
predict functions) and removes any leftover call interception. Trainable weights are never
written by neuralscope (tests check them bit for bit).

Example:
    >>> import keras
    >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="dense")])
    >>> a = KerasAdapter(m)
    >>> [(i.name, i.trainable_params) for i in a.named_layers()]
    [('dense', 15)]
    >>> a.weights("dense")["kernel"].shape  # canonical (out, in); Keras stores (4, 3)
    (3, 4)
"""
from __future__ import annotations

import contextlib
import re
import sys
from typing import Any, Callable, Iterator

import numpy as np

from ..errors import InputShapeError, ModelForwardError, ModelNotBuiltError
from .base import Adapter, Inputs, LayerInfo, ParamInfo, Recording

# Model attributes that make up "compiled state"; put back by identity after every call.
_COMPILE_ATTRS = ("optimizer", "compiled", "loss", "_compile_config", "_compile_loss", "_compile_metrics",
                  "compiled_loss", "compiled_metrics", "train_function", "test_function", "predict_function",
                  "stop_training", "_jit_compile", "_run_eagerly", "_steps_per_execution")


def keras_module():
    """The ``keras`` package, imported on first use (a clear sentence when it is missing)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter, when it is not loaded yet
    try:
        import keras
    except ImportError as exc:  # pragma: no cover - the dev environment has Keras
        raise ImportError("Keras is not installed; pip install 'neuralscope[keras]'.") from exc
    return keras


def is_keras_model(obj: Any) -> bool:
    """Whether ``obj`` is a Keras 3 layer or model (never imports Keras itself)."""
    keras = sys.modules.get("keras")
    if keras is None or not hasattr(keras, "layers"):
        return False
    return isinstance(obj, keras.layers.Layer)


def check_built(model: Any) -> None:
    """Raise :class:`ModelNotBuiltError` saying how to build a model that has no weights yet."""
    if not getattr(model, "built", False):
        name = getattr(model, "name", type(model).__name__)
        raise ModelNotBuiltError(
            f"The Keras model {name!r} has not been built yet, so it has no weights or layer shapes; "
            "build it first with model.build(input_shape) (e.g. model.build((None, 28, 28, 1))) or call it "
            "once on a batch (model(x)), or start a Sequential model with keras.Input(shape).")


def _size(v: Any) -> int:
    return int(np.prod(tuple(v.shape), dtype=np.int64))


def to_canonical_weight(layer: Any, name: str, w: np.ndarray) -> np.ndarray:
    """A Keras variable's array in the canonical layout (see the module docstring)."""
    cls = type(layer).__name__
    depthwise = name == "depthwise_kernel" or (name == "kernel" and cls.startswith("DepthwiseConv"))
    if depthwise and w.ndim >= 3:  # (*k, in, mult) -> (in*mult, 1, *k)
        k = w.ndim - 2
        moved = np.moveaxis(w, (k, k + 1), (0, 1))
        return moved.reshape(w.shape[k] * w.shape[k + 1], 1, *w.shape[:k])
    if name in ("kernel", "pointwise_kernel") and w.ndim >= 3 and "Conv" in cls:
        n = w.ndim
        return np.transpose(w, (n - 1, n - 2, *range(n - 2)))
    if name in ("kernel", "recurrent_kernel", "pointwise_kernel") and w.ndim == 2:
        return w.T
    return w


class KerasAdapter(Adapter):
    """The adapter interface (:class:`~neuralscope.adapters.base.Adapter`) for Keras 3 models.

    See the module docstring for names, weight layout, how recording works and its limits.
    """

    framework = "keras"
    separator = "/"

    def __init__(self, model: Any):
        keras = keras_module()
        if not isinstance(model, keras.layers.Layer):
            raise TypeError(f"Expected a keras.Model, got {type(model).__name__}.")
        check_built(model)
        super().__init__(model)
        self.keras = keras
        self.channels_axis = -1 if keras.config.image_data_format() == "channels_last" else 1

    @property
    def backend(self) -> str:
        return self.keras.backend.backend()

    @property
    def layer_type(self) -> type:
        return self.keras.layers.Layer

    # -- layers -----------------------------------------------------------------------------
    def _walk(self, model: Any, prefix: str) -> Iterator[tuple[str, Any]]:
        for layer in model.layers:
            if isinstance(layer, self.keras.layers.InputLayer):
                continue
            name = self.join(prefix, layer.name)
            yield name, layer
            if isinstance(layer, self.keras.Model):
                yield from self._walk(layer, name)

    def named_layers(self) -> list[LayerInfo]:
        out = []
        for name, layer in self._walk(self.model, ""):
            tr = sum(_size(v) for v in layer.trainable_weights)
            nt = sum(_size(v) for v in layer.non_trainable_weights)
            out.append(LayerInfo(name, type(layer).__name__, tr, nt, layer,
                                 not isinstance(layer, self.keras.Model)))
        return out

    # -- weights ----------------------------------------------------------------------------
    def _variables(self, layer: Any, qualified: str) -> list[tuple[str, Any, bool]]:
        """``(name relative to the layer, variable, trainable)`` for the layer's weights."""
        own = []
        nested = isinstance(layer, self.keras.Model)
        for v in layer.weights:
            rel = v.name
            if nested:  # name the variable through the nested layers, as the layer list does
                path = v.path.split("/")
                rel = "/".join(path[1:]) if len(path) > 1 else v.name
            own.append((rel, v, bool(v.trainable)))
        return own

    def variable_names(self) -> dict[int, str]:
        """``id(variable) -> qualified name`` (``"conv/kernel"``, ``"inner/dense/bias"``), the
        names :meth:`parameters` uses; variables outside every layer keep Keras's path."""
        out: dict[int, str] = {}
        for info in self.named_layers():
            if info.is_leaf:
                for rel, v, _ in self._variables(info.layer, info.name):
                    out.setdefault(id(v), self.join(info.name, rel))
        for v in self.model.variables:
            out.setdefault(id(v), v.path)
        return out

    def weights(self, layer: Any) -> dict[str, np.ndarray]:
        name, obj = self.layer(layer)
        return {rel: to_canonical_weight(obj, rel, self.to_numpy(v.value).astype(np.float32, copy=False))
                for rel, v, _ in self._variables(obj, name)}

    def parameters(self, layers: Any = None) -> list[ParamInfo]:
        if layers is None:
            chosen = [(i.name, i.layer) for i in self.named_layers() if i.is_leaf]
        else:
            chosen = self.layers(layers)
        out, seen = [], set()
        for lname, obj in chosen:
            for rel, v, trainable in self._variables(obj, lname):
                if id(v) in seen:
                    continue
                seen.add(id(v))
                arr = to_canonical_weight(obj, rel, self.to_numpy(v.value).astype(np.float32, copy=False))
                out.append(ParamInfo(self.join(lname, rel), arr, trainable))
        return out

    # -- inputs -----------------------------------------------------------------------------
    def _tensor(self, x: Any, layout: str | None) -> Any:
        if hasattr(x, "detach") and hasattr(x, "numpy") and self.backend != "torch":  # a torch tensor
            x = x.detach().cpu().numpy()
        if isinstance(x, (list, tuple)) and not x:
            raise InputShapeError("The model inputs are an empty list; pass one array per model input.")
        if layout not in (None, "channels_first", "channels_last"):
            raise ValueError(f"layout must be 'channels_first' or 'channels_last', not {layout!r}.")
        own = "channels_last" if self.channels_axis == -1 else "channels_first"
        if layout is not None and layout != own and len(getattr(x, "shape", ())) >= 3:
            x = self.keras.ops.moveaxis(x, 1, -1) if own == "channels_last" else self.keras.ops.moveaxis(x, -1, 1)
        if isinstance(x, np.ndarray) or np.isscalar(x):
            x = np.asarray(x)
            if x.dtype == np.float64:
                x = x.astype(np.float32)
            return self.keras.ops.convert_to_tensor(x)
        return x

    def normalize_inputs(self, inputs: Any, *, layout: str | None = None) -> Inputs:
        """Keras models take one structure: a tensor, a list (several inputs, in
        ``model.inputs`` order) or a dict keyed by input names; it is ``args[0]``."""
        if isinstance(inputs, Inputs):
            if layout is None:
                return inputs
            inputs = inputs.args[0] if len(inputs.args) == 1 else list(inputs.args)
        if isinstance(inputs, dict) or (hasattr(inputs, "keys") and hasattr(inputs, "__getitem__")
                                        and not hasattr(inputs, "shape")):
            return Inputs(({k: self._tensor(inputs[k], layout) for k in inputs.keys()},), {})
        if isinstance(inputs, (list, tuple)):
            xs = [self._tensor(x, layout) for x in inputs]
            return Inputs((xs if len(xs) > 1 else xs[0],), {})
        if not hasattr(inputs, "shape"):
            raise InputShapeError(
                f"Model inputs must be an array or tensor, a list of them or a dict of them, not {type(inputs).__name__}.")
        return Inputs((self._tensor(inputs, layout),), {})

    # -- forward and recording -----------------------------------------------------------------
    def forward(self, inputs: Any) -> Any:
        x = self.normalize_inputs(inputs)
        with self.preserved():
            return self._call(x)

    def _call(self, x: Inputs) -> Any:
        try:
            return self.model(*x.args, training=False, **x.kwargs)
        except ModelForwardError:
            raise
        except Exception as exc:  # re-raised with the failing layer's name
            raise self._forward_error(exc) from exc

    def _forward_error(self, exc: Exception) -> ModelForwardError:
        names = {id(layer): name for name, layer in self._walk(self.model, "")}
        failing, tb = None, exc.__traceback__
        while tb is not None:
            owner = tb.tb_frame.f_locals.get("self")
            if owner is not None and id(owner) in names:
                failing = names[id(owner)]
            tb = tb.tb_next
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()  # Keras colours its messages
        first = next((t for t in text if t.strip() and not t.startswith("Exception encountered")), "")
        where = f"layer {failing!r}" if failing else f"the Keras model {self.model.name!r}"
        return ModelForwardError(f"The model raised in {where}: {type(exc).__name__}: {first.strip()}",
                                 module=failing)

    def record(self, inputs: Any, layers: Any, *, replace: dict[str, Callable[[Any], Any]] | None = None,
               on_call: Callable[[str, tuple, dict, Any], None] | None = None) -> Recording:
        """See :meth:`Adapter.record`; ``on_call(name, args, kwargs, output)`` also sees every
        call of a chosen layer, in call order (the graph reader of subclassed models uses it)."""
        chosen = dict(self.layers(layers)) if layers is not None else {}
        replace = dict(replace or {})
        for name in replace:
            if name not in chosen:
                chosen.update(self.layers(name))
        kept: dict[str, list] = {n: [] for n in chosen}
        x = self.normalize_inputs(inputs)
        with self.preserved(), _intercepted(chosen, kept, replace, self.keras, on_call):
            out = self._call(x)
        return Recording(out, kept)

    def to_numpy(self, tensor: Any) -> np.ndarray:
        if isinstance(tensor, np.ndarray):
            return tensor
        return np.asarray(self.keras.ops.convert_to_numpy(tensor))

    def to_canonical(self, array: np.ndarray) -> np.ndarray:
        if self.channels_axis == -1 and array.ndim >= 3:
            return np.moveaxis(array, -1, 1)
        return array

    def training_batch(self, x: Any, y: Any, sample_weight: Any = None) -> tuple[Any, Any, Any]:
        """``(x, y, sample_weight)`` as backend tensors, ``x`` as :meth:`normalize_inputs` gives it."""
        y = self.keras.tree.map_structure(lambda t: self._tensor(t, None), y)
        sw = None if sample_weight is None else self._tensor(sample_weight, None)
        return self.normalize_inputs(x).args[0], y, sw

    def loss_gradients(self, x: Any, y: Any, sample_weight: Any = None, *,
                       layers: Any = None) -> tuple[float, dict[str, np.ndarray], dict[str, list]]:
        """The compiled loss on ``(x, y)``, its gradient with respect to every trainable
        variable (by qualified name, see :meth:`variable_names`, in Keras's own layout) and the
        outputs of ``layers`` in that same pass (numpy, canonical layout; one per call).

        Computed by the backend's own autodiff in training mode (dropout on, BatchNorm on
        batch statistics) exactly as one ``fit`` step computes them, without applying them:
        BatchNorm statistics, metric states and every variable are left as they were. One
        eager pass; for the same batch again and again use :meth:`loss_pass` (compiled)."""
        return self.loss_pass(layers, compiled=False)(x, y, sample_weight)

    def loss_pass(self, layers: Any = None, *, compiled: bool = True, compile_after: int = 0,
                  summary: Callable[[str, str, Any], dict] | None = None,
                  summary_on_host: bool | None = None) -> "LossPass":
        """A reusable :meth:`loss_gradients` for ``layers``: traced once (``tf.function`` on
        TensorFlow, ``jax.jit`` on JAX) when ``compiled``, eager on torch or when the model
        cannot be traced; the first ``compile_after`` calls run eagerly (tracing costs as much
        as a few eager passes: it pays when the pass runs again and again); ``summary``
        reduces each gradient and output, inside the compiled pass or, with
        ``summary_on_host`` (default: when the model's variables are on the CPU), on the
        host after it (see :class:`LossPass`)."""
        model = self.model
        if not getattr(model, "compiled", False):
            raise ValueError(f"The Keras model {model.name!r} is not compiled; call model.compile(loss=...) first, "
                             "so there is a loss to take gradients of.")
        return LossPass(self, dict(self.layers(layers)) if layers is not None else {}, compiled, summary,
                        compile_after=compile_after, summary_on_host=summary_on_host)

    def attention_weights(self, inputs: Any, method: str = "auto") -> tuple:
        """Every ``MultiHeadAttention`` layer's scores in one inference pass (``method`` has
        one meaning here): ``(names, maps, stacked, "keras")``, see
        :mod:`neuralscope.attention.keras`."""
        from ..attention.keras import capture_keras

        names, stacked = capture_keras(self.model, inputs)
        return names, [stacked[:, i] for i in range(stacked.shape[1])], stacked, "keras"

    def activation_of(self, layer: Any) -> str | None:
        """A fused ``activation=`` (``Dense(8, activation="relu")``), an ``Activation`` layer, or
        an activation layer class (``ReLU``, ``LeakyReLU``, ``ELU``...)."""
        cls = type(layer).__name__
        if cls in ("ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax"):
            return cls.lower()
        fn = getattr(layer, "activation", None)
        name = getattr(fn, "__name__", None) if callable(fn) else None
        return None if name in (None, "linear") else name.lower()

    # -- the guard ----------------------------------------------------------------------------
    def preserved(self):
        return preserve_keras_state(self.model)


class LossPass:
    """The loss, its gradients and chosen layers' outputs of a Keras model on a batch (see
    :meth:`KerasAdapter.loss_gradients`); made by :meth:`KerasAdapter.loss_pass`.

    Compiled, the pass is traced on its first call (interceptions are placed around the
    trace only, so the compiled function hands the layers' outputs out as results) and later
    calls run no Python per layer. With ``summary(kind, name, tensor)`` (``kind``:
    ``"gradient"`` or ``"output"``; a dict of tensors or arrays), each gradient and layer
    output is reduced and only the summaries come back (numpy, the tensors' own layout).
    With ``summary_on_host`` (the default when the model's variables are on the CPU, and
    always for an eager pass) ``tensor`` is a numpy array: the pass hands its tensors out and
    the host reduces them (on a CPU, numpy's few passes over an array cost a third of the
    same reductions traced into the pass, whose tracing took 4x as long as the pass's own:
    ``benchmarks/keras_callback.py``). Otherwise ``tensor`` is a backend tensor inside the
    compiled pass (statistics of large outputs on an accelerator without moving them). Metric
    states and every non-trainable variable are put back after each call."""

    def __init__(self, adapter: KerasAdapter, chosen: dict[str, Any], compiled: bool,
                 summary: Callable[[str, str, Any], dict] | None = None, *, compile_after: int = 0,
                 summary_on_host: bool | None = None):
        self.adapter, self.chosen, self.summary = adapter, chosen, summary
        self.eager_calls_left = compile_after
        self.variables = list(adapter.model.trainable_variables)
        names = adapter.variable_names()
        self.names = [names[id(v)] for v in self.variables]
        self.compiled = compiled and adapter.backend in ("tensorflow", "jax")
        self.summary_on_host = _on_cpu(self.variables) if summary_on_host is None else summary_on_host
        self._fn: Callable | None = None

    def __call__(self, x: Any, y: Any, sample_weight: Any = None) -> tuple[float, dict[str, Any], dict[str, list]]:
        a, model = self.adapter, self.adapter.model
        x, y, sw = a.training_batch(x, y, sample_weight)
        metrics = list(model.metrics_variables)
        saved = [a.keras.ops.convert_to_numpy(v.value).copy() for v in metrics]
        try:
            with a.preserved():
                loss, grads, kept = self._run(x, y, sw)
        finally:
            for v, value in zip(metrics, saved):
                v.assign(value)
        if self.summary is not None:
            grads, kept = a.keras.tree.map_structure(_to_host(a), (grads, kept))
            out = {n: g for n, g in zip(self.names, grads) if g is not None}
            return float(a.to_numpy(loss)), out, {n: list(kept.get(n, [])) for n in self.chosen}
        out = {n: a.to_numpy(g) for n, g in zip(self.names, grads) if g is not None}
        acts = {n: [a.to_canonical(a.to_numpy(t)) for t in kept.get(n, [])] for n in self.chosen}
        return float(a.to_numpy(loss)), out, acts

    def _post(self, loss, grads, kept):
        """Applied inside the pass (traced with it when compiled) or on the host after it."""
        s = self.summary
        if s is None:
            return loss, grads, kept
        return (loss, [None if g is None else s("gradient", n, g) for n, g in zip(self.names, grads)],
                {n: [s("output", n, t) for t in ts] for n, ts in kept.items()})

    def _run(self, x, y, sw):
        if self.compiled and self.eager_calls_left > 0:
            self.eager_calls_left -= 1
        elif self.compiled:
            on_host = self.summary is not None and self.summary_on_host
            try:
                if self._fn is None:
                    self._fn = _COMPILERS[self.adapter.backend](self.adapter.model, self.variables, self.chosen,
                                                                self.adapter.keras,
                                                                _unchanged if on_host else self._post)
                out = self._fn(x, y, sw)
            except Exception:  # noqa: BLE001 - a model that cannot be traced (Python control flow) runs eagerly
                self.compiled, self._fn = False, None
            else:
                return self._post_on_host(*out) if on_host else out
        return self._post_on_host(*_eager_pass(self.adapter, self.variables, self.chosen, x, y, sw))

    def _post_on_host(self, loss, grads, kept):
        """:meth:`_post` on numpy arrays (eager passes always: a few numpy passes a tensor cost
        less than its ~20 small eager backend ops)."""
        if self.summary is not None:
            to_numpy = self.adapter.to_numpy
            grads = [None if g is None else to_numpy(g) for g in grads]
            kept = {n: [to_numpy(t) for t in ts] for n, ts in kept.items()}
        return self._post(loss, grads, kept)


def _unchanged(loss, grads, kept):
    return loss, grads, kept


def _on_cpu(variables: list) -> bool:
    """Whether the variables' values live in host memory (TensorFlow: a ``CPU`` device
    name; JAX: the ``cpu`` platform; torch: a CPU tensor)."""
    if not variables:
        return True
    value = variables[0].value
    device = getattr(value, "device", "")
    if callable(getattr(value, "devices", None)):  # JAX
        return all(d.platform == "cpu" for d in value.devices())
    return "cpu" in str(getattr(device, "type", device)).lower()


def _to_host(adapter: KerasAdapter) -> Callable[[Any], Any]:
    """``adapter.to_numpy`` for backend tensors; numbers already on the host (a summary made
    on the host) are kept as they are."""
    def to_host(t: Any) -> Any:
        return t if isinstance(t, (np.ndarray, np.generic, int, float)) else adapter.to_numpy(t)
    return to_host


def _eager_pass(adapter: KerasAdapter, variables: list, chosen: dict, x, y, sw):
    model, keras = adapter.model, adapter.keras
    kept: dict[str, list] = {n: [] for n in chosen}
    if adapter.backend == "jax":  # a traced gradient cannot hand out layer outputs: a second pass
        loss, grads = _jax_gradients(model, variables, x, y, sw)
        if chosen:
            with _intercepted(chosen, kept, {}, keras):
                model(x, training=True)
        return loss, grads, kept
    with _intercepted(chosen, kept, {}, keras):
        loss, grads = _GRADIENTS[adapter.backend](model, variables, x, y, sw)
    return loss, grads, kept


def _tf_compiler(model, variables: list, chosen: dict, keras, post: Callable) -> Callable:
    import tensorflow as tf

    def step(x, y, sw):
        kept: dict[str, list] = {n: [] for n in chosen}
        with _intercepted(chosen, kept, {}, keras):
            loss, grads = _tf_gradients(model, variables, x, y, sw)
        return post(loss, grads, kept)

    # autograph off: the pass has no tensor-dependent Python control flow, and converting the
    # summary code cost about 2 s of tracing per fit (most of the callback's cost)
    return tf.function(step, reduce_retracing=True, autograph=False)


def _jax_compiler(model, variables: list, chosen: dict, keras, post: Callable) -> Callable:
    import jax

    def loss_fn(tv, ntv, mv, x, y, sw, ov):
        kept: dict[str, list] = {n: [] for n in chosen}
        with _intercepted(chosen, kept, {}, keras):
            total, (loss, *_) = model.compute_loss_and_updates(tv, ntv, mv, x, y, sw, training=True,
                                                               optimizer_variables=ov)
        return total, (loss, kept)

    def step(tv, ntv, mv, x, y, sw, ov):
        (_, (loss, kept)), grads = jax.value_and_grad(loss_fn, has_aux=True)(tv, ntv, mv, x, y, sw, ov)
        return post(loss, grads, kept)

    fn = jax.jit(step)

    def run(x, y, sw):
        opt = getattr(model, "optimizer", None)
        ov = [v.value for v in opt.variables] if opt is not None else None  # (loss scaling reads them)
        return fn([v.value for v in variables], [v.value for v in model.non_trainable_variables],
                  [v.value for v in model.metrics_variables], x, y, sw, ov)
    return run


_COMPILERS = {"tensorflow": _tf_compiler, "jax": _jax_compiler}


def _tf_gradients(model, variables, x, y, sw):
    import tensorflow as tf

    with tf.GradientTape() as tape:
        y_pred = model(x, training=True)
        loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sw, training=True)
    return loss, tape.gradient(loss, variables)


def _jax_gradients(model, variables, x, y, sw):
    import jax

    fn = jax.value_and_grad(model.compute_loss_and_updates, has_aux=True)
    opt = getattr(model, "optimizer", None)
    opt_vars = [v.value for v in opt.variables] if opt is not None else None  # (loss scaling reads them)
    (_, (loss, *_)), grads = fn([v.value for v in variables], [v.value for v in model.non_trainable_variables],
                                [v.value for v in model.metrics_variables], x, y, sw, training=True,
                                optimizer_variables=opt_vars)
    return loss, grads


def _torch_gradients(model, variables, x, y, sw):
    import torch

    y_pred = model(x, training=True)
    loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sw, training=True)
    grads = torch.autograd.grad(loss, [v.value for v in variables], allow_unused=True)  # .grad stays untouched
    return loss.detach(), [None if g is None else g.detach() for g in grads]


_GRADIENTS = {"tensorflow": _tf_gradients, "jax": _jax_gradients, "torch": _torch_gradients}


def hessian_vector_product(model: Any, loss: Callable[[Any, Any], Any], x: Any, y: Any, variables: list,
                           vectors: list) -> list:
    """``H v`` of ``loss(y, model(x, training=False))`` with respect to ``variables`` (a list
    of the model's trainable variables; the block of the Hessian they span), ``vectors`` one
    array per variable in its own layout: by the backend's own autodiff (TensorFlow: nested
    tapes; JAX: forward-over-reverse ``jvp`` of ``grad`` through ``stateless_call``; torch: a
    double backward). Returns numpy arrays; no variable, ``.grad`` or state changes."""
    backend = keras_module().backend.backend()
    return [np.asarray(h) for h in _HVP[backend](model, loss, x, y, variables, vectors)]


def _tf_hvp(model, loss, x, y, variables, vectors):
    import tensorflow as tf

    vs = [tf.constant(v) for v in vectors]
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            value = loss(y, model(x, training=False))
        grads = inner.gradient(value, variables)
        gv = tf.add_n([tf.reduce_sum(g * u) for g, u in zip(grads, vs) if g is not None])
    return [h.numpy() if h is not None else np.zeros(u.shape, np.float32)
            for h, u in zip(outer.gradient(gv, variables), vs)]


def _jax_hvp(model, loss, x, y, variables, vectors):
    import jax
    import jax.numpy as jnp

    trainable = list(model.trainable_variables)
    where = {id(v): i for i, v in enumerate(trainable)}
    chosen = [where[id(v)] for v in variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    values = [v.value for v in trainable]
    tangents = [jnp.zeros_like(t) for t in values]
    for i, vec in zip(chosen, vectors):
        tangents[i] = jnp.asarray(vec, dtype=values[i].dtype)

    def value_of(tv):
        out, _ = model.stateless_call(tv, non_trainable, x, training=False)
        return loss(y, out)

    _, hv = jax.jvp(jax.grad(value_of), (values,), (tangents,))
    return [np.asarray(hv[i]) for i in chosen]


def _torch_hvp(model, loss, x, y, variables, vectors):
    import torch

    params = [v.value for v in variables]
    vs = [torch.as_tensor(np.asarray(u), dtype=p.dtype, device=p.device) for u, p in zip(vectors, params)]
    value = loss(y, model(x, training=False))
    grads = torch.autograd.grad(value, params, create_graph=True, allow_unused=True)
    gv = sum((g * u).sum() for g, u in zip(grads, vs) if g is not None)
    if not torch.is_tensor(gv) or not gv.requires_grad:
        return [np.zeros(tuple(p.shape), np.float32) for p in params]
    hv = torch.autograd.grad(gv, params, allow_unused=True)  # .grad stays untouched
    return [np.zeros(tuple(p.shape), np.float32) if h is None else h.detach().cpu().numpy() for h, p in zip(hv, params)]


_HVP = {"tensorflow": _tf_hvp, "jax": _jax_hvp, "torch": _torch_hvp}


def _first_tensor(keras, output: Any) -> Any:
    flat = keras.tree.flatten(output)
    return flat[0] if flat else output


@contextlib.contextmanager
def _intercepted(chosen: dict[str, Any], kept: dict[str, list], replace: dict, keras,
                 on_call: Callable | None = None) -> Iterator[None]:
    """Wrap each chosen layer's ``call`` (an instance attribute, deleted afterwards)."""
    by_layer: dict[int, list[str]] = {}
    for name, layer in chosen.items():
        by_layer.setdefault(id(layer), []).append(name)
    patched = []
    try:
        for name, layer in chosen.items():
            if any(p is layer for p, _ in patched):
                continue
            names = by_layer[id(layer)]
            had = layer.__dict__.get("call", _MISSING)
            original = layer.call

            def call(*args, __orig=original, __names=names, **kwargs):
                out = __orig(*args, **kwargs)
                if on_call is not None:
                    on_call(__names[0], args, kwargs, out)
                for n in __names:
                    kept[n].append(_first_tensor(keras, out))
                    if n in replace:
                        out = replace[n](out)
                return out

            object.__setattr__(layer, "call", call)
            patched.append((layer, had))
        yield
    finally:
        for layer, had in patched:
            if had is _MISSING:
                object.__delattr__(layer, "call")
            else:
                object.__setattr__(layer, "call", had)


_MISSING = object()


class KerasState:
    """What a visualization could disturb in a Keras model (see the module docstring)."""

    def __init__(self, model: Any):
        keras = keras_module()
        layers = [model] + list(model._flatten_layers(include_self=False, recursive=True))
        self.flags = [(layer, layer.trainable) for layer in layers]
        self.calls = [(layer, layer.__dict__.get("call", _MISSING)) for layer in layers]
        variables = {id(v): v for v in model.variables}.values()
        self.var_flags = [(v, v.trainable) for v in variables]
        self.stats = [(v, keras.ops.convert_to_numpy(v.value).copy()) for v in variables if not v.trainable]
        self.model, self.keras = model, keras
        self.compiled = {a: model.__dict__[a] for a in _COMPILE_ATTRS if a in model.__dict__}

    def restore(self) -> None:
        for layer, call in self.calls:
            now = layer.__dict__.get("call", _MISSING)
            if now is not call:
                if call is _MISSING:
                    object.__delattr__(layer, "call")
                else:
                    object.__setattr__(layer, "call", call)
        for layer, flag in self.flags:
            if layer.trainable != flag:
                layer.trainable = flag
        for v, flag in self.var_flags:
            if v.trainable != flag:
                v.trainable = flag
        for v, saved in self.stats:
            now = self.keras.ops.convert_to_numpy(v.value)
            if now.shape != saved.shape or not np.array_equal(now, saved, equal_nan=True):
                v.assign(saved)
        for a, value in self.compiled.items():
            if self.model.__dict__.get(a, _MISSING) is not value:
                object.__setattr__(self.model, a, value)


@contextlib.contextmanager
def preserve_keras_state(model: Any) -> Iterator[KerasState]:
    """Run a block and put the Keras ``model`` back as it was (trainable flags, non-trainable
    variables, compile state, call interceptions), also when the block raises."""
    state = KerasState(model)
    try:
        yield state
    finally:
        state.restore()


__all__ = ["KerasAdapter", "KerasState", "LossPass", "check_built", "is_keras_model", "keras_module",
           "preserve_keras_state", "to_canonical_weight", "hessian_vector_product"]
