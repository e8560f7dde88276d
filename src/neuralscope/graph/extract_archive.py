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
        except Exception as exc:
            raise FileFormatError(f"{path.name} looks like a torch.export archive but cannot be loaded: "
                                  f"{_first_line(exc)}") from exc
        from .extract_export import program_to_graph

        return program_to_graph(ep, model=None, name=path.stem, method="export")
    if kind == "torchscript":
        try:
            sm = torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:
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
    except Exception as exc:
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
    return _TorchScriptReader(sm, example_inputs, name).read()


class _TorchScriptReader:
    """One walk over a TorchScript module's inlined graph, step by step.

    1. :meth:`module_tree`: leaf modules (no children, or a known leaf type) and groups.
    2. :meth:`graph_inputs`: input nodes, with real values when example inputs are given.
    3. :meth:`visit` each graph node in order: ``GetAttr`` records which weights a value is,
       structural nodes pass their producers through, and every tensor op is attributed to its
       owning leaf module (one node per call) or becomes an op node of its own
       (:meth:`node_for_op`), with parameter nodes (:meth:`add_param_nodes`) and edges from
       the producers of its inputs (:meth:`connect`). With example inputs each node is also
       evaluated, so edges carry real shapes (evaluation stops quietly at an unsupported node).
    4. :meth:`graph_outputs`: output nodes.
    """

    def __init__(self, sm: torch.jit.ScriptModule, example_inputs: Any, name: str):
        self.sm, self.example_inputs = sm, example_inputs
        self.tsg = sm.inlined_graph
        self.type_name = getattr(sm, "original_name", None) or name
        total, trainable = count_params(sm)
        self.g = Graph(self.type_name, "torchscript", total_params=total, trainable_params=trainable)
        self.values: dict[Any, Any] = {}  # jit Value (by unique id) -> python value during evaluation
        self.attr_path: dict[int, str] = {}
        self.producer: dict[int, str] = {}
        self.multi: dict[int, list[str]] = {}  # lists/tuples of tensors -> their producers (cat, stack)
        self.counts: dict[str, int] = {}
        self.calls: dict[str, int] = {}
        self.incoming: dict[str, list] = {}
        self.prev_leaf = None
        self.current: Node | None = None
        self.op_index = -1
        self.evaluating = False

    def read(self) -> Graph:
        self.module_tree()
        self.graph_inputs()
        self.named_params = dict(self.sm.named_parameters())
        exact = _method_owners(self.sm)
        if exact is not None and len(exact) != sum(1 for n in self.tsg.nodes() if _is_op(n)):
            exact = None  # the two walks disagree: fall back to weights-based ownership
        self.exact = exact
        self.inside = _inner_owners(self.tsg, self.attr_path, self.leaves, self.leaf_of, self.modules,
                                    self.leaf_types)
        with torch.no_grad():
            for index, n in enumerate(self.tsg.nodes()):
                self.visit(index, n)
        self.graph_outputs()
        return self.g

    # 1. modules ------------------------------------------------------------------------------
    def module_tree(self) -> None:
        self.modules = dict(self.sm.named_modules())
        self.leaf_types = {t.__name__ for t in LEAF_TYPES} | {"LSTM", "GRU", "RNN"}
        self.leaves: set[str] = set()
        for p, m in self.modules.items():
            leaf = not any(True for _ in m.children()) or getattr(m, "original_name", "") in self.leaf_types
            if p and leaf and not any(p.startswith(q + ".") for q in self.leaves):
                self.leaves.add(p)
        for p, m in self.modules.items():
            if p not in self.leaves:
                t, tr = count_params(m)
                self.g.set_group(p, getattr(m, "original_name", type(m).__name__), t, tr)
        self.g.groups[""].type = self.type_name

    def leaf_of(self, path: str | None) -> str | None:
        while path:
            if path in self.leaves:
                return path
            path = parent_path(path) if "." in path else None
        return None

    # 2. inputs -------------------------------------------------------------------------------
    def graph_inputs(self) -> None:
        from ..adapters.torch import as_inputs

        graph_inputs = list(self.tsg.inputs())
        self.values[graph_inputs[0].unique()] = self.sm
        self.attr_path[graph_inputs[0].unique()] = ""
        real = None
        if self.example_inputs is not None:
            args, kwargs = as_inputs(self.example_inputs)
            real = list(args) + list(kwargs.values())
        self.evaluating = real is not None
        for i, v in enumerate(graph_inputs[1:]):
            nid = v.debugName().split(".")[0] or f"input{i}"
            given = real is not None and i < len(real)
            meta = metas(real[i])[0] if given and torch.is_tensor(real[i]) else TensorMeta()
            self.g.add_node(Node(nid, "input", nid, "input", outputs=[meta]))
            self.producer[v.unique()] = nid
            if given:
                self.values[v.unique()] = real[i]

    def sources(self, v) -> list[str]:
        if v.unique() in self.multi:
            return self.multi[v.unique()]
        src = self.producer.get(v.unique())
        return [src] if src is not None else []

    # 3. nodes --------------------------------------------------------------------------------
    def visit(self, index: int, n) -> None:
        kind = n.kind()
        outs, ins = list(n.outputs()), list(n.inputs())
        if kind == "prim::GetAttr":
            self.get_attr(n, ins, outs)
            return
        if self.evaluating:
            try:
                _evaluate(n, ins, outs, self.values)
            except Exception:  # noqa: BLE001 - unsupported node: stop evaluating, keep structure
                self.evaluating = False
        tensor_out = any(isinstance(o.type(), torch._C.TensorType) for o in outs)
        if kind in _STRUCTURAL or not kind.startswith("aten::") or not tensor_out:
            self.pass_through(kind, ins, outs)
            return
        node = self.node_for_op(index, kind, ins, outs)
        if node.kind == "op":
            self.add_param_nodes(ins)
        self.connect(node, ins)
        for o in outs:
            self.producer[o.unique()] = node.id

    def get_attr(self, n, ins, outs) -> None:
        """Record the dotted path of the attribute (weights) and, when evaluating, its value."""
        src = ins[0].unique()
        base = self.attr_path.get(src)
        attr = n.s("name")
        if base is not None:
            self.attr_path[outs[0].unique()] = f"{base}.{attr}" if base else attr
        if src in self.values:
            try:
                self.values[outs[0].unique()] = getattr(self.values[src], attr)
            except Exception:  # noqa: BLE001 - an attribute TorchScript keeps only in C++
                pass

    def pass_through(self, kind: str, ins, outs) -> None:
        """Structural nodes pass their inputs' producers on (lists for cat, tuples, LSTM weights)."""
        srcs = [s for i in ins for s in self.sources(i)]
        held = [self.attr_path[i.unique()] for i in ins if self.attr_path.get(i.unique())]
        if held and kind in ("prim::ListConstruct", "prim::TupleConstruct"):
            self.attr_path[outs[0].unique()] = held[0]  # lists of weights (LSTM)
        for o in outs:
            if srcs:
                self.multi[o.unique()] = srcs

    def owner_of_op(self, index: int, ins) -> tuple[str | None, str, Any]:
        """(owning leaf module or None, the group the op sits in, the key of the call)."""
        self.op_index += 1
        if self.exact is not None:
            where, call_key = self.exact[self.op_index]
            return self.leaf_of(where), where, call_key
        weights = [self.attr_path[i.unique()] for i in ins if self.attr_path.get(i.unique())]
        owner = self.leaf_of(parent_path(weights[0])) if weights else self.inside.get(index)
        return owner, (parent_path(weights[0]) if weights else ""), owner

    def node_for_op(self, index: int, kind: str, ins, outs) -> Node:
        """The node an op belongs to: its leaf module's node for this call, or a new op node."""
        owner, op_group, call_key = self.owner_of_op(index, ins)
        out_meta = [metas(self.values[o.unique()])[0] for o in outs
                    if o.unique() in self.values and torch.is_tensor(self.values[o.unique()])]
        if owner is not None and owner in self.leaves:
            if self.current is None or self.prev_leaf != (owner, call_key):
                k = self.calls.get(owner, 0)
                self.calls[owner] = k + 1
                m = self.modules[owner]
                t, tr = count_params(m)
                typ = getattr(m, "original_name", "Module")
                self.current = self.g.add_node(Node(owner if k == 0 else f"{owner}_{k}", "module", typ, typ,
                                                    group=parent_path(owner), module=owner, params=t,
                                                    trainable_params=tr))
                self.prev_leaf = (owner, call_key)
            if out_meta:
                self.current.outputs = out_meta
            return self.current
        self.prev_leaf = None
        opname = op_name(kind.split("::", 1)[1])
        k = self.counts.get(opname, 0)
        self.counts[opname] = k + 1
        consts = [self.values.get(i.unique()) for i in ins if not self.sources(i)]
        self.current = self.g.add_node(Node(opname if k == 0 else f"{opname}_{k}", "op", opname, opname,
                                            group=op_group, outputs=out_meta,
                                            attrs=scalar_attrs([c for c in consts if not torch.is_tensor(c)])))
        return self.current

    def add_param_nodes(self, ins) -> None:
        """Weights of non-leaf modules (a ``pos`` Parameter) as parameter or buffer nodes."""
        for i in ins:
            wpath = self.attr_path.get(i.unique())
            if not wpath or i.unique() in self.producer:
                continue
            pid = f"param:{wpath}"
            if pid not in self.g.nodes:
                t = self.values.get(i.unique())
                is_param = isinstance(t, torch.Tensor) and wpath in self.named_params
                k = t.numel() if is_param else 0
                self.g.add_node(Node(pid, "param", wpath.rsplit(".", 1)[-1], "parameter" if is_param else "buffer",
                                     group=parent_path(wpath), outputs=metas(t) if torch.is_tensor(t) else [],
                                     params=k, trainable_params=k if is_param and t.requires_grad else 0,
                                     attrs={"name": wpath}))
            self.producer[i.unique()] = pid

    def connect(self, node: Node, ins) -> None:
        """Edges from the producers of the node's tensor inputs (sizes and numbers are shape
        arithmetic, not data flow), each once."""
        seen = {(e.src, e.dst) for e in self.incoming.get(node.id, [])}
        for i in ins:
            if "Tensor" not in str(i.type()):
                continue
            for src in self.sources(i):
                if src == node.id or (src, node.id) in seen:
                    continue
                seen.add((src, node.id))
                val = self.values.get(i.unique())
                meta = metas(val)[0] if torch.is_tensor(val) else _meta_of(self.g, src)
                self.incoming.setdefault(node.id, []).append(self.g.add_edge(src, node.id, meta))
                node.inputs.append(meta)

    # 4. outputs ------------------------------------------------------------------------------
    def graph_outputs(self) -> None:
        for j, v in enumerate(self.tsg.outputs()):
            oid = "output" if j == 0 else f"output{j}"
            val = self.values.get(v.unique())
            srcs = self.sources(v)
            found = metas(val) if val is not None else []
            for k, src in enumerate(srcs or [None]):
                meta = found[k] if k < len(found) else (_meta_of(self.g, src) if src else TensorMeta())
                nid = oid if k == 0 else f"{oid}.{k}"
                self.g.add_node(Node(nid, "output", nid, "output", inputs=[meta], outputs=[meta]))
                if src is not None:
                    self.g.add_edge(src, nid, meta)


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
        except Exception:  # noqa: BLE001 - a method without a graph: not this module's call
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
