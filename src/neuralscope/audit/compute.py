"""What an audit computes for one shard: a pure function of (model, spec, examples).

Both engines call :func:`compute_shard`; the local engine in this process, the Ray engine
in a worker holding its own copy of the model. The result is a dict of numpy arrays, the
content of one shard file: per-example columns (``index``, ``label``, ``pred``, ``prob``,
``loss``, ``score/<method>/<metric>``), thumbnails (``thumb/input``, ``thumb/<method>``),
embedding features (``features``), and sums that merge across shards
(``classsum/<method>``, ``classcount``, ``stats/<layer>/...``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from ..adapters.keras_autodiff import KerasFunction, to_torch_inputs
from ..adapters.torch import preserve_model_state
from ..attribution.explain import explain
from ..attribution.localization import localization
from ..attribution.metrics import infidelity
from ..attribution.threads import pass_threads
from ..capture import LayerNotRunError, RunningStats, capture
from ..errors import InputShapeError
from ..nonlinearities import nonlinearity
from .curves import CurveModel, shard_aucs

METRICS = ("deletion_insertion", "infidelity")
THUMB = 32  # largest side of a thumbnail, pixels


@dataclass
class AuditSpec:
    """The settings of an audit (stored in ``spec.json``; a resumed audit must match)."""

    methods: tuple[str, ...] = ("grad_cam",)
    layer: str | None = None  # layer of CAM methods
    embed_layer: str | None = None  # layer whose (pooled) activations are embedded
    stats_layers: Any = None  # layers with activation statistics (None: the activation modules)
    metrics: tuple[str, ...] = ("deletion_insertion",)
    steps: int = 20  # deletion/insertion steps
    target: str = "prediction"  # explain the "prediction" or the "label"
    shard_size: int = 256
    options: dict = field(default_factory=dict)  # method -> explain() options
    curve_dtype: str | None = None  # deletion/insertion rows in reduced precision ("bfloat16"), None: exact

    def to_json(self) -> dict:
        d = asdict(self)
        d["methods"], d["metrics"] = list(self.methods), list(self.metrics)
        if self.curve_dtype is None:  # the spec of an exact audit reads as it did before the option
            del d["curve_dtype"]
        if self.stats_layers is not None and not isinstance(self.stats_layers, (str, list)):
            d["stats_layers"] = str(self.stats_layers)
        return d


def curve_dtype(spec: AuditSpec) -> torch.dtype | None:
    """The torch dtype of the spec's ``curve_dtype`` (``None``: the model's own)."""
    if spec.curve_dtype is None:
        return None
    dtype = getattr(torch, spec.curve_dtype, None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise InputShapeError(f"curve_dtype must name a floating torch dtype such as 'bfloat16', got "
                              f"{spec.curve_dtype!r}.")
    return dtype


def _device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def compute_shard(model: nn.Module, spec: AuditSpec, x: torch.Tensor, labels: torch.Tensor | None,
                  masks: torch.Tensor | None, start: int, curves: CurveModel | None = None) -> dict[str, np.ndarray]:
    """Every per-example number of one shard (the model is evaluated in eval mode and left
    exactly as found). ``curves``: the :class:`~neuralscope.audit.curves.CurveModel` of
    ``model`` kept by the engine across shards (its forward stand-in is built once)."""
    curves = curves if curves is not None else CurveModel(model)
    with preserve_model_state(model), pass_threads(_device(model)):  # one intra-op thread while the machine is busy
        model.eval()
        # a fresh, aligned copy: SIMD kernels round differently on slices that start
        # mid-buffer, and the same shard must give the same bits from any source or engine
        if _is_keras(model):
            x = to_torch_inputs(model, x)  # the Keras layout (channels last) as the torch side reads it
        x = x.to(_device(model)).clone(memory_format=torch.contiguous_format)
        out = _keras_forward(model, spec, x) if _is_keras(model) else _forward(model, spec, x)
        logits = out.pop("_logits")
        n, k = logits.shape
        probs = torch.softmax(logits.double(), 1)
        pred = probs.argmax(1)
        y = labels.to(pred.device).long() if labels is not None else None
        target = y if (spec.target == "label" and y is not None) else pred
        out.update(index=np.arange(start, start + n, dtype=np.int64), pred=_np(pred),
                   prob=_np(probs.gather(1, pred[:, None])[:, 0]),
                   label=_np(y) if y is not None else np.full(n, -1, np.int64))
        if y is not None:
            out["loss"] = _np(-torch.log(probs.gather(1, y[:, None])[:, 0].clamp_min(1e-300)))
        group = _np(y) if y is not None else _np(pred)
        out["classcount"] = np.bincount(group, minlength=k).astype(np.int64)
        out["thumb/input"] = input_thumbnails(x)
        seen = _Seen(logits, probs.gather(1, target[:, None])[:, 0], curves)
        for method in spec.methods:
            out.update(_method_columns(model, spec, method, x, target, masks, group, k, seen))
    return out


def _forward(model: nn.Module, spec: AuditSpec, x: torch.Tensor) -> dict[str, Any]:
    """Logits, layer statistics and the embedding features from one forward pass."""
    out: dict[str, Any] = {}
    embed_layer = spec.embed_layer or spec.layer
    with torch.no_grad(), capture(model, stats_layers(model, spec.stats_layers), keep="stats", count_zeros=True,
                                  per_unit=True) as rec:
        if embed_layer is not None:
            with capture(model, embed_layer, keep="tensors") as feats:
                logits = model(x)
            f = feats.output(feats.names[0]).float()
            out["features"] = _np(f.mean(tuple(range(2, f.dim()))) if f.dim() > 2 else f).astype(np.float32)
        else:
            logits = model(x)
    modules = dict(model.named_modules())
    for name in rec.names:
        if rec.calls(name):
            out.update(_layer_sums(name, rec.stats(name), units_can_die(modules.get(name))))
    out["_logits"] = logits.detach().float()
    return out


def _is_keras(model: nn.Module) -> bool:
    return isinstance(model, KerasFunction)


def _keras_forward(f: KerasFunction, spec: AuditSpec, x: torch.Tensor) -> dict[str, Any]:
    """:func:`_forward` for a Keras model (its :class:`KerasFunction`): the layers' outputs
    are read by the Keras adapter in one pass and summed as ``capture`` sums them
    (:class:`~neuralscope.capture.RunningStats`), in the torch-side layout."""
    ad = f.adapter
    embed_layer = spec.embed_layer or spec.layer
    if spec.stats_layers is not None:
        chosen = ad.layers(spec.stats_layers)
    else:  # the layers with a nonlinearity of the table: fused (Conv2D(activation="relu")) or their own
        chosen = [(i.name, i.layer) for i in ad.named_layers() if nonlinearity(kind=ad.activation_of(i.layer))]
    embed_name = ad.layer(embed_layer)[0] if embed_layer else None
    names = list(dict.fromkeys([n for n, _ in chosen] + ([embed_name] if embed_name else [])))
    rec = ad.record(f.to_keras_layout(x).cpu().numpy(), names)
    canon = lambda t: torch.from_numpy(np.ascontiguousarray(ad.to_canonical(ad.to_numpy(t))))
    out: dict[str, Any] = {}
    for name, layer in chosen:
        stats = RunningStats(per_unit=True, count_zeros=True)
        for t in rec.outputs[name]:
            stats.update(canon(t))
        out.update(_layer_sums(name, stats, units_can_die(kind=ad.activation_of(layer))))
    if embed_name:
        feat = canon(rec.outputs[embed_name][0]).float()
        out["features"] = _np(feat.mean(tuple(range(2, feat.dim()))) if feat.dim() > 2 else feat).astype(np.float32)
    out["_logits"] = canon(_first(ad, rec.output)).float()
    return out


def _first(ad, output: Any) -> Any:
    return ad.keras.tree.flatten(output)[0]


def stats_layers(model: nn.Module, chosen: Any) -> Any:
    """The layers whose statistics an audit keeps: ``chosen``, or by default the modules of
    the nonlinearity table (:mod:`neuralscope.nonlinearities`: where units die or saturate),
    or every leaf layer of a model without any."""
    if chosen is not None:
        return chosen
    present = {type(m): None for m in model.modules() if nonlinearity(m) is not None}
    return list(present) or None


def units_can_die(layer: Any = None, kind: str | None = None) -> bool:
    """Whether dead units are counted after ``layer`` (``kind``: its nonlinearity's name, as
    ``Adapter.activation_of`` gives it), by :mod:`neuralscope.nonlinearities`' table as
    :func:`~neuralscope.inspect.activations.dead_units` counts them: after the ReLU family,
    and after a layer without a nonlinearity the table knows; never after one that only
    saturates (tanh, sigmoid, Softplus: "never above 0" is not what stops them).

    Example:
        >>> units_can_die(nn.ReLU()), units_can_die(nn.Softplus()), units_can_die(nn.Linear(2, 2))
        (True, False, True)
    """
    row = nonlinearity(layer, kind)
    return row is None or row.dies


def _layer_sums(name: str, s, dies: bool) -> dict[str, np.ndarray]:
    """A layer's statistics as sums that add up across shards; the per-unit fraction above 0
    (which makes the dead units) only where units can die (:func:`units_can_die`)."""
    n = s.count
    g = np.array([n, s.mean * n, (s.std ** 2 + s.mean ** 2) * n, s.min, s.max,
                  s.zero_fraction * n if n else 0.0, s.nonfinite], np.float64)
    d = {f"stats/{name}/global": g}
    if not dies:
        return d
    try:
        u = s.unit_stats()
    except LayerNotRunError:  # outputs without a unit dimension
        return d
    d[f"stats/{name}/active"] = (u["active"] * s.unit_count).astype(np.float64)
    d[f"stats/{name}/nan"] = (u["nan"] * s.unit_count).astype(np.float64)
    d[f"stats/{name}/units"] = np.array([s.unit_count], np.float64)
    return d


class _Seen(NamedTuple):
    """What the shard's forward pass already computed, for the deletion/insertion curves."""

    logits: torch.Tensor
    p_target: torch.Tensor  # target probability of every unperturbed example
    curves: CurveModel


def _method_columns(model, spec, method, x, target, masks, group, k, seen: _Seen) -> dict[str, np.ndarray]:
    opts = dict(spec.options.get(method, {}))
    if spec.layer is not None and "cam" in method:
        opts.setdefault("layer", spec.layer)
    attr = explain(model, x, target, method=method, **opts)
    maps = np.asarray(attr.maps(), dtype=np.float64)
    cols: dict[str, np.ndarray] = {}
    if "deletion_insertion" in spec.metrics:
        if x.dim() != 4:
            raise InputShapeError(f"Deletion/insertion curves need images (B, C, H, W), got {tuple(x.shape)}; "
                                  "audit other inputs with metrics=('infidelity',).")
        d, i = shard_aucs(seen.curves, x, maps.reshape(len(x), -1), target, seen.p_target, seen.logits, spec.steps,
                          curve_dtype(spec))
        cols[f"score/{method}/deletion_auc"], cols[f"score/{method}/insertion_auc"] = d, i
    if "infidelity" in spec.metrics:
        cols[f"score/{method}/infidelity"] = np.asarray(infidelity(model, x, attr, target), np.float64)
    if masks is not None:
        for metric, v in localization(maps, _np(masks)).items():
            cols[f"score/{method}/{metric}"] = np.asarray(v, np.float64)
    sums = np.zeros((k,) + maps.shape[1:], np.float64)
    np.add.at(sums, group, maps)
    cols[f"classsum/{method}"] = sums
    cols[f"thumb/{method}"] = map_thumbnails(maps)
    return cols


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def _shrink(t: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) down to at most THUMB pixels a side (area averaging)."""
    h, w = t.shape[-2:]
    if max(h, w) <= THUMB:
        return t
    s = THUMB / max(h, w)
    return torch.nn.functional.interpolate(t, size=(max(1, round(h * s)), max(1, round(w * s))), mode="area")


def input_thumbnails(x: torch.Tensor) -> np.ndarray:
    """uint8 thumbnails of image inputs, ``(N, h, w)`` or ``(N, h, w, 3)``, each example
    scaled from its own min to max; an empty array for inputs that are not images."""
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        return np.zeros((len(x), 0), np.uint8)
    t = _shrink(x.detach().float().cpu())
    flat = t.flatten(1)
    lo, hi = flat.amin(1)[:, None, None, None], flat.amax(1)[:, None, None, None]
    t = ((t - lo) / (hi - lo).clamp_min(1e-12) * 255).round().clamp(0, 255).to(torch.uint8)
    return (t[:, 0] if t.shape[1] == 1 else t.permute(0, 2, 3, 1)).numpy()


def map_thumbnails(maps: np.ndarray) -> np.ndarray:
    """Signed uint8 thumbnails of 2-D maps: 128 is zero, 0 and 255 the example's largest
    magnitude (drawn with a diverging colormap centred at zero)."""
    if maps.ndim != 3:
        return np.zeros((len(maps), 0), np.uint8)
    t = _shrink(torch.from_numpy(maps).float()[:, None])[:, 0]
    scale = t.abs().flatten(1).amax(1).clamp_min(1e-30)[:, None, None]
    return (128 + 127 * t / scale).round().clamp(0, 255).to(torch.uint8).numpy()
