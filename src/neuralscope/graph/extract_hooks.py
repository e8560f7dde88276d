"""The forward-hook reader: the fallback that reads any model that can run forward.

One real forward pass with hooks on every module and a ``TorchFunctionMode`` that sees
every torch function called outside leaf modules. The data flow is recovered by tensor
identity: each tensor remembers the node that produced it (a leaf module, a functional op,
an input or a parameter), and each consumer gets an edge from that producer. Python control
flow (``if x.sum() > 0``, loops over a data-dependent count) is simply the path this input
took, so the graph is always connected and its shapes are the real ones.
"""
from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..adapters.torch import TorchAdapter, iter_tensors
from .extract_fx import (ParamCounts, group_paths, leaf_paths, metas, module_node, new_graph, op_name,
                         parent_path, scalar_attrs)
from .model import Graph, Node, TensorMeta, output_key_paths

# functions that only look at a tensor (no data flows on)
_IGNORED = {"size", "dim", "numel", "get", "item", "tolist", "is_floating_point", "is_complex", "element_size",
            "data_ptr", "stride", "storage_offset", "is_contiguous", "__get__", "__len__", "__bool__",
            "__format__", "__repr__", "__hash__", "__index__", "__int__", "__float__", "_is_view", "has_names",
            "__iter__", "__reversed__", "__contains__"}


class _Recorder(TorchFunctionMode):
    def __init__(self, model: nn.Module, graph: Graph, param_counts: ParamCounts | None = None):
        super().__init__()
        self.graph = graph
        self.model = model
        self.param_counts = param_counts if param_counts is not None else ParamCounts(model)
        self.leaves = {id(m): p for p, m in leaf_paths(model).items()}
        self.groups = {id(m): p for p, m in group_paths(model).items()}
        self.producer: dict[int, tuple[str, TensorMeta]] = {}
        self.keep: list[torch.Tensor] = []  # keeps ids unique while the pass runs
        self.stack: list[str] = [""]
        self.leaf_depth = 0
        self.busy = False
        self.counts: dict[str, int] = {}
        self.calls: dict[str, int] = {}
        self.open: list[Node] = []
        owner = {}
        for path, m in group_paths(model).items():
            for name, p in m.named_parameters(recurse=False):
                owner.setdefault(id(p), (f"{path}.{name}" if path else name, p))
            for name, b in m.named_buffers(recurse=False):
                owner.setdefault(id(b), (f"{path}.{name}" if path else name, b))
        self.owned = owner  # tensors owned directly by non-leaf modules (a ``pos`` Parameter)

    # -- tensor bookkeeping --------------------------------------------------------------
    def produced(self, value: Any, node_id: str) -> None:
        for t in iter_tensors(value):
            self.producer[id(t)] = (node_id, metas(t)[0])
            self.keep.append(t)

    def source(self, t: torch.Tensor) -> tuple[str, TensorMeta] | None:
        hit = self.producer.get(id(t))
        if hit is not None:
            return hit
        if id(t) in self.owned:
            name, tensor = self.owned[id(t)]
            is_param = isinstance(tensor, nn.Parameter)
            node_id = f"param:{name}"
            self.graph.add_node(Node(node_id, "param", name.rsplit(".", 1)[-1],
                                     "parameter" if is_param else "buffer", group=parent_path(name),
                                     outputs=metas(tensor), params=tensor.numel() if is_param else 0,
                                     trainable_params=tensor.numel() if is_param and tensor.requires_grad else 0,
                                     attrs={"name": name}))
            self.produced(tensor, node_id)
            return self.producer[id(t)]
        return None

    def connect(self, value: Any, dst: str) -> list[TensorMeta]:
        ins, seen = [], set()
        for t in iter_tensors(value):
            src = self.source(t)
            if src is None or (src[0], id(t)) in seen:
                continue
            seen.add((src[0], id(t)))
            self.graph.add_edge(src[0], dst, src[1])
            ins.append(src[1])
        return ins

    def new_id(self, base: str) -> str:
        k = self.counts.get(base, 0)
        self.counts[base] = k + 1
        return base if k == 0 else f"{base}_{k}"

    # -- module hooks ---------------------------------------------------------------------
    def pre_hook(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        if self.leaf_depth:
            if id(module) in self.leaves:
                self.leaf_depth += 1
            return
        self.busy = True
        try:
            if id(module) in self.leaves:
                path = self.leaves[id(module)]
                k = self.calls.get(path, 0)
                self.calls[path] = k + 1
                node = module_node(self.graph, self.new_id(path or "model"), path, module, [], [], call=k,
                                   counts=self.param_counts)
                node.inputs = self.connect((args, kwargs), node.id)
                self.open.append(node)
                self.leaf_depth = 1
            elif id(module) in self.groups:
                self.stack.append(self.groups[id(module)])
        finally:
            self.busy = False

    def post_hook(self, module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        if id(module) in self.leaves:
            self.leaf_depth -= 1
            if self.leaf_depth == 0:
                self.busy = True
                try:
                    node = self.open.pop()
                    node.outputs = metas(output)
                    self.produced(output, node.id)
                finally:
                    self.busy = False
        elif not self.leaf_depth and id(module) in self.groups and len(self.stack) > 1:
            self.stack.pop()

    # -- functional ops -------------------------------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.busy or self.leaf_depth:
            return out
        name = op_name(func)
        raw = getattr(func, "__name__", "")
        if raw in _IGNORED or name in _IGNORED or not any(True for _ in iter_tensors(out)):
            return out
        self.busy = True
        try:
            if name == "get" or raw == "__get__":
                name = "getattr"
            node_id = self.new_id(name)
            ins_value = (args, kwargs)
            node = self.graph.add_node(Node(node_id, "op", name, name, group=self.stack[-1],
                                            outputs=metas(out), attrs=scalar_attrs(args, kwargs)))
            node.inputs = self.connect(ins_value, node_id)
            self.produced(out, node_id)
        finally:
            self.busy = False
        return out


def read_hooks(model: nn.Module, args: tuple, kwargs: dict) -> Graph:
    """Read ``model`` into a :class:`Graph` from one real forward pass (hooks + a torch
    function mode). The caller guards the model state and runs this inside
    :func:`~neuralscope.graph.extract_fx.plain_forward`."""
    counts = ParamCounts(model)
    g = new_graph(model, "hooks", counts)
    rec = _Recorder(model, g, counts)
    _add_inputs(g, rec, model, args, kwargs)
    # scripted submodules take no hooks; they run as one opaque call
    with TorchAdapter(model).hooks("all", pre=lambda name, m: rec.pre_hook, post=lambda name, m: rec.post_hook,
                                   with_kwargs=True, skip_scripted=True), rec:
        out = model(*args, **kwargs)
    rec.busy = True
    for i, t in enumerate(iter_tensors(out)):
        oid = "output" if i == 0 else f"output{i}"
        src = rec.source(t)
        meta = metas(t)[0]
        g.add_node(Node(oid, "output", oid, "output", inputs=[meta], outputs=[meta]))
        if src is not None:
            g.add_edge(src[0], oid, meta)
    g.name_outputs(output_key_paths(out, torch.is_tensor))
    return g


def _add_inputs(g: Graph, rec: _Recorder, model: nn.Module, args: tuple, kwargs: dict) -> None:
    try:
        names = [p for p in inspect.signature(model.forward).parameters]
    except (TypeError, ValueError):
        names = []
    items = [(names[i] if i < len(names) else f"input{i}", a) for i, a in enumerate(args)] + list(kwargs.items())
    for name, value in items:
        ts = list(iter_tensors(value))
        if not ts:
            continue
        if len(ts) == 1 and id(ts[0]) in rec.producer:  # one tensor passed as query, key and value
            first = g.nodes[rec.producer[id(ts[0])][0]]
            first.attrs.setdefault("also", []).append(name)
            first.label = first.label + " = " + name
        elif len(ts) == 1:
            g.add_node(Node(name, "input", name, "input", outputs=metas(ts[0])))
            rec.produced(ts[0], name)
        else:
            for j, t in enumerate(ts):
                nid = f"{name}.{j}"
                g.add_node(Node(nid, "input", nid, "input", outputs=metas(t)))
                rec.produced(t, nid)


__all__ = ["read_hooks"]
