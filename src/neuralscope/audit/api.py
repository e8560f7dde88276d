"""``audit()``: explanations, their scores, layer statistics and an embedding over a whole
data set, in shards that stream into a run and resume after an interruption."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..adapters.keras_autodiff import KerasFunction
from ..errors import InputShapeError
from ..progress import progress
from . import aggregate
from .compute import METRICS, AuditSpec, curve_dtype as check_curve_dtype
from .engines import make_engine
from .result import AuditResult
from .shards import ShardStore
from .source import make_source

__all__ = ["audit"]


def audit(model: Any, data: Any, methods: Sequence[str] = ("grad_cam",), *, layer: str | None = None,
          run: Any = None, name: str = "audit", labels: Any = None, masks: Any = None,
          metrics: Sequence[str] = ("deletion_insertion",), embed_layer: str | None = None,
          embed_method: str | None = "pca", stats_layers: Any = None, target: str = "prediction",
          shard_size: int = 256, steps: int = 20, engine: Any = "local", worst: int = 16,
          options: dict | None = None, curve_dtype: str | None = None) -> AuditResult:
    """Audit ``model`` (a ``torch.nn.Module`` or a Keras model) on a whole data set, shard by
    shard, into ``run``.

    ``data``: a tensor or array of inputs (``labels``/``masks`` beside it), an ``(x, y[,
    masks])`` tuple, generated scenes, a map-style dataset or a DataLoader / iterable of
    batches. For every example: the prediction, its probability and loss, each of
    ``methods``' maps (explaining the ``target`` = ``"prediction"`` or ``"label"``) with
    their scores (``metrics``: ``"deletion_insertion"`` AUCs, ``"infidelity"``; pointing
    game and relevance mass/rank accuracy where ``masks`` exist) and thumbnails of input
    and map. Over the data set: per-class mean maps and score distributions, the ``worst``
    examples by every score, activation statistics and dead units of ``stats_layers``
    (by default the activation modules: ReLU, GELU...; every leaf layer without them), and a ``embed_method`` projection (``"pca"``,
    ``"tsne"``, ``"umap"`` or ``None``) of the pooled activations of ``embed_layer``
    (default ``layer``, the layer of CAM methods). ``curve_dtype="bfloat16"`` runs the
    perturbed rows of the deletion/insertion curves through a copy of the model in that
    precision (a PyTorch model on the CPU; about twice as fast with AMX, AUCs within about
    1e-3 of float32's); by default they are the model's float32 outputs to rounding.

    ``run`` is a :class:`~neuralscope.Run` or a run directory. Each shard of
    ``shard_size`` examples is committed to ``<run>/audit/<name>/shards`` once, atomically,
    and logged to the run as it finishes; calling again with the same settings resumes,
    computing only the unfinished shards. ``engine="ray"`` computes the shards on Ray
    actors (:class:`~neuralscope.audit.engines.RayEngine`); the default runs here. The
    model is evaluated in eval mode and left exactly as found. A Keras model reads its own
    layout (channels last) and layer names; its maps, thumbnails and layer statistics are
    kept channels first, as for PyTorch models (the local engine only).

    Example:
        >>> import tempfile
        >>> from neuralscope.zoo import DigitsCNN
        >>> net = DigitsCNN()
        >>> a = audit(net, net.example_input(40), layer="features", run=tempfile.mkdtemp(), shard_size=16, steps=4)
        >>> a.n, len(a.computed), sorted(a.table())[:3]
        (40, 3, ['grad_cam/deletion_auc', 'grad_cam/insertion_auc', 'index'])
    """
    from ..adapters import for_model
    from ..adapters.keras import KerasAdapter

    if isinstance(for_model(model), KerasAdapter) and not isinstance(model, KerasFunction):
        from ..adapters.keras_autodiff import torch_view

        with torch_view(model) as (f, _):  # every step on the torch side, gradients from Keras
            return audit(f, data, methods, layer=layer, run=run, name=name, labels=labels, masks=masks,
                         metrics=metrics, embed_layer=embed_layer, embed_method=embed_method,
                         stats_layers=stats_layers, target=target, shard_size=shard_size, steps=steps,
                         engine=engine, worst=worst, options=options, curve_dtype=curve_dtype)
    bad = [m for m in metrics if m not in METRICS]
    if bad or not methods:
        raise InputShapeError(f"metrics must be among {', '.join(METRICS)} and methods not empty; got "
                              f"metrics={list(metrics)!r}, methods={list(methods)!r}.")
    if target not in ("prediction", "label") or shard_size < 1:
        raise InputShapeError(f"target must be 'prediction' or 'label' and shard_size a positive integer; "
                              f"got target={target!r}, shard_size={shard_size!r}.")
    spec = AuditSpec(methods=tuple(methods), layer=layer, embed_layer=embed_layer, stats_layers=stats_layers,
                     metrics=tuple(metrics), steps=steps, target=target, shard_size=shard_size,
                     options=dict(options or {}), curve_dtype=curve_dtype)
    check_curve_dtype(spec)  # a bad name fails here, before any shard
    eng = make_engine(engine)
    if isinstance(model, KerasFunction) and getattr(eng, "name", "") != "local":
        raise InputShapeError("Keras models are audited on the local engine for now; leave engine='local'.")
    source = make_source(data, labels, masks)
    owned, run = _open_run(run)
    try:
        return _audit_into(model, spec, eng, source, run, name, embed_method, worst)
    finally:
        if owned:
            run.close()


def _open_run(run: Any):
    from ..track.run import Run

    if isinstance(run, Run):
        return False, run
    if run is None:
        raise InputShapeError("audit() needs run= (a neuralscope.Run or a run directory) to write its shards to.")
    return True, Run(Path(run))


def _audit_into(model, spec, eng, source, run, name, embed_method, worst) -> AuditResult:
    t0 = time.perf_counter()
    store = ShardStore(Path(run.path) / "audit" / name).open({**spec.to_json(), "n": source.n})
    done = set(store.done())
    computed: list[int] = []
    bar = progress(total=source.n, desc=f"audit {name}", unit="ex")
    bar.update(sum(_shard_len(store, i) for i in done))
    finished = bar.n
    try:
        for index, arrays in eng.run(model, spec, source.shards(spec.shard_size, done)):
            store.commit(index, arrays)
            computed.append(index)
            k = len(arrays["index"])
            finished += k
            bar.update(k)
            run.log(_shard_means(name, arrays, finished), step=finished)
    finally:
        bar.close()
    summary = aggregate.merge(store, worst=worst)
    projection = _project(store, embed_method)
    result = AuditResult(store.dir, summary, projection=projection, computed=computed,
                         engine=getattr(eng, "name", type(eng).__name__), seconds=time.perf_counter() - t0)
    result.save_summary()
    run.log_result(result, name=f"audit/{name}", step=finished)
    return result


def _shard_len(store: ShardStore, i: int) -> int:
    return len(store.load(i, ["index"])["index"])


def _shard_means(name: str, arrays: dict, finished: int) -> dict[str, float]:
    out = {f"audit/{name}/examples": float(finished)}
    for k, v in arrays.items():
        if k.startswith("score/") or k in ("loss", "prob"):
            key = k[len("score/"):] if k.startswith("score/") else k
            with np.errstate(all="ignore"):
                out[f"audit/{name}/{key}"] = float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
    return out


def _project(store: ShardStore, method: str | None) -> np.ndarray | None:
    """Embed the features of every shard, gathered into a memory-mapped file (not RAM)."""
    done = store.done()
    if method is None or not done:
        return None
    sizes = []
    for i in done:
        with np.load(store.path(i)) as z:
            if "features" not in z.files:
                return None
            sizes.append(z["features"].shape)
    feats = np.lib.format.open_memmap(store.dir / "features.npy", mode="w+", dtype=np.float32,
                                      shape=(sum(s[0] for s in sizes), sizes[0][1]))
    row = 0
    for i in done:
        f = store.load(i, ["features"])["features"]
        feats[row:row + len(f)] = f
        row += len(f)
    feats.flush()
    from ..inspect.embedding import embed

    if len(feats) < 4:
        return None
    return embed(feats, method).coords
