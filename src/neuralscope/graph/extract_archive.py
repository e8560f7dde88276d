"""Readers for saved torch models: ``torch.export`` archives (``.pt2``), TorchScript archives
(``torch.jit.save``) and whole pickled modules (``torch.save(model)``).

* ``.pt2``: the exported program carries fake tensor values and module stacks, so the graph
  has shapes, dtypes and the module hierarchy without the original Python code.
* TorchScript: the inlined graph is evaluated once, op by op, on example inputs (the
  ``--input-shape`` of the CLI) to learn every shape; modules are recovered from the weights
  each op reads (``features.0.weight`` -> module ``features.0``). Without example inputs
  the graph has no shapes.
* A pickled ``nn.Module`` is read like any module (this unpickles the file: only open files
  you trust, as with ``torch.load``).
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import FileFormatError
from .extract_fx import LEAF_TYPES, count_params, metas, op_name, parent_path, scalar_attrs
from .model import Graph, Node, TensorMeta


def _kind(path: Path) -> str:
    """``export``, ``torchscript``, ``pickle`` or ``unknown`` from the archive's contents."""
    if not zipfile.is_zipfile(path):
        return "pickle"
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    if any(n.endswith("serialized_exported_program.json") or "/models/" in n and n.endswith(".json")
           for n in names):
        return "export"
    if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
        return "torchscript"
    if any(n.endswith("data.pkl") for n in names):
        return "pickle"
    return "unknown"


def read_archive(path: str | Path, example_inputs: Any = None) -> Graph:
    """Read a saved torch model file into a :class:`Graph`.

    Example:
        >>> import tempfile, os
        >>> from neuralscope.zoo import DigitsCNN
        >>> net = DigitsCNN().eval()
        >>> f = os.path.join(tempfile.mkdtemp(), "cnn.pt2")
        >>> torch.export.save(torch.export.export(net, (net.example_input(1),)), f)
        >>> g = read_archive(f)
        >>> g.method, [n.module for n in g.modules()][:2]
        ('export', ['features.0', 'features.1'])
    """
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"No model file at {str(path)!r}.")
    kind = _kind(path)
    if kind == "export":
        try:
            ep = torch.export.load(str(path))
        except Exception as exc:  # noqa: BLE001
            raise FileFormatError(f"{path.name} looks like a torch.export archive but cannot be loaded: "
                                  f"{_first_line(exc)}") from exc
        from .extract_export import program_to_graph

        return program_to_graph(ep, model=None, name=path.stem, method="export")
    if kind == "torchscript":
        try:
            sm = torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:  # noqa: BLE001
            raise FileFormatError(f"{path.name} looks like a TorchScript archive but cannot be loaded: "
                                  f"{_first_line(exc)}") from exc
        return read_torchscript(sm, example_inputs, name=path.stem)
    if kind in ("pickle", "unknown"):
        model = _load_pickled_module(path)
        from .api import graph

        return graph(model, example_inputs)
    raise FileFormatError(f"{path.name} is not a model file neuralscope can read.")  # pragma: no cover


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _load_pickled_module(path: Path) -> nn.Module:
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - not plain tensors: maybe a pickled module
        obj = None
    if isinstance(obj, dict):
        raise FileFormatError(f"{path.name} holds only weights (a state_dict), not an architecture; pass the "
                              "model's factory instead, e.g. 'mypackage.models:make_model'.")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001
        raise FileFormatError(f"{path.name} is not a model file neuralscope can read (not ONNX, TorchScript, "
                              f"torch.export or a pickled module: {_first_line(exc)}).") from exc
    if not isinstance(obj, nn.Module):
        raise FileFormatError(f"{path.name} holds a {type(obj).__name__}, not a torch.nn.Module.")
    return obj


def load_module(path: Path) -> tuple[nn.Module, Any]:
    """A runnable module from a saved file (for ``summary``) and its example inputs if the
    file records them."""
    kind = _kind(path)
    if kind == "export":
        ep = torch.export.load(str(path))
        ex = getattr(ep, "example_inputs", None)
        inputs = None
        if ex is not None:
            args, kwargs = ex
            inputs = kwargs if kwargs and not args else tuple(args)
        return torch.export.unflatten(ep), inputs
    if kind == "torchscript":
        raise FileFormatError(f"{path.name} is a TorchScript archive: its modules cannot be hooked, so summary "
                              "cannot run on it; use 'neuralscope graph' or the model's factory.")
    return _load_pickled_module(path), None


# -- TorchScript ----------------------------------------------------------------------------

_STRUCTURAL = {"prim::Constant", "prim::GetAttr", "prim::ListConstruct", "prim::TupleConstruct",
               "prim::ListUnpack", "prim::TupleUnpack", "prim::NumToTensor", "aten::Int", "aten::size",
               "aten::dim", "prim::device", "prim::dtype", "aten::ScalarImplicit", "aten::Float",
               "prim::TupleIndex", "aten::__getitem__", "prim::unchecked_cast", "prim::RaiseException",
               "aten::len", "prim::Uninitialized"}


def read_torchscript(sm: torch.jit.ScriptModule, example_inputs: Any = None, name: str = "TorchScript") -> Graph:
    """A :class:`Graph` from a TorchScript module's inlined graph (``method="torchscript"``)."""
    from ..adapters.torch import as_inputs

    tsg = sm.inlined_graph
    type_name = getattr(sm, "original_name", None) or name
    total, trainable = count_params(sm)
    g = Graph(type_name, "torchscript", total_params=total, trainable_params=trainable)
    modules = {}
    for path, m in sm.named_modules():
        modules[path] = m
    leaf_types = {t.__name__ for t in LEAF_TYPES} | {"LSTM", "GRU", "RNN"}
    leaves: set[str] = set()
    for p, m in modules.items():
        if p and (not any(True for _ in m.children()) or getattr(m, "original_name", "") in leaf_types) and \
                not any(p.startswith(q + ".") for q in leaves):
            leaves.add(p)

    def leaf_of(path: str | None) -> str | None:
        while path:
            if path in leaves:
                return path
            path = parent_path(path) if "." in path else None
        return None

    for p, m in modules.items():
        if p not in leaves:
            t, tr = count_params(m)
            g.set_group(p, getattr(m, "original_name", type(m).__name__), t, tr)
    g.groups[""].type = type_name

    values: dict[Any, Any] = {}  # jit Value (by unique id) -> python value during evaluation
    attr_path: dict[int, str] = {}
    graph_inputs = list(tsg.inputs())
    values[graph_inputs[0].unique()] = sm
    attr_path[graph_inputs[0].unique()] = ""
    real = None
    if example_inputs is not None:
        args, kwargs = as_inputs(example_inputs)
        real = list(args) + list(kwargs.values())
    producer: dict[int, str] = {}
    evaluating = real is not None
    for i, v in enumerate(graph_inputs[1:]):
        nid = v.debugName().split(".")[0] or f"input{i}"
        meta = metas(real[i])[0] if real is not None and i < len(real) and torch.is_tensor(real[i]) else TensorMeta()
        g.add_node(Node(nid, "input", nid, "input", outputs=[meta]))
        producer[v.unique()] = nid
        if real is not None and i < len(real):
            values[v.unique()] = real[i]

    counts: dict[str, int] = {}
    calls: dict[str, int] = {}
    multi: dict[int, list[str]] = {}  # lists/tuples of tensors -> their producers (for cat, stack)
    prev_leaf = None
    current: Node | None = None

    def sources(v) -> list[str]:
        if v.unique() in multi:
            return multi[v.unique()]
        src = producer.get(v.unique())
        return [src] if src is not None else []

    named_params = dict(sm.named_parameters())
    exact = _method_owners(sm)
    if exact is not None and len(exact) != sum(1 for n in tsg.nodes() if _is_op(n)):
        exact = None  # the two walks disagree: fall back to weights-based ownership
    op_index = -1
    inside = _inner_owners(tsg, attr_path, leaves, leaf_of, modules, leaf_types)
    incoming: dict[str, list] = {}
    with torch.no_grad():
        for index, n in enumerate(tsg.nodes()):
            kind = n.kind()
            outs = list(n.outputs())
            ins = list(n.inputs())
            if kind == "prim::GetAttr":
                src = ins[0].unique()
                base = attr_path.get(src)
                attr = n.s("name")
                if base is not None:
                    attr_path[outs[0].unique()] = f"{base}.{attr}" if base else attr
                if src in values:
                    try:
                        values[outs[0].unique()] = getattr(values[src], attr)
                    except Exception:  # noqa: BLE001
                        pass
                continue
            if evaluating:
                try:
                    _evaluate(n, ins, outs, values)
                except Exception:  # noqa: BLE001 - unsupported node: stop evaluating, keep structure
                    evaluating = False
            tensor_out = any(isinstance(o.type(), torch._C.TensorType) for o in outs)
            if kind in _STRUCTURAL or not kind.startswith("aten::") or not tensor_out:
                srcs = [s for i in ins for s in sources(i)]
                held = [attr_path[i.unique()] for i in ins if attr_path.get(i.unique())]
                if held and kind in ("prim::ListConstruct", "prim::TupleConstruct"):
                    attr_path[outs[0].unique()] = held[0]  # lists of weights (LSTM)
                for o in outs:  # structural nodes pass tensors through (lists for cat, tuples)
                    if srcs:
                        multi[o.unique()] = srcs
                continue
            weights = [attr_path[i.unique()] for i in ins if attr_path.get(i.unique())]
            op_index += 1
            call_key = None
            if exact is not None:
                where, call_key = exact[op_index]
                owner = leaf_of(where)
                op_group = where
            else:
                owner = leaf_of(parent_path(weights[0])) if weights else inside.get(index)
                op_group = parent_path(weights[0]) if weights else ""
                call_key = owner
            out_meta = [metas(values[o.unique()])[0] for o in outs
                        if o.unique() in values and torch.is_tensor(values[o.unique()])]
            opname = op_name(kind.split("::", 1)[1])
            if owner is not None and owner in leaves:
                if current is None or prev_leaf != (owner, call_key):
                    k = calls.get(owner, 0)
                    calls[owner] = k + 1
                    nid = owner if k == 0 else f"{owner}_{k}"
                    m = modules[owner]
                    t, tr = count_params(m)
                    typ = getattr(m, "original_name", "Module")
                    current = g.add_node(Node(nid, "module", typ, typ, group=parent_path(owner), module=owner,
                                              params=t, trainable_params=tr))
                    prev_leaf = (owner, call_key)
                node = current
                if out_meta:
                    node.outputs = out_meta
            else:
                prev_leaf = None
                k = counts.get(opname, 0)
                counts[opname] = k + 1
                nid = opname if k == 0 else f"{opname}_{k}"
                consts = [values.get(i.unique()) for i in ins if not sources(i)]
                node = g.add_node(Node(nid, "op", opname, opname, group=op_group,
                                       outputs=out_meta,
                                       attrs=scalar_attrs([c for c in consts if not torch.is_tensor(c)])))
                current = node
            seen = {(e.src, e.dst) for e in incoming.get(node.id, [])}
            if node.kind == "op":  # weights of non-leaf modules (a ``pos`` Parameter) as param nodes
                for i in ins:
                    wpath = attr_path.get(i.unique())
                    if wpath and i.unique() not in producer:
                        pid = f"param:{wpath}"
                        if pid not in g.nodes:
                            t = values.get(i.unique())
                            is_param = isinstance(t, torch.Tensor) and wpath in named_params
                            k = t.numel() if is_param else 0
                            g.add_node(Node(pid, "param", wpath.rsplit(".", 1)[-1],
                                            "parameter" if is_param else "buffer", group=parent_path(wpath),
                                            outputs=metas(t) if torch.is_tensor(t) else [], params=k,
                                            trainable_params=k if is_param and t.requires_grad else 0,
                                            attrs={"name": wpath}))
                        producer[i.unique()] = pid
            for i in ins:
                if "Tensor" not in str(i.type()):
                    continue  # sizes and other numbers: shape arithmetic, not data flow
                for src in sources(i):
                    if src == node.id or (src, node.id) in seen:
                        continue
                    seen.add((src, node.id))
                    val = values.get(i.unique())
                    meta = metas(val)[0] if torch.is_tensor(val) else _meta_of(g, src)
                    incoming.setdefault(node.id, []).append(g.add_edge(src, node.id, meta))
                    node.inputs.append(meta)
            for o in outs:
                producer[o.unique()] = node.id
    for j, v in enumerate(tsg.outputs()):
        oid = "output" if j == 0 else f"output{j}"
        val = values.get(v.unique())
        srcs = sources(v)
        found = metas(val) if val is not None else []
        for k, src in enumerate(srcs or [None]):
            meta = found[k] if k < len(found) else (_meta_of(g, src) if src else TensorMeta())
            nid = oid if k == 0 else f"{oid}.{k}"
            g.add_node(Node(nid, "output", nid, "output", inputs=[meta], outputs=[meta]))
            if src is not None:
                g.add_edge(src, nid, meta)
    return g


def _is_op(n) -> bool:
    kind = n.kind()
    return (kind.startswith("aten::") and kind not in _STRUCTURAL
            and any(isinstance(o.type(), torch._C.TensorType) for o in n.outputs()))


def _method_owners(sm) -> list[tuple[str, int]] | None:
    """(module path, call number) for every op of the inlined graph, in order, read from the
    modules' own (not inlined) forward graphs: an op belongs to the module whose forward
    contains it. ``None`` when the structure cannot be followed (scripted function calls)."""
    owners: list[tuple[str, int]] = []
    counter = [0]

    def walk(module, path: str, method: str = "forward") -> bool:
        counter[0] += 1
        call = counter[0]
        try:  # a traced module called twice gets forward1, forward2... for the later calls
            graph = module.graph if method == "forward" else getattr(module, method).graph
        except Exception:  # noqa: BLE001
            return False
        paths = {next(iter(graph.inputs())).unique(): (module, path)}
        for n in graph.nodes():
            kind = n.kind()
            if kind == "prim::GetAttr":
                src = paths.get(n.inputsAt(0).unique())
                if src is not None:
                    child = getattr(src[0], n.s("name"), None)
                    if isinstance(child, torch.jit.ScriptModule):
                        name = n.s("name")
                        paths[n.outputsAt(0).unique()] = (child, f"{src[1]}.{name}" if src[1] else name)
                continue
            if kind == "prim::CallMethod":
                target = paths.get(n.inputsAt(0).unique())
                if target is None or not walk(*target, n.s("name")):
                    return False
                continue
            if kind in ("prim::CallFunction", "prim::If", "prim::Loop"):
                return False
            if _is_op(n):
                owners.append((path, call))
        return True

    return owners if walk(sm, "") else None


def _inner_owners(tsg, attr_path0: dict, leaves: set, leaf_of, modules: dict, leaf_types: set) -> dict[int, str]:
    """Weightless ops that run inside a composite leaf (the reshapes and attention between a
    MultiheadAttention's in- and out-projections): an op lying between two ops that read the
    same composite leaf's weights, with no other module's op in between, belongs to it."""
    attr_path = dict(attr_path0)
    owners: list[tuple[int, str | None]] = []
    for index, n in enumerate(tsg.nodes()):
        kind = n.kind()
        ins, outs = list(n.inputs()), list(n.outputs())
        if kind == "prim::GetAttr":
            base = attr_path.get(ins[0].unique())
            if base is not None:
                attr_path[outs[0].unique()] = f"{base}.{n.s('name')}" if base else n.s("name")
            continue
        held = [attr_path[i.unique()] for i in ins if attr_path.get(i.unique())]
        if kind in ("prim::ListConstruct", "prim::TupleConstruct"):
            if held:
                attr_path[outs[0].unique()] = held[0]
            continue
        if not kind.startswith("aten::") or kind in _STRUCTURAL or \
                not any(isinstance(o.type(), torch._C.TensorType) for o in outs):
            continue
        owners.append((index, leaf_of(parent_path(held[0])) if held else None))
    result: dict[int, str] = {}
    last_owner, pending = None, []
    for index, owner in owners:
        if owner is None:
            pending.append(index)
            continue
        if owner == last_owner and pending and getattr(modules[owner], "original_name", "") in leaf_types:
            for p in pending:
                result[p] = owner
        last_owner, pending = owner, []
    return result


def _meta_of(g: Graph, node_id: str) -> TensorMeta:
    n = g.nodes.get(node_id)
    return n.outputs[0] if n is not None and n.outputs else TensorMeta()


def _evaluate(n, ins, outs, values) -> None:
    kind = n.kind()
    get = [values.get(i.unique(), _MISSING) for i in ins]
    if kind == "prim::Constant":
        values[outs[0].unique()] = outs[0].toIValue()
        return
    if any(v is _MISSING for v in get):
        raise RuntimeError(f"missing input for {kind}")
    if kind in ("prim::ListConstruct", "prim::TupleConstruct"):
        values[outs[0].unique()] = list(get) if kind == "prim::ListConstruct" else tuple(get)
    elif kind in ("prim::ListUnpack", "prim::TupleUnpack"):
        for o, v in zip(outs, get[0]):
            values[o.unique()] = v
    elif kind == "prim::NumToTensor":
        values[outs[0].unique()] = torch.tensor(get[0])
    elif kind in ("aten::Int", "aten::Float", "aten::ScalarImplicit"):
        values[outs[0].unique()] = get[0].item() if torch.is_tensor(get[0]) else get[0]
    elif kind in ("prim::TupleIndex", "aten::__getitem__"):
        values[outs[0].unique()] = get[0][get[1]]
    elif kind.startswith("aten::"):
        schema = torch._C.parse_schema(n.schema())
        packet = getattr(torch.ops.aten, kind.split("::", 1)[1])
        op = getattr(packet, schema.overload_name or "default")
        args, kwargs = [], {}
        for a, v in zip(schema.arguments, get):
            if a.kwarg_only:
                kwargs[a.name] = v
            else:
                args.append(v)
        result = op(*args, **kwargs)
        if len(outs) == 1:
            values[outs[0].unique()] = result
        else:
            for o, v in zip(outs, result):
                values[o.unique()] = v
    else:
        raise RuntimeError(f"cannot evaluate {kind}")


class _Missing:
    pass


_MISSING = _Missing()


__all__ = ["read_archive", "read_torchscript", "load_module"]
