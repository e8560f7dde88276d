"""A Keras model seen as a differentiable PyTorch function, so that every attribution and
feature-visualization method written once (in torch) explains Keras models too.

:class:`KerasFunction` is a ``torch.nn.Module`` whose forward runs the Keras model through
the Keras adapter (:class:`~neuralscope.adapters.keras.KerasAdapter`) and whose backward is
computed by the Keras backend itself: ``tf.GradientTape`` on TensorFlow, ``jax.vjp`` on JAX;
on Keras's torch backend the model already is torch code and autograd runs through it
directly. Only tensors cross the boundary; no method has a Keras branch.

**Layers.** Every Keras layer (adapter names: ``"conv"``, ``"inner/dense"``) appears as an
empty submodule of the same name. A forward hook on it (what the CAM methods, layer
attribution and feature visualization register) sees that layer's output, and what the hook
returns replaces the output for the rest of the model; gradients flow to and through it. At
most one layer is tapped per pass. A pass whose hook keeps the layer's value (Grad-CAM's cut)
reuses the forward already run; a real replacement (Layer IG, ablation) runs the model again
with the layer's output replaced.

**Layout.** For a channels-last model, image inputs ``(B, H, W, C)`` and layer outputs of
rank 4 or more are seen channels-first on the torch side, ``(B, C, H, W)``, which is the
layout the method code expects; :func:`explain_keras` moves results back to the user's layout
(``Attribution.layout == "channels_last"``). Sequences ``(B, T, F)`` are transposed the same way,
to ``(B, F, T)``, in a model with a 1-D convolution (``Conv1D``...: its CAM is over the
positions), and left as they are otherwise (a recurrent model's ``(B, T, F)`` is PyTorch's
``batch_first`` layout too).

Example:
    >>> import keras, numpy as np, torch
    >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")])
    >>> f = KerasFunction(m)
    >>> x = torch.ones(1, 3, requires_grad=True)
    >>> y = f(x)[0, 1]; y.backward()
    >>> np.allclose(x.grad.numpy()[0], m.layers[0].kernel.numpy()[:, 1])
    True
"""
from __future__ import annotations

import contextlib
import weakref
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import InputShapeError
from .keras import KerasAdapter, is_keras_model

#: Keras layer classes whose output is a spatial map for the CAM methods, last one = default layer
_CAM_LAYER_TYPES = ("Conv1D", "SeparableConv1D", "DepthwiseConv1D", "Conv1DTranspose", "Conv2D", "SeparableConv2D",
                    "DepthwiseConv2D", "Conv2DTranspose", "Conv3D")
#: a channels-last model with one of these reads rank-3 tensors as (batch, positions, channels)
_CONV1D_TYPES = ("Conv1D", "SeparableConv1D", "DepthwiseConv1D", "Conv1DTranspose")


class LayerPoint(nn.Module):
    """Where a Keras layer's output passes on the torch side (identity; hooks go here)."""

    def __init__(self, name: str, layer_type: str, one_d: bool = False):
        super().__init__()
        self.keras_name, self.keras_type = name, layer_type
        self.one_d = one_d  # a rank-3 output is (batch, channels, positions) on the torch side

    def forward(self, value: torch.Tensor) -> torch.Tensor:
        return value

    def extra_repr(self) -> str:
        return f"{self.keras_name!r}, {self.keras_type}"


class _Foreign(torch.autograd.Function):
    """Outputs computed outside torch; the backward calls the vector-Jacobian product the
    forward handed back (``vjp(grad_outputs) -> grad per input``)."""

    @staticmethod
    def forward(ctx, run, *inputs):
        outs, vjp = run(inputs)
        ctx.vjp = vjp
        return tuple(outs)

    @staticmethod
    def backward(ctx, *grads):
        return (None, *ctx.vjp(grads))


class KerasFunction(nn.Module):
    """``keras_model`` as a torch module (see the module docstring).

    Arguments: the Keras model (built), and ``compile_forward`` (TensorFlow backend: run
    passes without a tapped layer and without gradients through a ``tf.function`` of the
    model, built once; faster for the many passes of Score-CAM, occlusion, LIME/KernelSHAP).
    """

    neuralscope_no_standin = True  # the torch fast paths cannot trace a Keras model

    def __init__(self, keras_model: Any, compile_forward: bool = True):
        super().__init__()
        adapter = KerasAdapter(keras_model)
        object.__setattr__(self, "adapter", adapter)
        self.backend = adapter.backend
        self.channels_last = adapter.channels_axis == -1
        infos = adapter.named_layers()
        #: the smallest rank moved between the layouts: images (4+), and sequences (3) of a 1-D conv model
        self.moved_rank = 3 if any(i.type in _CONV1D_TYPES for i in infos) else 4
        self.compile_forward = compile_forward and self.backend == "tensorflow"
        for info in infos:
            self._modules[info.name] = LayerPoint(info.name, info.type, self.moved_rank == 3 and self.channels_last)  # Keras names may hold "/"
        self.train(False)

    # -- what the method code asks -------------------------------------------------------------
    @property
    def keras_model(self) -> Any:
        return self.adapter.model

    @property
    def input_shape(self) -> tuple:
        """The first input's shape after the batch dimension, torch-side layout (an image
        model: ``(C, H, W)``); ``()`` when the model does not declare it."""
        inputs = getattr(self.keras_model, "inputs", None) or []
        if not inputs:
            return ()
        shape = tuple(inputs[0].shape[1:])
        if any(d is None for d in shape):
            return ()
        return (shape[-1], *shape[:-1]) if self.channels_last and len(shape) >= self.moved_rank - 1 else shape

    @property
    def fixed_input_size(self) -> tuple[int, int] | None:
        """``(H, W)`` when the model accepts images of that size only (a functional model built
        on ``keras.Input((H, W, C))``), else ``None``."""
        shape = self.input_shape
        return tuple(shape[-2:]) if len(shape) == 3 and self.keras_model.__class__.__name__ in (
            "Functional", "Sequential") else None

    def default_cam_layer(self) -> str:
        """The last 2-D (or 3-D) convolution, as for PyTorch models."""
        convs = [n for n, p in self._modules.items() if p.keras_type in _CAM_LAYER_TYPES]
        if not convs:
            raise InputShapeError(
                "The Keras model has no Conv2D layer to take a CAM from; pass layer=<Keras layer name>.")
        return convs[-1]

    def activation_bytes(self, *xs: torch.Tensor, **named: torch.Tensor) -> int:
        """Bytes of layer outputs one example produces: from the layers' declared output
        shapes (a functional model), else from one recorded pass over every layer."""
        static = self._declared_activation_bytes()
        if static:
            return static
        names = [n for n, p in self._modules.items()]
        keys = list(named) if named else None
        xs = tuple(named.values()) if named else xs
        x = _as_model_inputs([self.to_keras_layout(t[:1].detach()).cpu().numpy() for t in xs], keys)
        rec = self.adapter.record(x, names)
        return sum(int(np.prod(tuple(t.shape))) * 4 for calls in rec.outputs.values() for t in calls)

    def _declared_activation_bytes(self) -> int:
        total = 0
        for info in self.adapter.named_layers():
            try:
                outputs = self.adapter.keras.tree.flatten(info.layer.output)
            except (AttributeError, ValueError):  # a subclassed model or a layer called several times
                return 0
            for t in outputs:
                shape = tuple(t.shape[1:])
                if any(d is None for d in shape):
                    return 0
                total += int(np.prod(shape)) * 4
        return total

    def preserved(self):
        """The Keras model's guard (trainable flags, non-trainable variables, compile state)."""
        return self.adapter.preserved()

    @contextlib.contextmanager
    def relu_rule(self, rule: str) -> Iterator[None]:
        """Passes inside the block backpropagate through every ReLU of the Keras model by
        ``rule``: ``"guided"`` (Guided Backprop: the positive part of the incoming gradient,
        where the output is positive) or ``"deconvnet"`` (the positive part, wherever). The
        ReLUs are ``ReLU`` layers with default arguments, ``Activation("relu")`` layers and
        fused ``activation="relu"`` arguments, the Keras counterparts of PyTorch's ``nn.ReLU``
        modules (a ``keras.ops.relu`` call inside a custom layer is not seen, as ``F.relu`` is
        not by the PyTorch rule). Passes run eagerly meanwhile (the model's cached traces hold
        the plain ReLU); everything is put back on exit."""
        relus = _relu_layers(self.adapter)
        if not relus:
            raise InputShapeError(
                "Guided backpropagation and Deconvnet modify the backward pass of ReLU layers (ReLU, "
                "Activation('relu') or activation='relu'), and this Keras model has none.")
        compile_forward, self.compile_forward = self.compile_forward, False
        fn = _rule_relu(self.adapter.keras, rule)
        patched = []
        try:
            for layer, attr in relus:
                patched.append((layer, attr, layer.__dict__.get(attr, _UNSET)))
                object.__setattr__(layer, attr, fn if attr == "activation" else (lambda x, *a, **k: fn(x)))
            yield
        finally:
            for layer, attr, old in reversed(patched):
                if old is _UNSET:
                    object.__delattr__(layer, attr)
                else:
                    object.__setattr__(layer, attr, old)
            self.compile_forward = compile_forward

    # -- layout ---------------------------------------------------------------------------------
    def to_keras_layout(self, t: Any) -> Any:
        return t.movedim(1, -1) if self.channels_last and t.dim() >= self.moved_rank else t

    def to_torch_layout(self, t: torch.Tensor) -> torch.Tensor:
        return t.movedim(-1, 1) if self.channels_last and t.dim() >= self.moved_rank else t

    # -- forward --------------------------------------------------------------------------------
    def forward(self, *xs: torch.Tensor, **named: torch.Tensor):
        names = list(named) if named else None
        xs = tuple(named.values()) if named else xs
        tapped = [(n, p) for n, p in self._modules.items()
                  if p._forward_hooks or p._forward_pre_hooks or getattr(p, "_forward_hooks_with_kwargs", None)]
        if len(tapped) > 1:
            raise InputShapeError(
                f"Layers {', '.join(n for n, _ in tapped)} are tapped at once; a Keras model is explained at one layer at a time.")
        engine = _engine(self)
        if not tapped:
            return _unflatten(engine.call(xs, names))
        name, point = tapped[0]
        pass_ = _Pass(name, names)
        value = engine.head(xs, pass_)
        out = engine.tail(xs, point(value), pass_)
        return _unflatten(out)


_UNSET = object()


def _relu_layers(adapter: KerasAdapter) -> list[tuple[Any, str]]:
    """``(layer, attribute to replace)`` for every plain ReLU of the model: ``call`` of a
    ``ReLU`` layer with default arguments, ``activation`` of a layer whose activation is ReLU."""
    out = []
    for info in adapter.named_layers():
        layer = info.layer
        if type(layer).__name__ == "ReLU":
            plain = (float(layer.negative_slope) == 0.0 and layer.max_value is None and float(layer.threshold) == 0.0)
            if plain:
                out.append((layer, "call"))
        elif info.is_leaf and getattr(getattr(layer, "activation", None), "__name__", None) == "relu":
            out.append((layer, "activation"))
    return out


def _rule_relu(keras: Any, rule: str) -> Callable:
    """ReLU whose backward follows ``rule`` (backend-neutral: ``keras.ops.custom_gradient``)."""
    if rule not in ("guided", "deconvnet"):
        raise ValueError(f"rule must be 'guided' or 'deconvnet', not {rule!r}.")
    ops = keras.ops

    @ops.custom_gradient
    def relu(x):
        out = ops.relu(x)

        def grad(*args, upstream=None):
            g = ops.relu(args[0] if upstream is None else upstream)
            return g * ops.cast(out > 0, g.dtype) if rule == "guided" else g
        return out, grad
    return relu


def _unflatten(outs: Sequence[torch.Tensor]):
    return outs[0] if len(outs) == 1 else tuple(outs)


class _Pass:
    """What a tapped pass shares between its head (up to the layer) and its tail."""

    def __init__(self, layer: str, names: list[str] | None):
        self.layer, self.names = layer, names
        self.value: torch.Tensor | None = None  # the layer's output (torch layout)
        self.state: Any = None                  # the backend's record of the head pass


def _engine(f: KerasFunction):
    return {"tensorflow": _TFEngine, "jax": _JaxEngine, "torch": _TorchEngine}[f.backend](f)


def _as_model_inputs(xs: Sequence[Any], names: list[str] | None) -> Any:
    if names is not None:
        return dict(zip(names, xs))
    return list(xs) if len(xs) > 1 else xs[0]


def _first(keras, out: Any) -> Any:
    flat = keras.tree.flatten(out)
    return flat[0] if flat else out


def _replace_first(keras, out: Any, new: Any) -> Any:
    flat = keras.tree.flatten(out)
    if len(flat) <= 1:
        return new
    return keras.tree.pack_sequence_as(out, [new] + list(flat[1:]))


class _TFEngine:
    """Backward by ``tf.GradientTape``: a persistent tape per pass, watching only the inputs
    that need gradients and the tapped layer's output (no weight gradients)."""

    def __init__(self, f: KerasFunction):
        import tensorflow as tf

        self.f, self.tf, self.keras = f, tf, f.adapter.keras

    def _tf(self, t: torch.Tensor):
        return self.tf.convert_to_tensor(self.f.to_keras_layout(t.detach()).cpu().numpy())

    def _torch(self, v) -> torch.Tensor:
        return self.f.to_torch_layout(torch.from_numpy(np.array(v)))

    def _back(self, v: Any, like: torch.Tensor) -> torch.Tensor:
        """A gradient w.r.t. a torch input (``None`` -> zeros), in the torch layout."""
        if v is None:
            return torch.zeros_like(like)
        return self.f.to_torch_layout(torch.from_numpy(np.asarray(v.numpy()))).to(like.device, like.dtype)

    def _run(self, xs, names, *, layer=None, replacement=None, keep: dict | None = None, watch=()):
        tape = self.tf.GradientTape(persistent=True, watch_accessed_variables=False)
        with tape:
            txs = [self._tf(x) for x in xs]
            for i in watch:
                tape.watch(txs[i])
            replace = None
            if layer is not None:
                def replace_fn(out):
                    new = _first(self.keras, out) if replacement is None else replacement
                    tape.watch(new)
                    keep["value"] = new
                    return _replace_first(self.keras, out, new)
                replace = {layer: replace_fn}
            rec = self.f.adapter.record(_as_model_inputs(txs, names), [layer] if layer else None, replace=replace)
            outs = self.keras.tree.flatten(rec.output)
        return tape, txs, outs

    def call(self, xs, names):
        grad_in = [i for i, x in enumerate(xs) if x.requires_grad]
        if not grad_in:  # nothing to differentiate: no tape
            return [self._torch(o) for o in self._predict(xs, names)]
        return _Foreign.apply(lambda inputs: self._gradient_run(inputs, names, grad_in), *xs)

    def _gradient_run(self, inputs, names, grad_in):
        """Compiled forward and VJP where the model traces; else an eager tape."""
        if self.f.compile_forward:
            outs = self._predict(inputs, names)  # clears compile_forward if the model cannot be traced
            if self.f.compile_forward:
                return self._compiled_vjp(inputs, names, grad_in, outs)
        tape, txs, outs = self._run(inputs, names, watch=grad_in)

        def vjp(grads):
            srcs = [txs[i] for i in grad_in]
            gs = tape.gradient(outs, srcs, output_gradients=[self._out_grad(g, o) for g, o in zip(grads, outs)])
            full = [None] * len(inputs)
            for i, g in zip(grad_in, gs):
                full[i] = self._back(g, inputs[i])
            return full
        return [self._torch(o) for o in outs], vjp

    def _out_grad(self, g: torch.Tensor | None, o):
        if g is None:
            return self.tf.zeros_like(o)
        return self.tf.convert_to_tensor(g.detach().cpu().numpy())

    def _compiled_vjp(self, inputs, names, grad_in, outs):
        """The input VJP through the model's cached ``tf.function`` (it runs the forward again
        inside its own trace: cheaper than an eager tape)."""
        comp = compiled(self.f.keras_model, self.tf)
        txs = [self._tf(x) for x in inputs]

        def vjp(grads):
            cots = [self._out_grad(g, o) for g, o in zip(grads, outs)]
            gs = comp.vjp(names)(txs, cots)
            return [self._back(gs[i], x) if i in grad_in else None for i, x in enumerate(inputs)]
        return [self._torch(o) for o in outs], vjp

    def _predict(self, xs, names):
        if self.f.compile_forward:
            try:
                return comp_flatten(self.keras, compiled(self.f.keras_model, self.tf).predict(
                    _as_model_inputs([self._tf(x) for x in xs], names)))
            except Exception:  # noqa: BLE001 - a model that cannot be traced runs eagerly
                self.f.compile_forward = False
        txs = [self._tf(x) for x in xs]
        return self.keras.tree.flatten(self.f.adapter.record(_as_model_inputs(txs, names), None).output)

    def head(self, xs, pass_: _Pass):
        grad_in = [i for i, x in enumerate(xs) if x.requires_grad]

        def run(inputs):
            keep: dict = {}
            tape, txs, outs = self._run(inputs, pass_.names, layer=pass_.layer, keep=keep, watch=grad_in)
            pass_.state = (tape, txs, outs, keep["value"])
            value = self._torch(keep["value"])
            pass_.value = value

            def vjp(grads):
                gs = tape.gradient(keep["value"], [txs[i] for i in grad_in],
                                   output_gradients=self.tf.convert_to_tensor(
                                       self.f.to_keras_layout(grads[0]).cpu().numpy()))
                full = [None] * len(inputs)
                for i, g in zip(grad_in, gs):
                    full[i] = self._back(g, inputs[i])
                return full
            return [value], vjp

        (value,) = _Foreign.apply(run, *xs)
        return value

    def tail(self, xs, value: torch.Tensor, pass_: _Pass):
        tape, txs, outs, kept = pass_.state
        grad_in = [i for i, x in enumerate(xs) if x.requires_grad]
        reuse = not grad_in and value.shape == pass_.value.shape and torch.equal(value.detach(), pass_.value)

        def run(inputs):
            *xin, v = inputs
            if reuse:  # the hook kept the value: the head's pass already computed the output from it
                t, src, o = tape, kept, outs
            else:  # the layer's output was replaced: run the model again with the replacement
                keep: dict = {}
                t, _, o = self._run(xin, pass_.names, layer=pass_.layer, replacement=self._tf(v), keep=keep)
                src = keep["value"]

            def vjp(grads):
                g = t.gradient(o, src, output_gradients=[self._out_grad(gr, oo) for gr, oo in zip(grads, o)])
                return [None] * len(xin) + [self._back(g, v)]
            return [self._torch(oo) for oo in o], vjp

        return _Foreign.apply(run, *xs, value)


def comp_flatten(keras, out: Any) -> list:
    return keras.tree.flatten(out)


class CompiledModel:
    """``tf.function`` s of one Keras model: the inference forward and the input VJP, traced
    once per input signature and reused by every later call on the same model (a trace costs
    tens of milliseconds, more than a small model's whole explanation). Held in a weak cache
    keyed by the model: nothing is attached to the model, and the entry goes with it."""

    def __init__(self, model: Any, tf: Any):
        # a weak reference: the cache entry (this object) must not keep its key, the model, alive
        self.model, self.tf = weakref.ref(model), tf
        ref = self.model
        self.predict = tf.function(lambda x: ref()(x, training=False), reduce_retracing=True)
        self._vjps: dict = {}

    def vjp(self, names: list[str] | None) -> Callable:
        key = None if names is None else tuple(names)
        if key not in self._vjps:
            tf, ref = self.tf, self.model

            def vjp(xs, cots):
                with tf.GradientTape(watch_accessed_variables=False) as tape:
                    tape.watch(xs)
                    outs = tf.nest.flatten(ref()(_as_model_inputs(list(xs), names), training=False))
                return tape.gradient(outs, xs, output_gradients=cots,
                                     unconnected_gradients=tf.UnconnectedGradients.ZERO)
            self._vjps[key] = tf.function(vjp, reduce_retracing=True)
        return self._vjps[key]


_COMPILED: "weakref.WeakKeyDictionary[Any, CompiledModel]" = weakref.WeakKeyDictionary()


def compiled(model: Any, tf: Any) -> CompiledModel:
    """The model's :class:`CompiledModel` (made on first use)."""
    try:
        return _COMPILED[model]
    except KeyError:
        _COMPILED[model] = c = CompiledModel(model, tf)
        return c
    except TypeError:  # a model that cannot be weakly referenced: run eagerly
        raise RuntimeError("no compiled forward for this model") from None


class _JaxEngine:
    """Backward by ``jax.vjp`` over the Keras model's call (head and tail are separate passes)."""

    def __init__(self, f: KerasFunction):
        import jax

        self.f, self.jax, self.keras = f, jax, f.adapter.keras

    def _j(self, t: torch.Tensor):
        return self.jax.numpy.asarray(self.f.to_keras_layout(t.detach()).cpu().numpy())

    def _t(self, v, keras_layout: bool = True) -> torch.Tensor:
        t = torch.from_numpy(np.array(v))
        return self.f.to_torch_layout(t) if keras_layout else t

    def _vjp(self, fn, inputs, grad_in):
        """Outputs of ``fn(*jax inputs)`` and a vjp returning torch gradients per input."""
        args = [self._j(x) for x in inputs]
        outs, pull = self.jax.vjp(lambda *a: fn(*a), *args)

        def vjp(grads):
            cot = [self.jax.numpy.zeros_like(o) if g is None else self._j(g) for g, o in zip(grads, outs)]
            gs = pull(tuple(cot))
            return [self._t(g).to(x.device, x.dtype) if i in grad_in else None
                    for i, (g, x) in enumerate(zip(gs, inputs))]
        return outs, vjp

    def _model(self, names, layer=None, replacement=None, keep=None):
        def fn(*a):
            n_in = len(a) - (1 if replacement else 0)
            replace = None
            if layer is not None:
                def replace_fn(out):
                    new = a[-1] if replacement else _first(self.keras, out)
                    keep["value"] = new
                    return _replace_first(self.keras, out, new)
                replace = {layer: replace_fn}
            rec = self.f.adapter.record(_as_model_inputs(list(a[:n_in]), names), [layer] if layer else None,
                                        replace=replace)
            return rec.output
        return fn

    def call(self, xs, names):
        grad_in = [i for i, x in enumerate(xs) if x.requires_grad]

        def run(inputs):
            fn = self._model(names)
            outs, vjp = self._vjp(lambda *a: tuple(self.keras.tree.flatten(fn(*a))), inputs, grad_in)
            return [self._t(o) for o in outs], vjp
        return _Foreign.apply(run, *xs)

    def head(self, xs, pass_: _Pass):
        grad_in = [i for i, x in enumerate(xs) if x.requires_grad]

        def run(inputs):
            keep: dict = {}
            fn = self._model(pass_.names, layer=pass_.layer, keep=keep)
            outs, vjp = self._vjp(lambda *a: (fn(*a), keep["value"])[1:], inputs, grad_in)
            value = self._t(outs[0])
            pass_.value = value
            return [value], vjp
        (value,) = _Foreign.apply(run, *xs)
        return value

    def tail(self, xs, value, pass_: _Pass):
        grad_in = [i for i, x in enumerate(xs) if x.requires_grad] + [len(xs)]

        def run(inputs):
            keep: dict = {}
            fn = self._model(pass_.names, layer=pass_.layer, replacement=True, keep=keep)
            outs, vjp = self._vjp(lambda *a: tuple(self.keras.tree.flatten(fn(*a))), inputs, grad_in)
            return [self._t(o) for o in outs], vjp
        return _Foreign.apply(run, *xs, value)


class _TorchEngine:
    """Keras on its torch backend is torch code: autograd runs through it directly."""

    def __init__(self, f: KerasFunction):
        self.f, self.keras = f, f.adapter.keras

    def _in(self, xs):
        return [self.f.to_keras_layout(x) for x in xs]

    def call(self, xs, names):
        rec = self.f.adapter.record(_as_model_inputs(self._in(xs), names), None)
        return [self.f.to_torch_layout(o) for o in self.keras.tree.flatten(rec.output)]

    def head(self, xs, pass_: _Pass):
        rec = self.f.adapter.record(_as_model_inputs(self._in(xs), pass_.names), [pass_.layer])
        pass_.value = self.f.to_torch_layout(rec[pass_.layer])
        return pass_.value

    def tail(self, xs, value, pass_: _Pass):
        new = self.f.to_keras_layout(value)
        rec = self.f.adapter.record(_as_model_inputs(self._in(xs), pass_.names), [pass_.layer],
                                    replace={pass_.layer: lambda out: _replace_first(self.keras, out, new)})
        return [self.f.to_torch_layout(o) for o in self.keras.tree.flatten(rec.output)]


# -- inputs and results in the user's layout ------------------------------------------------------
def to_torch_inputs(f: KerasFunction, inputs: Any) -> Any:
    """Keras-style inputs (numpy, backend tensors; a list or dict for several inputs) as torch
    tensors in the torch-side layout (images channels-first)."""
    def one(x):
        if torch.is_tensor(x):
            t = x.detach()
        else:
            try:
                t = torch.from_numpy(np.asarray(f.adapter.to_numpy(x)))
            except Exception as exc:
                raise InputShapeError(f"Cannot read model inputs of type {type(x).__name__}; pass numpy arrays.") from exc
        if t.dtype == torch.float64:
            t = t.float()
        return f.to_torch_layout(t)

    if isinstance(inputs, dict):
        return {k: one(v) for k, v in inputs.items()}
    if isinstance(inputs, (list, tuple)):
        return tuple(one(v) for v in inputs)
    return one(inputs)


def to_user_layout(f: KerasFunction, result: Any) -> Any:
    """An :class:`~neuralscope.attribution.result.Attribution` of ``f`` with its input-shaped
    maps and inputs moved back to the Keras model's layout."""
    if not f.channels_last:
        return result
    back = lambda a: np.moveaxis(a, 1, -1) if a is not None and np.ndim(a) >= f.moved_rank else a
    moved = False
    for part_attr in ("attributions", "inputs"):
        value = getattr(result, part_attr)
        if isinstance(value, tuple):
            setattr(result, part_attr, tuple(back(v) for v in value))
            moved = moved or any(np.ndim(v) >= f.moved_rank for v in value)
        elif value is not None:
            moved = moved or np.ndim(value) >= f.moved_rank
            setattr(result, part_attr, back(value))
    if "baseline" in result.extras and not isinstance(result.extras["baseline"], tuple):
        result.extras["baseline"] = back(result.extras["baseline"])
    if moved:
        result.layout = "channels_last"
    return result


@contextlib.contextmanager
def torch_view(model: Any, inputs: Any = None) -> Iterator[tuple[Any, Any]]:
    """``(torch model, torch inputs)`` for any model: a PyTorch module and its inputs as they
    are; a Keras model as a :class:`KerasFunction` (inside the Keras guard) and its inputs in
    the torch-side layout."""
    if not is_keras_model(model) or isinstance(model, KerasFunction):
        yield model, inputs
        return
    f = KerasFunction(model)
    with f.preserved():
        yield f, (None if inputs is None else to_torch_inputs(f, inputs))


def options_to_torch_layout(f: KerasFunction, name: str, value: Any) -> Any:
    """A method option given in the Keras model's layout, in the torch-side layout: input-shaped
    ``baseline`` arrays (one per input for several inputs, with or without the batch
    dimension) and SmoothGrad's ``draws`` ``(n_samples, batch, H, W, C)``."""
    if not f.channels_last or isinstance(value, (str, int, float, type(None))):
        return value
    if name == "baseline":
        if isinstance(value, (list, tuple, dict)):
            return to_torch_inputs(f, value)
        arr = value if torch.is_tensor(value) else np.asarray(value)
        if arr.ndim == f.moved_rank - 1:  # one image (H, W, C) or sequence (T, C) for every example
            return to_torch_inputs(f, arr[None])[0]
        return to_torch_inputs(f, arr)
    if name == "draws":
        arr = value.detach().cpu().numpy() if torch.is_tensor(value) else np.asarray(value)
        return torch.from_numpy(np.ascontiguousarray(np.moveaxis(arr, -1, 2))) if arr.ndim >= f.moved_rank + 1 else value
    return value


def to_torch_layout_attribution(f: KerasFunction, attribution: Any) -> Any:
    """A channels-last :class:`~neuralscope.attribution.result.Attribution` (or array) as the
    torch side sees it (channels-first copy); anything else as it is."""
    from ..attribution.result import Attribution

    if isinstance(attribution, Attribution) and attribution.layout == "channels_last":
        a = np.asarray(attribution.attributions)
        copy = Attribution(np.moveaxis(a, -1, 1) if a.ndim >= f.moved_rank else a,
                           None if attribution.inputs is None else np.moveaxis(attribution.inputs, -1, 1),
                           attribution.method, targets=attribution.targets, outputs=attribution.outputs,
                           metrics=attribution.metrics, signed=attribution.signed, layer=attribution.layer)
        return copy
    if isinstance(attribution, np.ndarray) and f.channels_last and attribution.ndim >= f.moved_rank:
        return np.moveaxis(attribution, -1, 1)
    return attribution


def keras_models_too(fn: Callable | None = None, *, inputs: bool = True) -> Callable:
    """Let ``fn(model, inputs, *rest)``, written for PyTorch, take a Keras model: it then runs on
    the model's :class:`KerasFunction` inside the Keras guard, with inputs (and a channels-last
    attribution given as the next argument) in the torch-side layout. ``inputs=False`` for
    functions whose second argument is not model inputs (feature visualization)."""
    import functools

    if fn is None:
        return functools.partial(keras_models_too, inputs=inputs)

    @functools.wraps(fn)
    def wrapper(model, second, *rest, **kwargs):
        if not is_keras_model(model) or isinstance(model, KerasFunction):
            return fn(model, second, *rest, **kwargs)
        if not inputs:
            with torch_view(model) as (f, _):
                return fn(f, second, *rest, **kwargs)
        with torch_view(model, second) as (f, x):
            if rest:
                rest = (to_torch_layout_attribution(f, rest[0]), *rest[1:])
            if "attribution" in kwargs:
                kwargs["attribution"] = to_torch_layout_attribution(f, kwargs["attribution"])
            return fn(f, x, *rest, **kwargs)
    return wrapper


__all__ = ["KerasFunction", "keras_models_too", "options_to_torch_layout", "to_torch_layout_attribution", "LayerPoint", "to_torch_inputs", "to_user_layout", "torch_view"]
