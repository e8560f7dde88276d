"""The torch.fx reader: symbolic tracing, then a real forward pass through the traced
graph to record every tensor's shape and dtype.

Leaf modules (modules with no children, and torch.nn built-ins such as
``MultiheadAttention``, ``LSTM`` and ``GRU`` that are ugly to trace into) become
``module`` nodes; everything else is traced through, so the functional ops between
modules (``add``, ``cat``, ``matmul``, ``flatten``...) become ``op`` nodes and every
non-leaf module becomes a group.

This module also holds the helpers every torch reader shares (leaf rule, tensor metadata,
parameter counting, groups).
"""
from __future__ import annotations

import collections
import contextlib
import operator
from typing import Any, Iterator

import torch
from torch import nn

from ..adapters.torch import iter_tensors
from .model import Graph, Node, TensorMeta, output_key_paths

# -- helpers shared by the torch readers ------------------------------------------------

#: torch.nn built-ins that are always drawn as one node, even though they have children
#: (MultiheadAttention holds ``out_proj``) or a long functional body (RNNs).
LEAF_TYPES: tuple[type, ...] = (nn.MultiheadAttention, nn.RNNBase, nn.RNNCellBase)


def is_leaf(module: nn.Module) -> bool:
    """A module drawn as one node: no children, or one of :data:`LEAF_TYPES`."""
    return isinstance(module, LEAF_TYPES) or next(iter(module.children()), None) is None


def leaf_paths(model: nn.Module) -> dict[str, nn.Module]:
    """Qualified names of the leaf modules, not descending into leaves (``out_proj`` of a
    MultiheadAttention is part of it, not a leaf of its own)."""
    found: dict[str, nn.Module] = {}

    def walk(prefix: str, m: nn.Module) -> None:
        if prefix and is_leaf(m):
            found[prefix] = m
            return
        for name, child in m.named_children():
            walk(f"{prefix}.{name}" if prefix else name, child)

    if is_leaf(model):  # a bare nn.Linear / nn.LSTM given as the model
        return {"": model}
    walk("", model)
    return found


def group_paths(model: nn.Module) -> dict[str, nn.Module]:
    """The non-leaf modules (groups), root ``""`` included, not descending into leaves."""
    found: dict[str, nn.Module] = {}

    def walk(prefix: str, m: nn.Module) -> None:
        if prefix and is_leaf(m):
            return
        found[prefix] = m
        for name, child in m.named_children():
            walk(f"{prefix}.{name}" if prefix else name, child)

    walk("", model)
    return found


def count_params(module: nn.Module) -> tuple[int, int]:
    """(all, trainable) parameters of ``module`` and its children, shared ones counted once."""
    total = trainable = 0
    for p in module.parameters():  # parameters() already de-duplicates shared tensors
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return total, trainable


class ParamCounts:
    """``(all, trainable)`` parameters of every module of ``model``, each computed once,
    bottom up from the modules' own parameters: one pass over the parameters instead of one
    per module and group (which is quadratic in the nesting). Where a parameter or a module
    appears twice in the tree (tied weights, a module called from two places) the sums would
    count it twice, so every count falls back to :func:`count_params` (shared tensors once)."""

    def __init__(self, model: nn.Module):
        self._cache: dict[int, tuple[int, int]] = {}
        seen_modules: set[int] = set()
        seen_params: set[int] = set()
        self.shared = False
        stack = [model]
        while stack and not self.shared:
            m = stack.pop()
            if id(m) in seen_modules:
                self.shared = True
                break
            seen_modules.add(id(m))
            for p in m._parameters.values():
                if p is not None:
                    self.shared |= id(p) in seen_params
                    seen_params.add(id(p))
            stack.extend(c for c in m._modules.values() if c is not None)

    def __call__(self, module: nn.Module) -> tuple[int, int]:
        if self.shared:
            return count_params(module)
        got = self._cache.get(id(module))
        if got is None:
            total = trainable = 0
            for p in module._parameters.values():
                if p is not None:
                    total += p.numel()
                    trainable += p.numel() if p.requires_grad else 0
            for child in module._modules.values():
                if child is not None:
                    t, tr = self(child)
                    total, trainable = total + t, trainable + tr
            got = self._cache[id(module)] = (total, trainable)
        return got


def parent_path(path: str) -> str:
    return path.rsplit(".", 1)[0] if "." in path else ""


def dtype_name(dtype: Any) -> str | None:
    if dtype is None:
        return None
    return str(dtype).replace("torch.", "")


def metas(value: Any) -> list[TensorMeta]:
    """TensorMeta for every tensor in ``value`` (tensors, nested tuples/lists/dicts,
    Hugging Face outputs, fake tensors)."""
    out: list[TensorMeta] = []
    for t in _tensors(value):
        out.append(TensorMeta(tuple(int(d) if _is_int(d) else None for d in t.shape), dtype_name(t.dtype)))
    return out


def _is_int(d: Any) -> bool:
    try:
        int(d)
        return True
    except Exception:  # noqa: BLE001 - symbolic sizes
        return False


_tensors = iter_tensors  # the one tensor walk, from the adapter


def has_tensor(value: Any) -> bool:
    return next(_tensors(value), None) is not None


def first_meta(value: Any) -> TensorMeta:
    m = metas(value)
    return m[0] if m else TensorMeta()


def module_type(m: nn.Module) -> str:
    return type(m).__name__


def module_attrs(m: nn.Module) -> dict:
    """A few readable hyper-parameters of a module (``extra_repr``) for hover text."""
    try:
        extra = m.extra_repr()
    except Exception:  # noqa: BLE001 - user modules may break extra_repr
        extra = ""
    return {"config": extra} if extra else {}


def set_groups(graph: Graph, model: nn.Module, counts: ParamCounts | None = None) -> None:
    """Every non-leaf module becomes a group with its type and parameter counts."""
    counts = counts if counts is not None else ParamCounts(model)
    for path, m in group_paths(model).items():
        total, trainable = counts(m)
        graph.set_group(path, module_type(m), total, trainable)


def new_graph(model: nn.Module, method: str, counts: ParamCounts | None = None) -> Graph:
    counts = counts if counts is not None else ParamCounts(model)
    total, trainable = counts(model)
    g = Graph(module_type(model), method, total_params=total, trainable_params=trainable)
    set_groups(g, model, counts)
    return g


def module_node(graph: Graph, node_id: str, path: str, m: nn.Module, inputs: list[TensorMeta],
                outputs: list[TensorMeta], call: int = 0, counts: ParamCounts | None = None) -> Node:
    total, trainable = counts(m) if counts is not None else count_params(m)
    attrs = module_attrs(m)
    if call:
        attrs["call"] = call + 1  # second, third... call of a shared module
    return graph.add_node(Node(node_id, "module", module_type(m), module_type(m),
                               group=parent_path(path) if path else "", module=path or None,
                               inputs=inputs, outputs=outputs, params=total, trainable_params=trainable,
                               attrs=attrs))


_OP_NAMES = {
    operator.add: "add", operator.iadd: "add", operator.sub: "sub", operator.isub: "sub",
    operator.mul: "mul", operator.imul: "mul", operator.truediv: "div", operator.itruediv: "div",
    operator.floordiv: "floordiv", operator.matmul: "matmul", operator.imatmul: "matmul",
    operator.neg: "neg", operator.pow: "pow", operator.getitem: "getitem", operator.mod: "mod",
}


def op_name(target: Any) -> str:
    """A short readable name for a function or method target (``operator.add`` -> ``add``,
    ``Tensor.__radd__`` -> ``add``, ``aten.conv2d.default`` -> ``conv2d``)."""
    if target in _OP_NAMES:
        return _OP_NAMES[target]
    if hasattr(target, "overloadpacket"):  # aten.add.Tensor
        name = target.overloadpacket.__name__
    elif isinstance(target, str):
        name = target
    else:
        name = getattr(target, "__name__", None) or str(target)
    if name.endswith("_") and not name.startswith("_") and len(name) > 1:  # add_ (in place) -> add
        name = name[:-1]
    if name.startswith("__") and name.endswith("__"):
        name = name[2:-2]
        if name[:1] in ("r", "i") and name[1:] in ("add", "sub", "mul", "truediv", "matmul", "floordiv", "pow",
                                                  "mod", "and", "or", "xor"):
            name = name[1:]
        if name == "truediv":
            name = "div"
    if "." in name:  # aten.conv2d.default
        parts = name.split(".")
        name = parts[1] if parts[0] == "aten" and len(parts) > 1 else parts[-1]
    return name


def scalar_attrs(args: Any, kwargs: dict | None = None) -> dict:
    """Non-tensor arguments of an op as short strings (``dim=1``, ``start_dim=1``)."""
    attrs: dict = {}
    for i, a in enumerate(args or ()):
        s = _short(a)
        if s is not None:
            attrs[f"arg{i}"] = s
    for k, v in (kwargs or {}).items():
        s = _short(v)
        if s is not None:
            attrs[k] = s
    return attrs


def _short(v: Any) -> str | None:
    if isinstance(v, (bool, int, float, str)) or v is None:
        return None if v is None else repr(v)
    if isinstance(v, torch.dtype):
        return dtype_name(v)
    if isinstance(v, slice):
        return f"{'' if v.start is None else v.start}:{'' if v.stop is None else v.stop}" + (
            f":{v.step}" if v.step is not None else "")
    if isinstance(v, (tuple, list)) and all(isinstance(x, (int, float, bool, slice, type(None), type(...)))
                                          for x in v) and len(v) <= 8:
        return "(" + ", ".join("..." if x is ... else (_short(x) or "None") for x in v) + ")"
    return None


@contextlib.contextmanager
def plain_forward() -> Iterator[None]:
    """Forward passes that go through every submodule: no autograd, and PyTorch's fused
    transformer fast path switched off (it would skip ``self_attn``/``linear1`` hooks)."""
    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad():
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)


# -- the fx reader ----------------------------------------------------------------------

_PLAIN_ARGS = (int, float, bool, str, type(None))


class _Scope(torch.fx.proxy.Scope):
    """fx's current scope, copied on entering every module call: a direct copy instead of
    ``copy.copy``'s generic ``__reduce_ex__`` round trip (the same two fields)."""

    def __copy__(self) -> torch.fx.proxy.Scope:
        return torch.fx.proxy.Scope(self.module_path, self.module_type)


class _ModuleStack(collections.OrderedDict):
    """fx's stack of module calls, copied into every node's ``nn_module_stack``: a direct
    ``OrderedDict`` copy instead of ``copy.copy``'s generic round trip (the same items)."""

    def __copy__(self) -> collections.OrderedDict:
        return collections.OrderedDict(self)


class _Tracer(torch.fx.Tracer):
    """fx's tracer with neuralscope's leaf rule, and a short way through :meth:`create_arg`
    for the arguments nearly every call has (proxies, plain numbers, tuples and lists of
    them, no keywords): fx's own first asks whether each is a parameter, a tensor, a module, a named
    tuple or a constant (a metaclass check among them), and for these types every answer is
    no, so the result is the same."""

    def __init__(self, leaves: dict[str, nn.Module]):
        super().__init__()
        self._leaf_ids = {id(m) for m in leaves.values()}
        self.scope = _Scope(self.scope.module_path, self.scope.module_type)
        self.module_stack = _ModuleStack(self.module_stack)

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return id(m) in self._leaf_ids

    def create_arg(self, a: Any) -> Any:
        kind = type(a)
        if kind is torch.fx.Proxy:
            return a.node
        if kind in _PLAIN_ARGS:
            return a
        if kind is tuple:
            return tuple(self.create_arg(x) for x in a)
        if kind is list:
            return [self.create_arg(x) for x in a]
        if kind is dict and not a:  # (the keyword arguments of most calls)
            return {}
        return super().create_arg(a)

    def create_node(self, kind: str, target: Any, args: tuple, kwargs: dict, name: str | None = None,
                    type_expr: Any | None = None) -> torch.fx.Node:
        """fx's node, made without its arguments and then given them (``Node.args`` and
        ``Node.kwargs`` are assignable, with the same bookkeeping of users and inputs): made with
        them, fx's graph first walks every call's arguments with pytree looking for raw symbolic
        sizes, which symbolic tracing with proxies never produces (a tenth of a 10,000-module trace)."""
        if not args or kind not in ("call_function", "call_method", "call_module") or (
                kind == "call_function" and self.check_mutable_operations):
            return super().create_node(kind, target, args, kwargs, name, type_expr)
        node = super().create_node(kind, target, (), {}, name, type_expr)
        node.args = args
        if kwargs:
            node.kwargs = kwargs
        return node


class _Recorder(torch.fx.Interpreter):
    """Runs the traced graph on real inputs and keeps each node's output metadata.

    Two of the interpreter's per-node costs are left out, since neither changes what runs:
    the traceback metadata it sets around every node (for retracing tools), and the
    attribute walk that finds a called module by its path (``self.submodules``, built once
    by the interpreter, holds every module by path).
    """

    def __init__(self, model: nn.Module, fx_graph: torch.fx.Graph):
        super().__init__(model, garbage_collect_values=True, graph=fx_graph)
        self.values: dict[str, Any] = {}

    def call_module(self, target: Any, args: tuple, kwargs: dict) -> Any:
        module = self.submodules.get(target) if isinstance(target, str) else None
        if module is None:
            return super().call_module(target, args, kwargs)
        return module(*args, **kwargs)

    def run_node(self, n: torch.fx.Node) -> Any:
        args, kwargs = self.fetch_args_kwargs_from_env(n)
        result = getattr(self, n.op)(n.target, args, kwargs)
        if type(result) is torch.Tensor:  # (a real forward: plain integer sizes)
            self.values[n.name] = TensorMeta(tuple(result.shape), dtype_name(result.dtype))
        elif isinstance(result, torch.Tensor):
            self.values[n.name] = metas(result)[0]
        elif has_tensor(result):
            self.values[n.name] = _structure(result)
        else:
            self.values[n.name] = None
        return result


def _structure(value: Any) -> Any:
    """Tensors replaced by TensorMeta, keeping tuples/lists/dicts (for getitem)."""
    if isinstance(value, torch.Tensor):
        return metas(value)[0]
    if isinstance(value, dict):
        return {k: _structure(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return tuple(_structure(v) for v in value)
    if hasattr(value, "to_tuple"):
        return _structure(value.to_tuple())
    return None


def _flat(value: Any) -> list[TensorMeta]:
    if isinstance(value, TensorMeta):
        return [value]
    if isinstance(value, dict):
        return [m for v in value.values() for m in _flat(v)]
    if isinstance(value, tuple):
        return [m for v in value for m in _flat(v)]
    return []


def trace(model: nn.Module) -> torch.fx.GraphModule:
    """Symbolically trace ``model`` with neuralscope's leaf rule (raises if fx cannot)."""
    tracer = _Tracer(leaf_paths(model))
    fx_graph = tracer.trace(model)
    return torch.fx.GraphModule(tracer.root, fx_graph, module_type(model))


def _trace_graph(model: nn.Module) -> torch.fx.Graph:
    """The fx graph of :func:`trace` without building a ``GraphModule`` around it (which
    copies the whole module tree and generates code: a third of the reader's time on a
    10,000-module model); the graph's ``call_module`` and ``get_attr`` targets are paths in
    ``model`` itself."""
    return _Tracer(leaf_paths(model)).trace(model)


def read_fx(model: nn.Module, args: tuple, kwargs: dict) -> Graph:
    """Read ``model`` into a :class:`Graph` with torch.fx (symbolic trace + real forward).

    Raises whatever tracing raises when the model cannot be traced symbolically (data-
    dependent control flow); :func:`neuralscope.graph.api.graph` then tries the next reader.
    The caller guards the model state and runs this inside :func:`plain_forward`.
    """
    fx_graph = _trace_graph(model)
    placeholders = [n for n in fx_graph.nodes if n.op == "placeholder"]
    # bind positional and keyword inputs to placeholders in order
    run_args = list(args)
    for ph in placeholders[len(args):]:
        if ph.target in kwargs:
            run_args.append(kwargs[ph.target])
        elif ph.args:  # default value
            run_args.append(ph.args[0])
        else:
            run_args.append(None)
    rec = _Recorder(model, fx_graph)
    rec.run(*run_args)
    return _to_graph(model, fx_graph, rec.values, rec.submodules)


def _to_graph(model: nn.Module, fx_graph: torch.fx.Graph, values: dict[str, Any],
              modules: dict[str, nn.Module] | None = None) -> Graph:
    param_counts = ParamCounts(model)
    g = new_graph(model, "fx", param_counts)
    modules = modules if modules is not None else dict(model.named_modules())
    params: dict[str, nn.Parameter] | None = None  # (made at the first get_attr: most graphs have none)
    calls: dict[str, int] = {}
    # fx node name -> (graph node id, meta of the value it stands for) ; getitem on a tuple
    # output and non-tensor nodes are transparent.
    alias: dict[str, tuple[str, Any]] = {}
    out_index = 0
    counts: dict[str, int] = {}

    def new_id(base: str) -> str:
        k = counts.get(base, 0)
        counts[base] = k + 1
        return base if k == 0 else f"{base}_{k}"

    def sources(n: torch.fx.Node) -> list[tuple[str, Any]]:
        found = []
        for inp in n.all_input_nodes:
            if inp.name in alias:
                found.extend(alias_sources(inp.name))
        return found

    def alias_sources(name: str) -> list[tuple[str, Any]]:
        src, val = alias[name]
        if src == "__multi__":
            return list(val)
        return [(src, val)]

    def connect(n: torch.fx.Node, dst: str) -> list[TensorMeta]:
        ins: list[TensorMeta] = []
        seen = set()
        for src, val in sources(n):
            for m in _flat(val) or [TensorMeta()]:
                key = (src, m)
                if key in seen:
                    continue
                seen.add(key)
                g.add_edge(src, dst, m)
                ins.append(m)
        return ins

    for n in fx_graph.nodes:
        val = values.get(n.name)
        if n.op == "placeholder":
            if val is None:
                continue  # an optional argument left at None
            g.add_node(Node(n.name, "input", n.name, "input", outputs=_flat(val)))
            alias[n.name] = (n.name, val)
        elif n.op == "get_attr":
            if val is None:
                continue
            target = str(n.target)
            if params is None:
                params = dict(model.named_parameters())
            p = params.get(target)
            numel = p.numel() if p is not None else 0
            gid = new_id(f"param:{target}")
            g.add_node(Node(gid, "param", target.rsplit(".", 1)[-1], "parameter" if p is not None else "buffer",
                            group=parent_path(target), outputs=_flat(val), params=numel,
                            trainable_params=numel if p is not None and p.requires_grad else 0,
                            attrs={"name": target}))
            alias[n.name] = (gid, val)
        elif n.op == "call_module":
            path = str(n.target)
            k = calls.get(path, 0)
            calls[path] = k + 1
            gid = (path or "model") if k == 0 else f"{path or 'model'}_{k}"
            node = module_node(g, gid, path, modules[path], [], _flat(val), call=k, counts=param_counts)
            node.inputs = connect(n, gid)
            alias[n.name] = (gid, val)
        elif n.op in ("call_function", "call_method"):
            name = op_name(n.target)
            if val is None:
                continue  # size(), dim(), shape arithmetic: not part of the tensor data flow
            srcs = sources(n)
            if name == "getitem" and srcs and len(srcs) == 1 and isinstance(srcs[0][1], (tuple, dict)):
                # picking one output of a tuple (LSTM's (out, (h, c))): no node of its own
                idx = n.args[1]
                try:
                    picked = srcs[0][1][idx]
                except Exception:  # noqa: BLE001 - an output not indexable: keep the whole value
                    picked = val
                alias[n.name] = (srcs[0][0], picked)
                continue
            if name in ("tuple", "list", "dict") or (isinstance(val, (tuple, dict)) and name in ("getattr",)):
                alias[n.name] = ("__multi__", srcs)
                continue
            stack = n.meta.get("nn_module_stack") or {}
            group = next(reversed(stack.values()))[0] if stack else ""
            gid = new_id(name)
            node = g.add_node(Node(gid, "op", name, name, group=group, outputs=_flat(val),
                                   attrs=scalar_attrs(n.args, n.kwargs)))
            node.inputs = connect(n, gid)
            alias[n.name] = (gid, val)
        elif n.op == "output":
            for src, v in sources(n):
                for m in _flat(v):
                    oid = f"output{out_index}" if out_index else "output"
                    out_index += 1
                    g.add_node(Node(oid, "output", oid, "output", inputs=[m], outputs=[m]))
                    g.add_edge(src, oid, m)
            g.name_outputs(output_key_paths(n.args[0] if n.args else None,
                                            lambda o: isinstance(o, torch.fx.Node)))
    return g


__all__ = ["read_fx", "trace", "is_leaf", "leaf_paths", "group_paths", "count_params", "ParamCounts", "metas",
           "plain_forward", "LEAF_TYPES"]
