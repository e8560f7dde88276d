"""``summary(keras_model)``: the table ``model.summary()`` prints, plus multiply-accumulates
and output memory, as the same :class:`~neuralscope.graph.summary.Summary` PyTorch models get.

Rows come from the Keras graph reader (:mod:`neuralscope.graph.extract_keras`): one per layer
call in execution order, a nested model as a row with its layers below it. Parameter totals
are Keras's own, so ``total_params``, ``trainable_params`` and ``frozen_params`` equal the
"Total", "Trainable" and "Non-trainable params" lines of ``model.summary()``.

Multiply-accumulates follow the PyTorch summary's definition (products of weights with
inputs; bias additions, normalisation, activations and pooling cost none):

* ``Dense``: kernel size x every output row; ``EinsumDense``: the product of the sizes of
  all letters of its equation (as for ``torch.einsum``).
* ``ConvND`` / ``DepthwiseConvND``: kernel size x batch x output positions; ``SeparableConvND``:
  its depthwise and pointwise parts; ``ConvNDTranspose``: kernel size x batch x input positions.
* ``LSTM`` / ``GRU`` / ``SimpleRNN``: (kernel + recurrent kernel) x batch x time steps.
* ``MultiHeadAttention``: its four projections plus ``QK^T`` and ``AV``.

Without example inputs the batch dimension counts as 1 (MACs per example).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .extract_keras import layer_params, read_keras
from .model import Graph, Node
from .summary import Row, Summary


def _shape(meta_shape: tuple | None, batch: int = 1) -> tuple:
    if meta_shape is None:
        return ()
    return tuple(batch if d is None else int(d) for d in meta_shape)


def _kernel_size(layer: Any, name: str = "kernel") -> int:
    v = getattr(layer, name, None)
    return int(np.prod(tuple(v.shape), dtype=np.int64)) if v is not None and hasattr(v, "shape") else 0


def layer_macs(layer: Any, inputs: list[tuple], outputs: list[tuple]) -> int:
    """Multiply-accumulates of one call of a Keras layer (see the module docstring)."""
    cls = type(layer).__name__
    out = outputs[0] if outputs else ()
    x = inputs[0] if inputs else ()
    if not out:
        return 0
    if cls == "Dense":
        return _kernel_size(layer) * math.prod(out[:-1])
    if cls == "EinsumDense":
        return _einsum_macs(layer, x, out)
    if cls.startswith("SeparableConv"):
        spatial = math.prod(out[1:-1]) if len(out) > 2 else 1
        depth = _kernel_size(layer, "depthwise_kernel") * out[0] * spatial
        return depth + _kernel_size(layer, "pointwise_kernel") * out[0] * spatial
    if cls.startswith("Conv") and cls.endswith("Transpose"):
        spatial = math.prod(x[1:-1]) if len(x) > 2 else 1
        return _kernel_size(layer) * (x[0] if x else 1) * spatial
    if cls.startswith(("Conv", "DepthwiseConv")):
        channels_last = getattr(layer, "data_format", "channels_last") == "channels_last"
        spatial = math.prod(out[1:-1] if channels_last else out[2:])
        return _kernel_size(layer) * out[0] * spatial
    if cls in ("LSTM", "GRU", "SimpleRNN"):
        cell = getattr(layer, "cell", layer)
        steps = x[1] if len(x) == 3 else 1
        return (_kernel_size(cell) + _kernel_size(cell, "recurrent_kernel")) * x[0] * steps
    if cls == "MultiHeadAttention":
        return _mha_macs(layer, inputs, out)
    return 0


def _einsum_macs(layer: Any, x: tuple, out: tuple) -> int:
    """An einsum of input and kernel costs the product of the sizes of all its letters."""
    eq = str(getattr(layer, "equation", "")).replace(" ", "")
    kernel = getattr(layer, "kernel", None)
    if "->" not in eq or "," not in eq or kernel is None or "." in eq:
        return 0
    (lhs_x, lhs_k), rhs = eq.split("->")[0].split(","), eq.split("->")[1]
    sizes: dict[str, int] = {}
    for spec, shape in ((lhs_x, x), (lhs_k, tuple(kernel.shape)), (rhs, out)):
        for c, d in zip(spec, shape):
            sizes[c] = int(d)
    return math.prod(sizes.values())


def _mha_macs(layer: Any, inputs: list[tuple], out: tuple) -> int:
    q = inputs[0]
    v = inputs[1] if len(inputs) > 1 else q
    k = inputs[2] if len(inputs) > 2 else v
    b, L, S = q[0], math.prod(q[1:-1]), math.prod(k[1:-1])
    heads, kd = layer.num_heads, layer.key_dim
    vd = layer.value_dim or kd
    proj = (b * L * q[-1] * heads * kd + b * S * k[-1] * heads * kd + b * S * v[-1] * heads * vd
            + b * L * heads * vd * out[-1])
    return int(proj + b * heads * L * S * (kd + vd))


def _bytes_of(shape: tuple, dtype: str | None) -> int:
    try:
        size = np.dtype(dtype or "float32").itemsize
    except TypeError:
        size = 4
    return math.prod(shape) * size if shape else 0


def keras_summary(model: Any, example_inputs: Any = None) -> Summary:
    """The summary of a Keras model (see the module docstring).

    Example:
        >>> import keras
        >>> m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, name="hidden"),
        ...                       keras.layers.Dense(2, name="out")], name="mlp")
        >>> s = keras_summary(m)
        >>> s.total_params == m.count_params(), [(r.name, r.macs) for r in s.rows]
        (True, [('', 40), ('hidden', 32), ('out', 8)])
    """
    from ..adapters.keras import KerasAdapter

    adapter = KerasAdapter(model)
    g: Graph = read_keras(model, example_inputs)
    batch = adapter.batch_size_of(example_inputs) if example_inputs is not None else 1
    layers = {i.name: i.layer for i in adapter.named_layers()}
    root = Row("", type(model).__name__, 0, [], g.total_params, g.trainable_params, 0, 0, 0, False)
    rows, open_groups = [root], {"": root}
    calls: dict[str, int] = {}
    for node in g.nodes.values():
        if node.kind not in ("module", "op"):
            continue
        parent = _group_row(g, node.group, open_groups, rows)
        row = _node_row(node, layers, batch, parent.depth + 1, calls)
        rows.append(row)
        for path, grp_row in open_groups.items():  # MACs and memory add up through every enclosing group
            if path == "" or node.group == path or node.group.startswith(path + "."):
                grp_row.macs += row.macs
    for path, grp_row in open_groups.items():
        if path:
            last = [r for r in rows if r.name.startswith(grp_row.name + "/")]
            grp_row.output_shapes = last[-1].output_shapes if last else []
    outputs = [n for n in g.nodes.values() if n.kind == "output"]
    root.output_shapes = [_shape(n.outputs[0].shape, batch) for n in outputs if n.outputs]
    inputs = [n for n in g.nodes.values() if n.kind == "input"]
    activation = sum(r.memory for r in rows if r.leaf)
    param_memory = sum(_bytes_of(tuple(v.shape), str(getattr(v.dtype, "name", v.dtype))) for v in model.weights)
    return Summary(model.name, rows, g.total_params, g.trainable_params, root.macs, activation, param_memory,
                   [_shape(n.outputs[0].shape, batch) for n in inputs if n.outputs])


def _group_row(g: Graph, path: str, open_groups: dict[str, Row], rows: list[Row]) -> Row:
    if path in open_groups:
        return open_groups[path]
    parent_path = path.rsplit(".", 1)[0] if "." in path else ""
    parent = _group_row(g, parent_path, open_groups, rows)
    grp = g.groups[path]
    name = path.replace(".", "/")
    row = Row(name, grp.type, parent.depth + 1, [], grp.params, grp.trainable_params, 0, 0, 0, False,
              extra={"relative": path.rsplit(".", 1)[-1]})
    rows.append(row)
    open_groups[path] = row
    return row


def _node_row(node: Node, layers: dict[str, Any], batch: int, depth: int, calls: dict[str, int]) -> Row:
    name = node.module or node.id
    calls[name] = calls.get(name, 0) + 1
    outs = [_shape(t.shape, batch) for t in node.outputs]
    ins = [_shape(t.shape, batch) for t in node.inputs]
    layer = layers.get(node.module) if node.module else None
    macs = layer_macs(layer, ins, outs) if layer is not None else 0
    memory = sum(_bytes_of(s, t.dtype) for s, t in zip(outs, node.outputs))
    params, trainable = (node.params, node.trainable_params) if calls[name] == 1 or layer is None else layer_params(layer)
    return Row(name, node.op, depth, outs, params, trainable, macs, macs, memory, True, call=calls[name],
               extra={"relative": name.rsplit("/", 1)[-1]})


__all__ = ["keras_summary", "layer_macs"]
