"""Faster stand-ins for a model that an attribution method runs hundreds of times.

Inside :func:`~neuralscope.attribution.base.guard` the parameters are frozen and the model is
in the state the user left it, so methods that run many passes (Integrated Gradients, Score-CAM,
occlusion, KernelSHAP, LIME) can run an equivalent of the model instead of the model itself:

- :func:`forward_model` — for passes without gradients, a TorchScript trace of the model, frozen
  and optimized for inference (oneDNN convolutions with BatchNorm folded in, the following ReLU
  or residual add fused, weights pre-packed): a ResNet-50 forward at 224x224 takes 41 ms per
  image instead of 56 ms on this project's 2-core machine. Used for models whose parameters
  are mostly in convolutions (a ViT's matrix products run no faster traced).
- :func:`gradient_model` — for passes with a backward, a ``torch.fx`` graph of the model with
  every BatchNorm folded into the convolution before it (no BatchNorm forward or backward), and
  its first layer split off when that layer is affine and alone reads the input: a path method
  then runs the rest of the network on interpolated first-layer outputs and maps the summed
  gradients back through the first layer once, instead of once per step (for ResNet-50 the
  first convolution's backward is its single most expensive operation).
- :func:`layer_tail` — for methods that change only one layer's output (Ablation-CAM), the
  ``torch.fx`` graph of what follows that layer, with the values that cross the cut (skip
  connections) computed once per example: ablating a channel of ResNet-50's ``layer4`` then
  costs an average pool and a linear layer instead of a whole forward pass.

Both are used only where they are exactly the same function as the model (up to float
rounding): on the CPU, in float32/float64, with every module in eval mode and no hooks anywhere
(a trace would skip hooks on container modules), and the stand-in's output on the first example
must agree with the model's own output, or the model itself is used. Building one costs a
trace (tens of milliseconds for ResNet-50's graph, 1.8 s for the frozen script), so methods ask
for one only when they have at least :data:`MIN_PASSES` rows to run. Nothing here touches the
user's modules: the stand-ins share the (frozen) parameters or hold folded copies.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..adapters.torch import TorchAdapter, forward_with_context, iter_tensors

#: fewest model rows (examples x steps, masks or perturbations) worth building a stand-in for
MIN_PASSES = 64
#: largest disagreement allowed between a stand-in and the model on the first example,
#: relative to the largest output magnitude (BatchNorm folding rounds at about 1e-7)
AGREEMENT = 1e-4

def eligible(model: nn.Module, example: torch.Tensor, passes: int) -> bool:
    """Whether a stand-in may replace ``model`` for ``passes`` rows like ``example``: enough
    rows to pay for building it, and the model's adapter allows one
    (:meth:`~neuralscope.adapters.torch.TorchAdapter.allows_standin`)."""
    return passes >= MIN_PASSES and TorchAdapter(model).allows_standin(example)


def _agrees(standin: Callable, example: torch.Tensor, reference: torch.Tensor) -> bool:
    try:
        with torch.no_grad():
            got = standin(example)
    except Exception:  # noqa: BLE001 - a stand-in that fails in any way is not used
        return False
    if not torch.is_tensor(got) or got.shape != reference.shape:
        return False
    scale = float(reference.abs().max()) if reference.numel() else 0.0
    return bool((got.float() - reference.float()).abs().max() <= AGREEMENT * max(scale, 1.0))


# -- forward-only: frozen TorchScript --------------------------------------------------------------
def forward_model(model: nn.Module, example: torch.Tensor, reference: torch.Tensor,
                  passes: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function computing ``model(batch)`` without gradients for batches shaped like
    ``example`` (one example, ``(1, ...)``), whose output must match ``reference`` (the model's
    own output for it): the frozen, inference-optimized trace where :func:`eligible`, else the
    model itself."""
    eager = lambda batch: forward_with_context(model, batch)
    if not eligible(model, example, passes) or not torch.is_tensor(reference) or not _mostly_convolutional(model):
        return eager
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(model, example, check_trace=False)
            frozen = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
    except Exception:  # noqa: BLE001 - a stand-in that fails in any way is not used
        return eager
    run = FrozenForward(frozen)
    # checked on two rows: a trace that baked in the batch size of one fails here
    two = lambda t: torch.cat([t, t])
    return run if _agrees(run, two(example), two(reference)) else eager


class FrozenForward:
    """A frozen, inference-optimized trace as a function of a batch, fed images in the layout
    its first operation reads without a copy: plain NCHW where the graph starts by converting
    its input to a oneDNN tensor (``aten::to_mkldnn`` reads NCHW memory as it is and makes a
    strided copy of a channels-last batch first: SceneCNN's forward at 64x64 takes 0.11 ms a
    row from NCHW, 0.15-0.20 ms from channels last, one thread), else channels last (oneDNN's
    layout for the convolutions of a graph on dense tensors). The values are the same either
    way: the layout changes which copy is made, not what the convolutions read."""

    def __init__(self, frozen: torch.jit.ScriptModule):
        self.frozen = frozen
        inputs = list(frozen.graph.inputs())
        self.reads_nchw = len(inputs) == 2 and any(u.user.kind() == "aten::to_mkldnn" for u in inputs[1].uses())

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        if batch.dim() == 4:
            batch = batch.contiguous() if self.reads_nchw else batch.contiguous(memory_format=torch.channels_last)
        return self.frozen(batch)


def _mostly_convolutional(model: nn.Module) -> bool:
    """Whether most parameters sit in convolutions: there oneDNN's fused, pre-packed kernels
    pay (ResNet-50: 1.35x); a transformer's matrix products gain nothing (ViT-B/16: 1.0x)."""
    convs = sum(p.numel() for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d))
                for p in m.parameters(recurse=False))
    return 2 * convs >= sum(p.numel() for p in model.parameters())


# -- with gradients: BatchNorm folded, affine first layer split off -------------------------------
_AFFINE_STEMS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


@dataclass
class GradientModel:
    """The model as ``body(stem(x))``: ``stem`` is an affine first layer (``None`` when the
    model has none that alone reads the input), ``body`` the rest with BatchNorm folded."""

    stem: nn.Module | None
    body: nn.Module

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x if self.stem is None else self.stem(x))

    def stem_vjp(self, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        """``J_stem^T grad``: gradients at the stem's output mapped back to the input (the
        stem is affine, so its Jacobian is the same at every ``x``)."""
        if self.stem is None:
            return grad
        xr = x.detach().requires_grad_(True)
        with torch.enable_grad():
            (g,) = torch.autograd.grad(self.stem(xr), xr, grad)
        return g


def gradient_model(model: nn.Module, example: torch.Tensor, reference: torch.Tensor,
                   passes: int, split_stem: bool = True) -> GradientModel:
    """The model as a :class:`GradientModel` for input-gradient passes: BatchNorm folded and
    (with ``split_stem``) the affine stem split off, where :func:`eligible` and the
    ``torch.fx`` trace agree with ``reference`` on ``example``; else ``GradientModel(None, model)``."""
    plain = GradientModel(None, model)
    if not eligible(model, example, passes) or not torch.is_tensor(reference):
        return plain
    try:
        gm = torch.fx.symbolic_trace(model)
        _fold_batchnorm(gm)
        split = _split_stem(gm) if split_stem else GradientModel(None, gm)
    except Exception:  # noqa: BLE001 - a stand-in that fails in any way is not used
        return plain
    if _agrees(split, example, reference):
        return split
    return plain


def _fold_batchnorm(gm: torch.fx.GraphModule) -> None:
    """Replace every ``conv -> BatchNorm`` pair whose convolution output feeds only the
    BatchNorm by one convolution with the folded weights (new modules in ``gm``'s own tree;
    the model's modules are not touched)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    modules = dict(gm.named_modules())
    pairs = ((nn.Conv1d, nn.BatchNorm1d), (nn.Conv2d, nn.BatchNorm2d), (nn.Conv3d, nn.BatchNorm3d))
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or len(node.args) != 1 or node.kwargs:
            continue
        prev = node.args[0]
        if not isinstance(prev, torch.fx.Node) or prev.op != "call_module" or len(prev.users) != 1:
            continue
        conv, bn = modules.get(prev.target), modules.get(node.target)
        if not any(isinstance(conv, c) and type(bn) is b for c, b in pairs):
            continue
        if not bn.track_running_stats or bn.running_mean is None:
            continue
        fused = fuse_conv_bn_eval(conv, bn)
        if isinstance(fused, nn.Conv2d):
            fused.weight = nn.Parameter(fused.weight.detach().contiguous(memory_format=torch.channels_last),
                                        requires_grad=False)
        for p in fused.parameters():
            p.requires_grad_(False)
        _set_submodule(gm, prev.target, fused)
        node.replace_all_uses_with(prev)
        gm.graph.erase_node(node)
    gm.graph.lint()
    gm.recompile()


def _set_submodule(gm: nn.Module, target: str, module: nn.Module) -> None:
    *path, name = target.split(".")
    parent = gm.get_submodule(".".join(path)) if path else gm
    setattr(parent, name, module)


def _split_stem(gm: torch.fx.GraphModule) -> GradientModel:
    """Split off the first layer when it is affine and the only reader of the only input."""
    graph = gm.graph
    inputs = [n for n in graph.nodes if n.op == "placeholder"]
    if len(inputs) != 1 or len(inputs[0].users) != 1:
        return GradientModel(None, gm)
    (first,) = inputs[0].users
    stem = gm.get_submodule(first.target) if first.op == "call_module" else None
    if not isinstance(stem, _AFFINE_STEMS) or first.args != (inputs[0],) or first.kwargs:
        return GradientModel(None, gm)
    with graph.inserting_after(inputs[0]):
        stem_out = graph.placeholder("stem_out")
    with graph.inserting_after(stem_out):  # the body's first op may work in place (ReLU(inplace=True))
        copied = graph.call_method("clone", (stem_out,))
    first.replace_all_uses_with(copied)
    graph.erase_node(first)
    graph.erase_node(inputs[0])
    graph.lint()
    gm.recompile()
    return GradientModel(stem, gm)


# -- the network after one layer: for methods that change only that layer's output ---------------
class _LeafTracer(torch.fx.Tracer):
    """Traces ``model`` keeping ``leaf`` as one call (the cut) whatever its type."""

    def __init__(self, leaf: nn.Module):
        super().__init__()
        self.leaf = leaf

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return m is self.leaf or super().is_leaf_module(m, qualname)


@dataclass
class LayerTail:
    """What runs after a layer: ``tail(layer_output_rows, examples)`` is the model's output
    for those rows, where ``examples[j]`` names the input example row ``j`` came from (the
    values computed before the layer and used after it, such as skip connections, are taken
    from that example)."""

    module: torch.fx.GraphModule
    #: values used after the cut, computed before it: (value, whether it has one row per example)
    carried: list[tuple[object, bool]]
    #: the layer's output for the whole input batch
    layer_output: torch.Tensor
    #: bytes of every tensor the tail computes for one row (a bound on its memory per row)
    bytes_per_row: int = 0

    def __call__(self, rows: torch.Tensor, examples: torch.Tensor) -> torch.Tensor:
        extra = [v[examples] if per_example else v for v, per_example in self.carried]
        return self.module(rows, *extra)


def layer_tail(model: nn.Module, layer: nn.Module, x: torch.Tensor, reference: torch.Tensor,
               passes: int) -> LayerTail | None:
    """The part of ``model`` after ``layer`` (called once, returning a tensor), with the
    values it needs from before the layer computed once for the batch ``x``; ``None`` when
    no stand-in is :func:`eligible`, the model cannot be traced, or the tail's output for
    copies of the first example does not agree with ``reference`` (the model's output for ``x``)."""
    if not eligible(model, x[:1], passes) or not torch.is_tensor(reference):
        return None
    try:
        graph = _LeafTracer(layer).trace(model)
        gm = torch.fx.GraphModule(model, graph)
        tail = _tail_after(gm, layer, x)
    except Exception:  # noqa: BLE001 - a stand-in that fails in any way is not used
        return None
    if tail is None:
        return None
    # checked on a number of rows other than the batch: a value carried over the cut that is
    # really the batch size (``n = x.shape[0]`` used after the layer) fails here
    rows = torch.zeros(x.shape[0] + 1, dtype=torch.long, device=x.device)
    sizes = []

    class Sizer(torch.fx.Interpreter):
        def run_node(self, n):
            v = super().run_node(n)
            sizes.extend(t.numel() * t.element_size() for t in _tensors_in(v))
            return v

    try:
        with torch.no_grad():
            extra = [v[rows] if per_example else v for v, per_example in tail.carried]
            got = Sizer(tail.module).run(tail.layer_output[rows], *extra)
    except Exception:  # noqa: BLE001 - a stand-in that fails in any way is not used
        return None
    tail.bytes_per_row = sum(sizes) // len(rows) + 1
    if not torch.is_tensor(got) or got.shape != reference[rows].shape:
        return None
    scale = max(float(reference[:1].abs().max()), 1.0)
    return tail if bool((got - reference[rows]).abs().max() <= AGREEMENT * scale) else None


def _tensors_in(value) -> list[torch.Tensor]:
    return list(iter_tensors(value))


def _tail_after(gm: torch.fx.GraphModule, layer: nn.Module, x: torch.Tensor) -> LayerTail | None:
    nodes = list(gm.graph.nodes)
    cuts = [n for n in nodes if n.op == "call_module" and gm.get_submodule(n.target) is layer]
    if len(cuts) != 1:
        return None
    (cut,) = cuts
    after = {cut}
    for n in nodes[nodes.index(cut) + 1:]:
        if any(a in after for a in n.all_input_nodes):
            after.add(n)
    output = next(n for n in nodes if n.op == "output")
    if output not in after:
        return None
    body = [n for n in nodes if n in after and n is not cut and n is not output]
    needed = [a for n in body + [output] for a in n.all_input_nodes if a not in after]
    needed = [a for i, a in enumerate(needed) if a not in needed[:i] and a.op != "get_attr"]
    # the values at the cut and before it, from one run of the whole graph
    values = {}

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n):
            v = super().run_node(n)
            if n is cut or n in needed:
                values[n] = v
            return v

    with torch.no_grad():
        Recorder(gm).run(x)
    if not torch.is_tensor(values.get(cut)):
        return None
    graph = torch.fx.Graph()
    env = {cut: graph.placeholder("layer_output")}
    for i, a in enumerate(needed):
        env[a] = graph.placeholder(f"carried_{i}")
    for n in nodes:
        if n.op == "get_attr" and any(n in u.all_input_nodes for u in body + [output]):
            env[n] = graph.node_copy(n, lambda a: env[a])
    for n in body:
        env[n] = graph.node_copy(n, lambda a: env[a])
    graph.output(torch.fx.map_arg(output.args[0], lambda a: env[a]))
    batch = x.shape[0]
    carried = [(values[a], torch.is_tensor(values[a]) and values[a].dim() > 0 and values[a].shape[0] == batch)
               for a in needed]
    return LayerTail(torch.fx.GraphModule(gm, graph), carried, values[cut])


__all__ = ["MIN_PASSES", "AGREEMENT", "eligible", "forward_model", "FrozenForward", "gradient_model", "GradientModel",
           "layer_tail", "LayerTail"]
