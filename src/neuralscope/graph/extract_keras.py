"""The Keras reader: ``graph(keras_model)`` from Keras's own layer graph, the picture
``keras.utils.plot_model`` draws, without Graphviz or pydot.

Sequential and functional models carry their graph: every call of a layer is a Keras
``Node`` whose input and output tensors link it to the others. Each call becomes a
``module`` node (named by the layer's qualified name, ``"inner/dense"``; a shared layer's
second call is ``"shared_1"`` and counts no parameters again), each ``keras.ops`` function
used between layers an ``op`` node, and each nested model a group that holds the nodes of
its own graph (group paths join nested model names with ``.`` as for PyTorch modules; node
``module`` names keep Keras's ``/``). Shapes come from the graph (batch ``None``); with
example inputs they are replaced by the shapes of a real forward pass, recorded per layer
call. Parameter counts are Keras's own (``count_params``; trainable / non-trainable split as
``model.summary()`` shows it).

Subclassed models have no graph: their layers are read while a real forward runs on the
example inputs (``method="keras-calls"``); an edge is drawn where a layer's input is the very
tensor another layer returned (computation written between layers in ``call`` breaks that
link, and the layers are then drawn unconnected).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..adapters.keras import KerasAdapter
from ..errors import InputShapeError
from .model import Graph, Node, TensorMeta

#: Configuration keys shown as node attributes when a layer has them.
_ATTR_KEYS = ("units", "filters", "kernel_size", "strides", "padding", "dilation_rate", "activation",
              "pool_size", "rate", "axis", "epsilon", "momentum", "depth_multiplier", "use_bias", "num_heads",
              "key_dim", "output_dim", "input_dim", "return_sequences", "target_shape", "size", "groups")


def _meta(t: Any) -> TensorMeta:
    shape = getattr(t, "shape", None)
    dtype = getattr(t, "dtype", None)
    return TensorMeta(None if shape is None else tuple(None if d is None else int(d) for d in shape),
                      None if dtype is None else str(getattr(dtype, "name", dtype)))


def _attrs(layer: Any) -> dict:
    try:
        cfg = layer.get_config()
    except Exception:  # noqa: BLE001 - custom layers without a config
        return {}
    out = {}
    for k in _ATTR_KEYS:
        v = cfg.get(k)
        if v is None or isinstance(v, dict):
            continue
        out[k] = list(v) if isinstance(v, tuple) else v
    return out


def layer_params(layer: Any) -> tuple[int, int]:
    """``(total, trainable)`` of a layer's weights, as ``model.summary()`` counts them."""
    tr = sum(int(np.prod(tuple(v.shape), dtype=np.int64)) for v in layer.trainable_weights)
    nt = sum(int(np.prod(tuple(v.shape), dtype=np.int64)) for v in layer.non_trainable_weights)
    return tr + nt, tr


def _functional_of(model: Any) -> Any:
    """The functional graph of a Sequential or functional model, or ``None`` (subclassed)."""
    if getattr(model, "_nodes_by_depth", None) is not None and getattr(model, "_inputs", None) is not None:
        return model
    inner = getattr(model, "_functional", None)
    return inner if inner is not None and getattr(inner, "_nodes_by_depth", None) is not None else None


class _Reader:
    def __init__(self, adapter: KerasAdapter, real_shapes: dict[str, list] | None, batch: int | None):
        self.a, self.keras = adapter, adapter.keras
        self.real = real_shapes or {}
        self.batch = batch
        self.metas: dict[int, TensorMeta] = {}  # id(KerasTensor) -> what flows on it
        self.calls: dict[str, int] = {}
        self.counted: set[int] = set()
        model = adapter.model
        total, trainable = layer_params(model)
        self.g = Graph(model.name, "keras", total_params=total, trainable_params=trainable)
        self.g.set_group("", type(model).__name__, total, trainable)

    def _unique(self, base: str) -> str:
        k = self.calls.get(base, 0)
        self.calls[base] = k + 1
        return base if k == 0 else f"{base}_{k}"

    def _count(self, layer: Any) -> tuple[int, int]:
        if id(layer) in self.counted:
            return 0, 0
        self.counted.add(id(layer))
        return layer_params(layer)

    def _meta(self, t: Any) -> TensorMeta:
        """What flows on a symbolic tensor: the real shape where one was recorded, else Keras's
        (with a known batch size filled in for the batch dimension)."""
        if id(t) in self.metas:
            return self.metas[id(t)]
        m = _meta(t)
        if self.batch is not None and m.shape and m.shape[0] is None:
            m = TensorMeta((self.batch, *m.shape[1:]), m.dtype)
        return m

    def _outputs(self, qualified: str, call: int, symbolic: list) -> list[TensorMeta]:
        metas = [self._meta(t) for t in symbolic]
        shapes = self.real.get(qualified)
        if shapes is not None and call < len(shapes) and metas:
            metas[0] = TensorMeta(tuple(shapes[call]), metas[0].dtype)
        for t, m in zip(symbolic, metas):
            self.metas[id(t)] = m
        return metas

    def read_functional(self, fn: Any, prefix: str, group: str, producers: dict[int, str]) -> list[str]:
        """Add the nodes of ``fn``'s graph; ``producers`` maps ``id(KerasTensor)`` of its inputs
        to node ids. Returns the node ids producing ``fn.outputs``."""
        g = self.g
        for depth in sorted(fn._nodes_by_depth, reverse=True):
            for node in fn._nodes_by_depth[depth]:
                op = node.operation
                if op is None or node.is_input:
                    continue
                ins = list(node.input_tensors)
                if any(id(t) not in producers for t in ins):
                    continue
                qualified = self.a.join(prefix, op.name)
                if isinstance(op, self.keras.Model) and _functional_of(op) is not None:
                    sub = _functional_of(op)
                    sub_group = f"{group}.{op.name}" if group else op.name
                    total, trainable = layer_params(op)
                    g.set_group(sub_group, type(op).__name__, total, trainable)
                    inner = {}
                    for x, t in zip(sub.inputs, ins):  # the nested graph starts where the outer call's inputs are
                        inner[id(x)] = producers[id(t)]
                        self.metas[id(x)] = self._meta(t)
                    outs = self.read_functional(sub, qualified, sub_group, inner)
                    for t, src, x in zip(node.outputs, outs, sub.outputs):
                        producers[id(t)] = src
                        self.metas[id(t)] = self._meta(x)
                    continue
                is_layer = isinstance(op, self.keras.layers.Layer)
                nid = self._unique(qualified)
                call = self.calls[qualified] - 1
                params, trainable = self._count(op) if is_layer else (0, 0)
                n = g.add_node(Node(nid, "module" if is_layer else "op", type(op).__name__, type(op).__name__,
                                    group=group, module=qualified if is_layer else None,
                                    inputs=[self._meta(t) for t in ins],
                                    outputs=self._outputs(qualified, call, list(node.outputs)),
                                    params=params, trainable_params=trainable,
                                    attrs=_attrs(op) if is_layer else {}))
                if call:
                    n.attrs["shared"] = f"call {call + 1} of {qualified}"
                for t in ins:
                    g.add_edge(producers[id(t)], nid, self._meta(t))
                for t in node.outputs:
                    producers[id(t)] = nid
        return [producers[id(t)] for t in fn.outputs]

    def read_model(self) -> Graph:
        model, g = self.a.model, self.g
        fn = _functional_of(model)
        producers: dict[int, str] = {}
        for t in fn.inputs:
            history = getattr(t, "_keras_history", None)
            name = getattr(history[0], "name", None) if history else None
            name = name or getattr(t, "name", None) or "input"
            nid = self._unique(f"input:{name}")
            g.add_node(Node(nid, "input", name, "input", outputs=self._outputs("", 1 << 30, [t])))
            producers[id(t)] = nid
        outs = self.read_functional(fn, "", "", producers)
        out_names = [getattr(getattr(t, "_keras_history", [None])[0], "name", None) or f"output_{i}"
                     for i, t in enumerate(fn.outputs)]
        for src, t, name in zip(outs, fn.outputs, out_names):
            meta = self._meta(t)
            nid = self._unique(f"output:{name}")
            g.add_node(Node(nid, "output", str(name), "output", inputs=[meta], outputs=[meta]))
            g.add_edge(src, nid, meta)
        return g


def _real_shapes(adapter: KerasAdapter, example_inputs: Any) -> dict[str, list]:
    """Output shape of every call of every layer in a real forward on ``example_inputs``."""
    names = [i.name for i in adapter.named_layers()]
    rec = adapter.record(example_inputs, names)
    return {n: [tuple(int(d) for d in t.shape) for t in calls] for n, calls in rec.outputs.items()}


def _read_calls(adapter: KerasAdapter, example_inputs: Any) -> Graph:
    """Subclassed models: layer calls in the order a real forward makes them."""
    model = adapter.model
    total, trainable = layer_params(model)
    g = Graph(model.name, "keras-calls", total_params=total, trainable_params=trainable)
    g.groups[""].type = type(model).__name__
    leaves = [i for i in adapter.named_layers() if i.is_leaf]
    calls: list[tuple[str, list, Any]] = []
    keras = adapter.keras
    x = adapter.normalize_inputs(example_inputs)
    rec = adapter.record(x, [i.name for i in leaves],
                         on_call=lambda name, args, kwargs, out: calls.append((name, keras.tree.flatten((args, kwargs)), out)))
    out = rec.output
    producers: dict[int, str] = {}
    for i, t in enumerate(keras.tree.flatten(x.args)):
        nid = f"input:{i}"
        g.add_node(Node(nid, "input", f"input {i}", "input", outputs=[_meta(t)]))
        producers[id(t)] = nid
    counted: set[str] = set()
    seen: dict[str, int] = {}
    layers = {i.name: i.layer for i in leaves}
    for name, ins, result in calls:
        k = seen.get(name, 0)
        seen[name] = k + 1
        nid = name if k == 0 else f"{name}_{k}"
        params, tr = (0, 0) if name in counted else layer_params(layers[name])
        counted.add(name)
        tensors = [t for t in ins if hasattr(t, "shape")]
        g.add_node(Node(nid, "module", type(layers[name]).__name__, type(layers[name]).__name__,
                        group=".".join(name.split("/")[:-1]), module=name, inputs=[_meta(t) for t in tensors],
                        outputs=[_meta(t) for t in keras.tree.flatten(result)], params=params, trainable_params=tr,
                        attrs=_attrs(layers[name])))
        for t in tensors:
            if id(t) in producers:
                g.add_edge(producers[id(t)], nid, _meta(t))
        for t in keras.tree.flatten(result):
            producers[id(t)] = nid
    for i, t in enumerate(keras.tree.flatten(out)):
        nid = f"output:{i}"
        g.add_node(Node(nid, "output", f"output {i}", "output", inputs=[_meta(t)], outputs=[_meta(t)]))
        if id(t) in producers:
            g.add_edge(producers[id(t)], nid, _meta(t))
    return g


KERAS_FILE_SUFFIXES = (".keras", ".h5", ".hdf5")


def is_keras_file(path: Any) -> bool:
    """A ``.keras`` / ``.h5`` file or a TensorFlow SavedModel directory."""
    from pathlib import Path

    p = Path(path)
    return p.suffix.lower() in KERAS_FILE_SUFFIXES or (p.is_dir() and (p / "saved_model.pb").exists())


def load_keras_file(path: Any) -> Any:
    """The Keras model saved at ``path`` (``.keras`` or legacy ``.h5``; loaded without its
    training configuration and in Keras's safe mode), or one sentence saying why not."""
    from pathlib import Path

    from ..errors import FileFormatError
    from ..adapters.keras import keras_module

    p = Path(path)
    if p.is_dir():
        raise FileFormatError(
            f"{p.name} is a TensorFlow SavedModel directory; Keras 3 loads these only as one opaque "
            "keras.layers.TFSMLayer without its layers, so there is no layer graph to draw: save the model "
            "with model.save('model.keras') (or export it to ONNX) and open that file instead.")
    if not p.is_file():
        raise FileFormatError(f"No Keras model file at {str(p)!r}.")
    keras = keras_module()
    try:
        return keras.saving.load_model(str(p), compile=False)
    except Exception as exc:  # zip, HDF5 and deserialisation errors of all kinds
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise FileFormatError(f"{p.name} could not be loaded as a Keras model ({type(exc).__name__}: "
                              f"{first[:200]}).") from exc


def read_keras(model: Any, example_inputs: Any = None) -> Graph:
    """The :class:`Graph` of a Keras model (see the module docstring).

    Example:
        >>> import keras
        >>> m = keras.Sequential([keras.Input((8,), name="x"), keras.layers.Dense(4, name="hidden"),
        ...                       keras.layers.Dense(2, name="out")], name="mlp")
        >>> g = read_keras(m)
        >>> [n.id for n in g.nodes.values()], g.total_params == m.count_params()
        (['input:x', 'hidden', 'out', 'output:out'], True)
    """
    adapter = KerasAdapter(model)
    fn = _functional_of(model)
    if fn is None:
        if example_inputs is None:
            raise InputShapeError(
                f"The subclassed Keras model {model.name!r} has no layer graph of its own; pass example_inputs "
                "(a batch it accepts) so its layers can be read from a real forward pass.")
        return _read_calls(adapter, example_inputs)
    if example_inputs is None:
        return _Reader(adapter, None, None).read_model()
    return _Reader(adapter, _real_shapes(adapter, example_inputs), adapter.batch_size_of(example_inputs)).read_model()


__all__ = ["KERAS_FILE_SUFFIXES", "is_keras_file", "layer_params", "load_keras_file", "read_keras"]
