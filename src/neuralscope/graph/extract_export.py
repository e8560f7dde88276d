"""The torch.export reader: an ATen-level graph whose nodes carry fake tensor values
(shapes, dtypes) and the module stack they were called from.

ATen ops that ran inside a leaf module (a ``Linear``'s ``linear``, everything inside a
``MultiheadAttention``) are merged into one ``module`` node; ops that ran in non-leaf
modules become ``op`` nodes in that module's group. torch.export copes with Python control
flow that depends on shapes (``if x.dim() == 4``), which fx symbolic tracing cannot.
"""
from __future__ import annotations

import operator
import warnings
from typing import Any

import torch
from torch import nn

from .extract_fx import (ParamCounts, leaf_paths, metas, module_node, new_graph, op_name, parent_path,
                         scalar_attrs)
from .model import Graph, Node, TensorMeta, output_key_paths


def export_program(model: nn.Module, args: tuple, kwargs: dict):
    """``torch.export.export`` in non-strict mode (Python runs as written)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # RNN _flat_weights notes, deprecations: not the user's concern
        return torch.export.export(model, args, kwargs or None, strict=False)


def read_export(model: nn.Module, args: tuple, kwargs: dict) -> Graph:
    """Read ``model`` into a :class:`Graph` with torch.export. The caller guards the model
    state and runs this inside :func:`~neuralscope.graph.extract_fx.plain_forward`."""
    ep = export_program(model, args, kwargs)
    return program_to_graph(ep, model=model)


def _val(node: torch.fx.Node) -> Any:
    return node.meta.get("val", node.meta.get("example_value"))


def program_to_graph(ep, model: nn.Module | None = None, name: str | None = None,
                     method: str = "export") -> Graph:
    """A :class:`Graph` from an ``ExportedProgram``. With ``model`` the module tree gives
    leaf modules, groups and parameter counts; without it (an archive read from disk) the
    leaves are the innermost modules named in the nodes' module stacks."""
    sig = ep.graph_signature
    state = ep.state_dict
    param_of = dict(sig.inputs_to_parameters)
    buffer_of = dict(sig.inputs_to_buffers)
    const_of = dict(getattr(sig, "inputs_to_lifted_tensor_constants", {}) or {})
    user_inputs = list(sig.user_inputs)
    nodes = list(ep.graph.nodes)

    per_path: dict[str, tuple[int, int]] = {}
    param_counts = ParamCounts(model) if model is not None else None
    if model is not None:
        g = new_graph(model, method, param_counts)
        leaves = leaf_paths(model)
        modules = dict(model.named_modules())
        leaf_set = set(leaves)
    else:
        g, leaf_set, per_path = _graph_from_stacks(ep, nodes, name or "ExportedProgram", method)
        modules = {}

    def leaf_entry(stack: dict) -> tuple[str, str, str] | None:
        """(stack key, path, type) of the outermost leaf module on the stack."""
        for key, (path, typ) in stack.items():
            if path in leaf_set:
                return key, path, typ
        return None

    owner: dict[str, str] = {}  # fx node name -> graph node id
    aliases: dict[str, tuple[str, Any]] = {}
    calls: dict[str, int] = {}
    counts: dict[str, int] = {}
    prev_leaf_key = None
    current_leaf: Node | None = None
    leaf_members: dict[str, set[str]] = {}
    param_nodes: dict[str, str] = {}

    def new_id(base: str) -> str:
        k = counts.get(base, 0)
        counts[base] = k + 1
        return base if k == 0 else f"{base}_{k}"

    def ensure_param(fx_name: str) -> str | None:
        target = param_of.get(fx_name) or buffer_of.get(fx_name) or const_of.get(fx_name)
        if target is None:
            return None
        if fx_name in param_nodes:
            return param_nodes[fx_name]
        t = state.get(target)
        if t is None:
            t = ep.constants.get(target) if hasattr(ep, "constants") else None
        is_param = fx_name in param_of
        numel = t.numel() if (t is not None and is_param) else 0
        trainable = numel if (t is not None and is_param and getattr(t, "requires_grad", True)) else 0
        nid = new_id(f"param:{target}")
        g.add_node(Node(nid, "param", target.rsplit(".", 1)[-1], "parameter" if is_param else
                        ("buffer" if fx_name in buffer_of else "constant"), group=parent_path(target),
                        outputs=metas(t) if t is not None else metas(_val(next(n for n in nodes
                                                                                if n.name == fx_name))),
                        params=numel, trainable_params=trainable, attrs={"name": target}))
        param_nodes[fx_name] = nid
        return nid

    def connect(n: torch.fx.Node, dst: str, node: Node, leaf_path: str | None = None) -> None:
        for inp in n.all_input_nodes:
            if inp.op == "placeholder" and inp.name not in user_inputs:
                if leaf_path is not None:
                    continue  # the leaf's own weights
                pid = ensure_param(inp.name)
                if pid is not None:
                    owner.setdefault(inp.name, pid)
            if inp.name in aliases:
                src, v = aliases[inp.name]
                pairs = [(src, m) for m in metas(v)]
            elif inp.name in owner:
                pairs = [(owner[inp.name], m) for m in metas(_val(inp))]
            else:
                pairs = []
            for src, m in pairs:
                if src == dst:
                    continue
                key = (src, dst, m)
                if key in edge_seen:
                    continue
                edge_seen.add(key)
                g.add_edge(src, dst, m)
                node.inputs.append(m)

    edge_seen: set = set()
    for n in nodes:
        val = _val(n)
        if n.op == "placeholder":
            if n.name in user_inputs:
                if not metas(val):
                    continue
                nid = new_id(n.name)
                g.add_node(Node(nid, "input", n.name, "input", outputs=metas(val)))
                owner[n.name] = nid
            continue
        if n.op == "output":
            outs = n.args[0] if n.args else ()
            i = 0
            for o in (outs if isinstance(outs, (list, tuple)) else [outs]):
                if not isinstance(o, torch.fx.Node) or o.name not in set(sig.user_outputs):
                    continue
                if o.name in aliases:
                    src, v = aliases[o.name]
                else:
                    src, v = owner.get(o.name), _val(o)
                for m in metas(v):
                    oid = "output" if i == 0 else f"output{i}"
                    i += 1
                    g.add_node(Node(oid, "output", oid, "output", inputs=[m], outputs=[m]))
                    if src is not None:
                        g.add_edge(src, oid, m)
            continue
        if n.op != "call_function":
            continue
        stack = n.meta.get("nn_module_stack") or {}
        leaf = leaf_entry(stack)
        if leaf is not None:
            key, path, typ = leaf
            if current_leaf is None or key != prev_leaf_key:
                k = calls.get(path, 0)
                calls[path] = k + 1
                nid = new_id(path or "model")
                if path in modules:
                    current_leaf = module_node(g, nid, path, modules[path], [], [], call=k, counts=param_counts)
                else:
                    short = _type_name(typ)
                    total, trainable = per_path.get(path, (0, 0))
                    current_leaf = g.add_node(Node(nid, "module", short, short, group=parent_path(path),
                                                   module=path, params=total, trainable_params=trainable))
                leaf_members[nid] = set()
                prev_leaf_key = key
            owner[n.name] = current_leaf.id
            leaf_members[current_leaf.id].add(n.name)
            connect(n, current_leaf.id, current_leaf, leaf_path=path)
            continue
        prev_leaf_key = None
        current_leaf = None
        if not metas(val):
            continue  # sym_size and other shape arithmetic
        if n.target is operator.getitem:
            srcs = [a for a in n.all_input_nodes]
            if srcs and srcs[0].name in owner:
                aliases[n.name] = (owner[srcs[0].name], val)
                continue
        name = op_name(n.target)
        group = next(reversed(stack.values()))[0] if stack else ""
        nid = new_id(name)
        node = g.add_node(Node(nid, "op", name, name, group=group, outputs=metas(val),
                               attrs=scalar_attrs(n.args, n.kwargs)))
        owner[n.name] = nid
        connect(n, nid, node)

    # outputs of leaf nodes: values made inside the leaf and used outside it
    by_name = {n.name: n for n in nodes}
    for nid, members in leaf_members.items():
        outs: list[TensorMeta] = []
        for name in members:
            n = by_name[name]
            if any(owner.get(u.name) != nid for u in n.users):
                outs.extend(metas(_val(n)))
        g.nodes[nid].outputs = outs
    g.name_outputs(_output_paths(ep))
    return g


def _output_paths(ep) -> list[str] | None:
    """Key paths of the program's outputs from its output tree spec (dict keys kept)."""
    from torch.utils._pytree import tree_unflatten

    try:
        spec = ep.call_spec.out_spec
        return output_key_paths(tree_unflatten(list(range(spec.num_leaves)), spec), lambda o: isinstance(o, int))
    except Exception:  # noqa: BLE001 - no spec (an archive from another version): default names
        return None


def _type_name(typ: Any) -> str:
    """``torch.nn.modules.conv.Conv2d`` (or the class itself) -> ``Conv2d``."""
    text = typ.__name__ if isinstance(typ, type) else str(typ)
    return text.strip("<>'").replace("class '", "").rsplit(".", 1)[-1].strip("'>")


def _graph_from_stacks(ep, nodes, name: str, method: str):
    """Groups, leaves and parameter counts of an exported program without its module: the
    module paths in the nodes' stacks; a path that contains no other is a leaf."""
    sig = ep.graph_signature
    types: dict[str, str] = {}
    for n in nodes:
        for _key, (path, typ) in (n.meta.get("nn_module_stack") or {}).items():
            types.setdefault(path, _type_name(typ))
    paths = [p for p in types if p]
    leaves = {p for p in paths if not any(q.startswith(p + ".") for q in paths)}
    total = trainable = 0
    seen = set()
    per_path: dict[str, tuple[int, int]] = {}
    for fx_name, target in sig.inputs_to_parameters.items():
        t = ep.state_dict.get(target)
        if t is None or id(t) in seen:
            continue
        seen.add(id(t))
        k = t.numel()
        tr = k if getattr(t, "requires_grad", True) else 0
        total += k
        trainable += tr
        parts = target.split(".")
        for i in range(len(parts)):
            prefix = ".".join(parts[:i])
            a, b = per_path.get(prefix, (0, 0))
            per_path[prefix] = (a + k, b + tr)
    root_type = types.get("", name) or name
    g = Graph(root_type, method, total_params=total, trainable_params=trainable)
    for p in sorted(set(paths) - leaves, key=lambda s: s.count(".")):
        a, b = per_path.get(p, (0, 0))
        g.set_group(p, types[p], a, b)
    g.set_group("", root_type, total, trainable)
    return g, leaves, per_path


__all__ = ["read_export", "program_to_graph", "export_program"]
