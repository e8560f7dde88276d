"""``summary(model, example_inputs)``: the torchinfo-style table of a model.

One real forward pass (eval mode, no gradients, the model left exactly as found) records,
for every module call in execution order: its output shape, its parameters, its
multiply-accumulates and the bytes of its outputs.

Multiply-accumulates (MACs) count the products of a layer's weights with its inputs, the
usual definition (fvcore, PyTorch's ``FlopCounterMode`` reports 2 FLOPs per MAC); bias
additions are not MACs:

* ``Conv*d``: ``weight.numel() * batch * output positions``; transposed convolutions use
  the input positions.
* ``Linear``: ``in * out`` for every output row (all leading dimensions, not only the batch).
* ``LSTM``/``GRU``/``RNN``: gates x hidden x (input + hidden) per time step, per layer and
  direction, projections included.
* ``MultiheadAttention``: the q/k/v and output projections plus ``QK^T`` and ``AV``
  (``batch * L * S * embed_dim`` each).
* Functional ops between modules, and inside leaf modules of other types (custom layers such
  as Hugging Face's ``Conv1D`` in GPT-2, modules unflattened from a ``torch.export``
  archive): ``matmul``/``mm``/``bmm``/``mv``/``dot``, ``addmm``/``baddbmm``/``addbmm``/
  ``addmv``, ``einsum`` of two operands, ``linear``, ``bilinear``, ``conv*d``,
  ``conv_transpose*d`` and ``scaled_dot_product_attention``.

Normalisation, activations, pooling and embeddings cost no MACs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..adapters.torch import TorchAdapter, as_inputs, iter_tensors, model_device, preserve_model_state
from ..result import Result
from .extract_fx import ParamCounts, count_params, is_leaf, op_name, plain_forward


@dataclass
class Row:
    """One module call: ``name`` is the qualified module name ("" for the model)."""

    name: str
    type: str
    depth: int
    output_shapes: list[tuple]
    params: int
    trainable_params: int
    macs: int
    own_macs: int
    memory: int
    leaf: bool
    call: int = 1
    extra: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``name (Type)`` with the name relative to the enclosing row (``layer.0`` when the
        ModuleList in between is never called itself)."""
        if not self.name:
            return self.type
        short = self.extra.get("relative") or self.name.rsplit(".", 1)[-1]
        return f"{short} ({self.type})"

    def shape_text(self) -> str:
        if not self.output_shapes:
            return "-"
        text = ", ".join("(" + ", ".join(map(str, s)) + ")" for s in self.output_shapes[:2])
        return text + (", ..." if len(self.output_shapes) > 2 else "")

    def to_dict(self) -> dict:
        return {"name": self.name, "type": self.type, "depth": self.depth,
                "output_shapes": [list(s) for s in self.output_shapes], "params": self.params,
                "trainable_params": self.trainable_params, "macs": self.macs, "own_macs": self.own_macs,
                "memory": self.memory, "leaf": self.leaf, "call": self.call}


class Summary(Result):
    """The table :func:`summary` returns: rows per module call, with totals.

    ``rows`` is in execution order, parents before their children; ``total_macs`` is the
    whole forward pass; ``activation_memory`` the bytes of all leaf outputs (what a backward
    pass would keep); ``param_memory`` the bytes of the parameters.

    Example:
        >>> s = summary(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()), torch.zeros(2, 4))
        >>> [(r.name, r.output_shapes, r.params, r.macs) for r in s.rows]
        [('', [(2, 3)], 15, 24), ('0', [(2, 3)], 15, 24), ('1', [(2, 3)], 0, 0)]
        >>> fig = s.plot()  # bars of parameters and MACs per layer
    """

    kind = "summary"
    schema = {"kind": "str", "name": "str", "rows": [{
        "name": "str", "type": "str", "depth": "int", "output_shapes": "any", "params": "int",
        "trainable_params": "int", "macs": "int", "own_macs": "int", "memory": "int", "leaf": "bool", "call": "int"}],
        "total_params": "int", "trainable_params": "int", "total_macs": "int", "activation_memory": "int",
        "param_memory": "int", "input_shapes": "any"}

    def __init__(self, name: str, rows: list[Row], total_params: int, trainable_params: int,
                 total_macs: int, activation_memory: int, param_memory: int, input_shapes: list[tuple]):
        self.name, self.rows = name, rows
        self.total_params, self.trainable_params = total_params, trainable_params
        self.total_macs, self.activation_memory, self.param_memory = total_macs, activation_memory, param_memory
        self.input_shapes = input_shapes

    @property
    def frozen_params(self) -> int:
        return self.total_params - self.trainable_params

    def to_dict(self) -> dict:
        return {"kind": self.kind, "name": self.name, "rows": [r.to_dict() for r in self.rows],
                "total_params": self.total_params, "trainable_params": self.trainable_params,
                "total_macs": self.total_macs, "activation_memory": self.activation_memory,
                "param_memory": self.param_memory, "input_shapes": [list(s) for s in self.input_shapes]}

    def _title(self) -> str:
        return f"{self.name} summary"

    def _html_fragment(self) -> str:
        """The table as text and the bar chart below it (notebooks, ``save("x.html")``)."""
        import base64
        import html

        png = base64.b64encode(self.to_png()).decode()
        return (f'<pre style="font-size:12px;line-height:1.35">{html.escape(str(self))}</pre>'
                f'<img alt="{html.escape(self._title())}" style="max-width:100%" src="data:image/png;base64,{png}">')

    def __str__(self) -> str:
        head = ("Layer (type)", "Output shape", "Params", "MACs", "Memory")
        body = []
        for r in self.rows:
            label = ("  " * r.depth + r.label) if r.name else r.label
            body.append((label, r.shape_text(), f"{r.params:,}" if (r.call == 1 and r.params) else
                         ("(shared)" if r.params else "-"), _si(r.macs) if r.macs else "-",
                         _bytes(r.memory)))
        widths = [max(len(head[i]), *(len(b[i]) for b in body)) if body else len(head[i]) for i in range(5)]
        widths[0] = min(widths[0], 60)

        def fmt(cells):
            first = cells[0] if len(cells[0]) <= widths[0] else cells[0][: widths[0] - 1] + "…"
            return "  ".join([first.ljust(widths[0]), cells[1].ljust(widths[1])]
                             + [c.rjust(w) for c, w in zip(cells[2:], widths[2:])])

        rule = "=" * len(fmt(head))
        lines = [rule, fmt(head), rule] + [fmt(b) for b in body] + [rule]
        lines += [f"Total params: {self.total_params:,}", f"Trainable params: {self.trainable_params:,}",
                  f"Non-trainable params: {self.frozen_params:,}",
                  f"Total multiply-accumulates: {_si(self.total_macs)} ({self.total_macs:,})",
                  "Input shape: " + ", ".join("(" + ", ".join(map(str, s)) + ")" for s in self.input_shapes),
                  f"Activation memory (outputs of leaf layers): {_bytes(self.activation_memory)}",
                  f"Parameter memory: {_bytes(self.param_memory)}", rule]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"Summary({self.name!r}, rows={len(self.rows)}, params={self.total_params:,}, "
                f"macs={self.total_macs:,})")

    def plot_rows(self, depth: int | None = None, max_rows: int = 40) -> list[Row]:
        """The rows a bar chart shows: leaves, or modules at ``depth`` (the deepest level
        with at most ``max_rows`` rows when not given), merged over repeated calls."""
        if depth is None:
            depth = max((r.depth for r in self.rows), default=0)
            while depth > 1 and len(self._rows_at(depth)) > max_rows:
                depth -= 1
        return self._rows_at(depth)

    def _rows_at(self, depth: int) -> list[Row]:
        merged: dict[str, Row] = {}
        for r in self.rows:
            if not r.name or not (r.depth == depth or (r.leaf and r.depth < depth)):
                continue
            if r.name in merged:
                m = merged[r.name]
                merged[r.name] = Row(m.name, m.type, m.depth, m.output_shapes, m.params, m.trainable_params,
                                     m.macs + r.macs, m.own_macs + r.own_macs, m.memory + r.memory, m.leaf,
                                     m.call + 1)
            else:
                merged[r.name] = r
        return list(merged.values())

    def plot(self, ax=None, *, depth: int | None = None, max_rows: int = 40):
        """Horizontal bars of parameters and MACs per layer (execution order, top to bottom).

        Returns the figure (two axes: parameters, MACs). ``ax`` may be a pair of axes.
        """
        import matplotlib.pyplot as plt

        rows = self.plot_rows(depth, max_rows)
        if ax is None:
            height = max(2.5, 0.26 * len(rows) + 1.2)
            fig, axes = plt.subplots(1, 2, figsize=(11, height), sharey=True, constrained_layout=True)
        else:
            axes = ax if isinstance(ax, (list, tuple, np.ndarray)) else [ax, ax.twiny()]
            fig = axes[0].figure
        y = np.arange(len(rows))
        labels = [r.name + (f" ×{r.call}" if r.call > 1 else "") + f"  ({r.type})" for r in rows]
        params = np.array([r.params for r in rows], dtype=float)
        macs = np.array([r.macs for r in rows], dtype=float)
        colors = ["#4C72B0" if r.trainable_params == r.params else "#8c8c8c" for r in rows]
        axes[0].barh(y, params, color=colors, height=0.7)
        axes[1].barh(y, macs, color="#DD8452", height=0.7)
        axes[0].set_yticks(y)
        axes[0].set_yticklabels(labels, fontsize=8 if len(rows) > 20 else 9)
        axes[0].invert_yaxis()
        axes[0].set_xlabel("parameters")
        axes[1].set_xlabel("multiply-accumulates per forward pass")
        for a, vals in ((axes[0], params), (axes[1], macs)):
            a.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: _si(v)))
            a.grid(axis="x", alpha=0.3)
            a.spines[["top", "right"]].set_visible(False)
            top = vals.max() if len(vals) else 0
            for yi, v in zip(y, vals):
                if v > 0:
                    a.text(v + top * 0.01, yi, _si(v), va="center", fontsize=7, color="#333")
            if top > 0:
                a.set_xlim(0, top * 1.15)
        axes[0].set_title(f"{self.name}: {self.total_params:,} parameters", fontsize=10)
        axes[1].set_title(f"{_si(self.total_macs)} MACs for input "
                          + ", ".join("×".join(map(str, s)) for s in self.input_shapes), fontsize=10)
        return fig


def _si(v: float) -> str:
    v = float(v)
    for unit, div in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= div:
            return f"{v / div:.3g}{unit}"
    return f"{v:.0f}"


def _bytes(n: int) -> str:
    for unit, div in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= div:
            return f"{n / div:.2f} {unit}"
    return f"{n} B"


# -- MAC rules ------------------------------------------------------------------------

_RULED = (nn.modules.conv._ConvNd, nn.Linear, nn.Bilinear, nn.RNNBase, nn.MultiheadAttention, nn.RNNCellBase)


def module_macs(m: nn.Module, args: tuple, kwargs: dict, output: Any) -> int:
    """Multiply-accumulates of one call of a leaf module (see the module docstring)."""
    outs = list(iter_tensors(output))
    ins = [t for t in iter_tensors((args, kwargs))]
    if isinstance(m, nn.modules.conv._ConvNd) and outs:
        out = outs[0]
        n_batch = out.shape[0] if out.dim() == m.weight.dim() else 1
        if isinstance(m, nn.modules.conv._ConvTransposeNd):
            x = ins[0]
            spatial = math.prod(x.shape[-(m.weight.dim() - 2):])
        else:
            spatial = math.prod(out.shape[-(m.weight.dim() - 2):])
        return int(m.weight.numel() * n_batch * spatial)
    if isinstance(m, nn.Linear) and outs:
        out = outs[0]
        return int(m.in_features * m.out_features * math.prod(out.shape[:-1]))
    if isinstance(m, nn.Bilinear) and outs:
        return int(m.weight.numel() * math.prod(outs[0].shape[:-1]))
    if isinstance(m, nn.RNNBase) and ins:
        return _rnn_macs(m, ins[0])
    if isinstance(m, nn.MultiheadAttention) and len(ins) >= 1:
        return _mha_macs(m, args, kwargs)
    if isinstance(m, nn.RNNCellBase) and ins:
        gates = {nn.LSTMCell: 4, nn.GRUCell: 3}.get(type(m), 1)
        rows = ins[0].shape[0] if ins[0].dim() == 2 else 1
        return int(gates * m.hidden_size * (m.input_size + m.hidden_size) * rows)
    return 0


def _rnn_macs(m: nn.RNNBase, x: torch.Tensor) -> int:
    if x.dim() == 2:
        steps, batch = x.shape[0], 1
    elif m.batch_first:
        batch, steps = x.shape[0], x.shape[1]
    else:
        steps, batch = x.shape[0], x.shape[1]
    weights = sum(p.numel() for name, p in m.named_parameters() if name.startswith("weight"))
    return int(weights * steps * batch)


def _mha_macs(m: nn.MultiheadAttention, args: tuple, kwargs: dict) -> int:
    names = ("query", "key", "value")
    qkv = list(args[:3]) + [kwargs[n] for n in names[len(args):] if n in kwargs]
    q, k, v = (qkv + [None] * 3)[:3]
    k = q if k is None else k
    v = k if v is None else v

    def rows_len(t):  # (batch, sequence length)
        if t.dim() == 2:
            return 1, t.shape[0]
        return (t.shape[0], t.shape[1]) if m.batch_first else (t.shape[1], t.shape[0])

    b, L = rows_len(q)
    _, S = rows_len(k)
    E, kd, vd = m.embed_dim, m.kdim, m.vdim
    proj = b * L * E * E + b * S * E * kd + b * S * E * vd  # q, k, v projections
    attn = b * L * S * E * 2  # QK^T and AV over all heads
    out = b * L * E * E
    return int(proj + attn + out)


def function_macs(name: str, args: tuple, kwargs: dict, out: Any) -> int:
    """Multiply-accumulates of a functional op called between modules (or inside a leaf
    module without a rule of its own, e.g. Hugging Face's ``Conv1D``, which is ``addmm``)."""
    rule = _FUNCTION_RULES.get(name)
    if rule is None:
        return 0
    try:
        outs = list(iter_tensors(out))
        return int(rule(args, kwargs, outs[0] if outs else None))
    except Exception:  # noqa: BLE001 - an odd call costs a count, never the summary
        return 0


def _product_macs(a: Any, out: torch.Tensor | None) -> int:
    """``matmul``-like ops: every output element sums ``a.shape[-1]`` products."""
    return out.numel() * (a.shape[-1] if a.dim() > 0 else 1) if torch.is_tensor(a) and out is not None else 0


def _conv_macs(args: tuple, kwargs: dict, out: torch.Tensor) -> int:
    w = args[1] if len(args) > 1 else kwargs["weight"]
    return w.numel() * out.shape[0] * math.prod(out.shape[2:]) if out.dim() == w.dim() else \
        w.numel() * math.prod(out.shape[1:])


def _conv_transpose_macs(args: tuple, kwargs: dict, out: torch.Tensor) -> int:
    x, w = args[0], (args[1] if len(args) > 1 else kwargs["weight"])  # every input element meets
    return w.numel() // w.shape[0] * x.numel()                       # its (out/groups x kernel) weights


def _sdpa_macs(args: tuple, kwargs: dict, out: torch.Tensor) -> int:
    q = args[0] if args else kwargs["query"]
    k = args[1] if len(args) > 1 else kwargs["key"]
    v = args[2] if len(args) > 2 else kwargs["value"]
    return math.prod(q.shape[:-2]) * q.shape[-2] * k.shape[-2] * (q.shape[-1] + v.shape[-1])


_FUNCTION_RULES = {
    "matmul": lambda a, kw, o: _product_macs(a[0], o) if torch.is_tensor(a[1]) else 0,
    "mm": lambda a, kw, o: _product_macs(a[0], o),
    "bmm": lambda a, kw, o: _product_macs(a[0], o),
    "mv": lambda a, kw, o: _product_macs(a[0], o),
    "dot": lambda a, kw, o: a[0].numel(),
    "inner": lambda a, kw, o: _product_macs(a[0], o),
    "addmm": lambda a, kw, o: _product_macs(a[1], o),      # bias + mat1 @ mat2 (HF Conv1D)
    "baddbmm": lambda a, kw, o: _product_macs(a[1], o),
    "addmv": lambda a, kw, o: _product_macs(a[1], o),
    "addbmm": lambda a, kw, o: a[1].shape[0] * _product_macs(a[1], o),
    "einsum": lambda a, kw, o: _einsum_macs(a[0], [t for t in a[1:] if torch.is_tensor(t)])
    if isinstance(a[0], str) else 0,
    "linear": lambda a, kw, o: (a[1] if len(a) > 1 else kw["weight"]).numel() * math.prod(a[0].shape[:-1]),
    "bilinear": lambda a, kw, o: a[2].numel() * math.prod(o.shape[:-1]),
    "conv1d": _conv_macs, "conv2d": _conv_macs, "conv3d": _conv_macs,
    "conv_transpose1d": _conv_transpose_macs, "conv_transpose2d": _conv_transpose_macs,
    "conv_transpose3d": _conv_transpose_macs,
    "scaled_dot_product_attention": _sdpa_macs,
}


def _einsum_macs(eq: str, ops: list[torch.Tensor]) -> int:
    if len(ops) != 2 or "->" not in eq:
        return 0
    lhs = eq.replace(" ", "").split("->")[0].split(",")
    sizes: dict[str, int] = {}
    for spec, t in zip(lhs, ops):
        if "." in spec:
            return 0
        for c, d in zip(spec, t.shape):
            sizes[c] = int(d)
    return int(math.prod(sizes.values()))


# -- the pass ---------------------------------------------------------------------------

class _Pass(TorchFunctionMode):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.names = {}
        for name, m in model.named_modules():
            self.names.setdefault(id(m), name)
        self.rows: list[Row] = []
        self.open: list[Row] = []
        self.leaf_depth = 0
        self.calls: dict[str, int] = {}
        self.seen_params: set[int] = set()
        self.counts = ParamCounts(model)
        self.op_names: dict[Any, str] = {}  # op_name per function, computed once per function
        self.ruled_leaf = False  # inside a leaf with a rule of its own: its functional ops are not counted

    def pre(self, m, args, kwargs):
        if self.leaf_depth:
            self.leaf_depth += 1
            return
        name = self.names.get(id(m), "?")
        k = self.calls.get(name, 0) + 1
        self.calls[name] = k
        total, trainable = self.counts(m)
        depth = self.open[-1].depth + 1 if self.open else 0  # ModuleLists are never called: no gaps
        parent = self.open[-1].name if self.open else ""
        row = Row(name, type(m).__name__, depth, [], total, trainable, 0, 0, 0,
                  is_leaf(m), call=k, extra={"relative": name[len(parent) + 1:] if parent else name})
        self.rows.append(row)
        self.open.append(row)
        if row.leaf:
            self.leaf_depth = 1
            self.ruled_leaf = isinstance(m, _RULED)

    def post(self, m, args, kwargs, output):
        if self.leaf_depth > 1:
            self.leaf_depth -= 1
            return
        row = self.open.pop()
        outs = list(iter_tensors(output))
        row.output_shapes = [tuple(t.shape) for t in outs]
        row.memory = sum(t.numel() * t.element_size() for t in outs)
        if row.leaf:
            self.leaf_depth, self.ruled_leaf = 0, False
            if isinstance(m, _RULED):
                row.own_macs = module_macs(m, args, kwargs, output)
            else:  # a custom leaf (or an unflattened export module): the functional ops inside
                row.own_macs = row.extra.pop("inner_macs", 0)
            row.extra.pop("inner_macs", None)
        row.macs += row.own_macs
        if self.open:
            self.open[-1].macs += row.macs

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.open and not self.ruled_leaf:
            name = self.op_names.get(func)
            if name is None:
                name = self.op_names[func] = op_name(func)
            macs = function_macs(name, args, kwargs, out) if name in _FUNCTION_RULES else 0
            if macs:
                row = self.open[-1]
                if self.leaf_depth:  # inside a leaf: used only for module types without a rule
                    row.extra["inner_macs"] = row.extra.get("inner_macs", 0) + macs
                else:
                    row.own_macs += macs
        return out


def summary(model: nn.Module, example_inputs: Any = None) -> Summary:
    """The torchinfo-style table of ``model`` on ``example_inputs``: every module call with
    its output shape, parameters, multiply-accumulates and output bytes, plus totals.

    Print it for the table, ``.to_dict()["rows"]`` for the data, ``.plot()`` for bars of
    parameters and MACs per layer. The forward pass runs in eval mode without gradients and
    leaves the model exactly as it was found.

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> s = summary(DigitsCNN(), torch.zeros(1, 1, 8, 8))
        >>> s.total_params, s.rows[1].name, s.rows[1].output_shapes
        (28970, 'features', [(1, 64, 4, 4)])
        >>> s.rows[2].macs  # first conv: 32 x 1 x 3 x 3 weights at 8 x 8 positions
        18432
    """
    from ..adapters.keras import is_keras_model
    from .api import _checked_forward, _default_inputs

    if is_keras_model(model):  # the table of model.summary(), with MACs: see graph/summary_keras.py
        from .summary_keras import keras_summary

        return keras_summary(model, example_inputs)
    if not isinstance(model, nn.Module):
        raise TypeError(f"summary() takes a torch.nn.Module or a keras.Model, not {type(model).__name__}.")
    if example_inputs is None:
        example_inputs = _default_inputs(model)
    args, kwargs = as_inputs(example_inputs)
    dev = model_device(model)
    args = tuple(a.to(dev) if torch.is_tensor(a) else a for a in args)
    kwargs = {k: v.to(dev) if torch.is_tensor(v) else v for k, v in kwargs.items()}
    rec = _Pass(model)
    with preserve_model_state(model):
        model.eval()
        with plain_forward():
            failed = None
            try:  # scripted submodules take no hooks; they run as one opaque call
                with TorchAdapter(model).hooks("all", pre=lambda name, m: rec.pre, post=lambda name, m: rec.post,
                                               with_kwargs=True, skip_scripted=True), rec:
                    model(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - explained by a plain pass below
                failed = exc
            if failed is not None:
                # the model's own error, naming the failing module (or the wrong input shape)
                _checked_forward(model, args, kwargs, kwargs if kwargs else args)
                raise failed
    total, trainable = count_params(model)
    param_memory = sum(p.numel() * p.element_size() for p in model.parameters())
    root = rec.rows[0] if rec.rows else None
    total_macs = root.macs if root is not None else 0
    activation = sum(r.memory for r in rec.rows if r.leaf)
    inputs = [tuple(t.shape) for t in iter_tensors((args, kwargs))]
    return Summary(type(model).__name__, rec.rows, total, trainable, total_macs, activation, param_memory, inputs)


__all__ = ["summary", "Summary", "Row", "module_macs", "function_macs"]
