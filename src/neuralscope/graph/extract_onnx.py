"""The ONNX reader: ``graph("model.onnx")``, Netron's core job with the ``onnx`` package.

Every ONNX node becomes a node (``Constant`` nodes and ``Identity`` aliases of initializers
are folded into their consumers): nodes that read weight initializers are ``module`` nodes
with the initializer shapes as attributes (``W``, ``B``... named after the op's schema) and
their element count as parameters; the rest are ``op`` nodes. ONNX shape inference gives
every edge its shape and dtype. Node names written by ``torch.onnx.export``
(``/layer1/layer1.0/conv1/Conv``) give the module hierarchy.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import FileFormatError
from .model import Graph, Node, TensorMeta


def _dtype(elem_type: int) -> str | None:
    import onnx

    try:
        return str(onnx.helper.tensor_dtype_to_np_dtype(elem_type))
    except Exception:  # noqa: BLE001 - undefined / exotic element types
        return None


def _meta_of_value_info(vi) -> TensorMeta:
    t = vi.type
    if not t.HasField("tensor_type"):
        return TensorMeta()
    tt = t.tensor_type
    shape = None
    if tt.HasField("shape"):
        shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim)
    return TensorMeta(shape, _dtype(tt.elem_type) if tt.elem_type else None)


def _attr_value(a) -> Any:
    import onnx

    v = onnx.helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, onnx.TensorProto):
        return f"tensor{tuple(v.dims)}"
    if isinstance(v, onnx.GraphProto):
        return f"graph ({len(v.node)} nodes)"
    if isinstance(v, (list, tuple)):
        vals = [x.decode("utf-8", "replace") if isinstance(x, bytes) else x for x in v]
        if vals and not isinstance(vals[0], (int, float, str)):
            return f"{len(vals)} items"
        return vals if len(vals) <= 16 else vals[:16] + ["..."]
    if isinstance(v, float):
        return round(v, 6)
    return v


def scope_path(node_name: str) -> str:
    """The module an op ran in, from its exported name.

    Example:
        >>> scope_path("/layer1/layer1.0/conv1/Conv"), scope_path("/encoder/layers.0/self_attn/MatMul")
        ('layer1.0.conv1', 'encoder.layers.0.self_attn')
    """
    if "/" not in node_name:
        return ""
    parts = [p for p in node_name.split("/")[:-1] if p]
    path, last = "", None
    for p in parts:
        # torch names a Sequential's child "<seq attr>.<index>" ("stem.0" under "stem")
        rel = p[len(last) + 1:] if last and p.startswith(last + ".") else p
        path = f"{path}.{rel}" if path else rel
        last = p
    return path


def load_onnx(path: str | Path):
    """The ``onnx.ModelProto`` at ``path``, or :class:`FileFormatError` in one sentence."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"No ONNX file at {str(path)!r}.")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf decode errors of all kinds
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FileFormatError(f"{path.name} is not a valid ONNX model (cannot be parsed: {first}).") from exc
    if not model.graph.node and not model.graph.input:
        raise FileFormatError(f"{path.name} is not a valid ONNX model: it holds no graph.")
    try:
        model = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - shapes stay as exported
        pass
    return model


def read_onnx(path: str | Path) -> Graph:
    """Read an ONNX file into a :class:`Graph` (``method="onnx"``).

    Example:
        >>> import tempfile, os, torch
        >>> from neuralscope.zoo import DigitsCNN
        >>> f = os.path.join(tempfile.mkdtemp(), "cnn.onnx")
        >>> net = DigitsCNN().eval()
        >>> torch.onnx.export(net, (net.example_input(1),), f, dynamo=False)
        >>> [n.op for n in read_onnx(f).modules()]
        ['Conv', 'Conv', 'Conv', 'Gemm']
    """
    import numpy as np
    import onnx

    path = Path(path)
    model = load_onnx(path)
    gp = model.graph
    inits = {t.name: t for t in gp.initializer}
    shapes: dict[str, TensorMeta] = {}
    for vi in list(gp.input) + list(gp.value_info) + list(gp.output):
        shapes[vi.name] = _meta_of_value_info(vi)
    for name, t in inits.items():
        shapes.setdefault(name, TensorMeta(tuple(t.dims), _dtype(t.data_type)))

    # initializer aliases (torch's exporter de-duplicates equal weights through Identity)
    alias: dict[str, str] = {}
    constants: set[str] = set()
    for n in gp.node:
        if n.op_type == "Identity" and n.input and (n.input[0] in inits or n.input[0] in alias):
            alias[n.output[0]] = alias.get(n.input[0], n.input[0])
        elif n.op_type == "Constant":
            constants.update(n.output)

    def init_of(name: str) -> str | None:
        name = alias.get(name, name)
        return name if name in inits else None

    def is_weight(t) -> bool:
        return t.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE,
                               onnx.TensorProto.BFLOAT16) and int(np.prod(t.dims)) > 1

    weight_inits = {n: t for n, t in inits.items() if is_weight(t)}
    total = sum(int(np.prod(t.dims)) for t in weight_inits.values())
    name = gp.name or path.stem
    g = Graph(name if name != "main_graph" else path.stem, "onnx", total_params=total, trainable_params=total)
    g.attrs = {"opset": {o.domain or "ai.onnx": o.version for o in model.opset_import},
               "producer": f"{model.producer_name} {model.producer_version}".strip(), "file": path.name}

    producer: dict[str, str] = {}
    for vi in gp.input:
        if vi.name in inits:
            continue
        nid = _unique(g, vi.name)
        g.add_node(Node(nid, "input", vi.name, "input", outputs=[shapes.get(vi.name, TensorMeta())]))
        producer[vi.name] = nid

    def skipped(n) -> bool:
        return n.op_type == "Constant" or (n.op_type == "Identity" and bool(n.output) and n.output[0] in alias)

    # a scope holding a single node and no inner scopes is that node's module (conv1 ->
    # one Conv): the node sits in the parent group instead of a box of its own
    per_scope: dict[str, int] = {}
    for n in gp.node:
        if not skipped(n):
            sp = scope_path(n.name)
            per_scope[sp] = per_scope.get(sp, 0) + 1
    scopes = set(per_scope)
    single = {sp for sp, c in per_scope.items()
              if sp and c == 1 and not any(o.startswith(sp + ".") for o in scopes)}

    counted: set[str] = set()
    groups: set[str] = set()
    for i, n in enumerate(gp.node):
        if skipped(n):
            continue
        scope = scope_path(n.name)
        group = (scope.rsplit(".", 1)[0] if "." in scope else "") if scope in single else scope
        groups.add(group)
        schema_names = _schema_inputs(n.op_type, n.domain, len(n.input))
        attrs: dict[str, Any] = {a.name: _attr_value(a) for a in n.attribute}
        params = 0
        weights = []
        for j, inp in enumerate(n.input):
            init = init_of(inp)
            if init is None:
                continue
            t = inits[init]
            label = schema_names[j] if j < len(schema_names) else f"input{j}"
            attrs[label] = "(" + ", ".join(str(d) for d in t.dims) + ")"
            if init in weight_inits:
                weights.append(init)
                if init not in counted:
                    counted.add(init)
                    params += int(np.prod(t.dims))
        kind = "module" if weights else "op"
        onnx_name = n.name or f"{n.op_type}_{i}"
        attrs["name"] = onnx_name
        # module nodes are named by their module path (as the torch readers do); ops by ONNX name
        nid = _unique(g, scope if (kind == "module" and scope) else onnx_name)
        label = n.op_type
        node = g.add_node(Node(nid, kind, label, n.op_type, group=group,
                               module=(scope or onnx_name) if kind == "module" else None,
                               outputs=[shapes.get(o, TensorMeta()) for o in n.output if o],
                               params=params, trainable_params=params, attrs=attrs))
        for inp in n.input:
            if not inp or init_of(inp) is not None or inp in constants:
                continue
            src = producer.get(inp)
            if src is None:
                continue
            meta = shapes.get(inp, TensorMeta())
            g.add_edge(src, nid, meta)
            node.inputs.append(meta)
        for o in n.output:
            if o:
                producer[o] = nid
    for vi in gp.output:
        nid = _unique(g, f"output:{vi.name}")
        meta = shapes.get(vi.name, TensorMeta())
        g.add_node(Node(nid, "output", vi.name, "output", inputs=[meta], outputs=[meta]))
        src = producer.get(vi.name)
        if src is not None:
            g.add_edge(src, nid, meta)
    # groups: parameter totals of everything inside
    for p in sorted(groups):
        if p:
            g.set_group(p, "Module")
    for p, grp in g.groups.items():
        if p:
            inside = [n.params for n in g.nodes.values() if n.group == p or n.group.startswith(p + ".")]
            grp.params = grp.trainable_params = sum(inside)
    g.groups[""].type = g.name
    g.groups[""].params = g.groups[""].trainable_params = total
    return g


def _unique(g: Graph, base: str) -> str:
    if base not in g.nodes:
        return base
    k = 1
    while f"{base}_{k}" in g.nodes:
        k += 1
    return f"{base}_{k}"


def _schema_inputs(op_type: str, domain: str, n: int) -> list[str]:
    import onnx

    try:
        schema = onnx.defs.get_schema(op_type, domain=domain or "")
        names = [i.name for i in schema.inputs]
    except Exception:  # noqa: BLE001 - custom ops
        return []
    if names and len(names) < n:  # variadic tail
        names = names + [f"{names[-1]}{k}" for k in range(1, n - len(names) + 1)]
    return names


__all__ = ["read_onnx", "load_onnx", "scope_path"]
