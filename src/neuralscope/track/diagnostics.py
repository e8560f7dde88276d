"""Diagnostics computed from what a run logged: each names the problem in plain language and
the step where it began.

==================== ========================================================================
code                 fires when (the rule; constants in brackets)
==================== ========================================================================
nonfinite            a logged scalar (the loss, a metric) became NaN or Inf
nonfinite_gradients  ``watch()`` saw NaN/Inf in a gradient (also weights, activations)
exploding_gradients  a layer's gradient norm reached [EXPLODE_FACTOR = 100]x its early level
                     (median of the first quarter of watched steps), or [EXPLODE_ABSOLUTE = 1e6]
vanishing_gradients  a layer's gradient norm stayed below [VANISH_ABSOLUTE = 1e-7], or below
                     [VANISH_RELATIVE = 1e-5]x the median layer's norm at the same step, for
                     the last half (at least) of the watched steps
dead_units           on the last watched steps, at least [DEAD_FRACTION = 50%] of an activation
                     layer's units output <= 0 for every example of the batch (all: an error)
lr_too_high          the training loss rose above [LR_RISE = 3]x its starting level (median of
                     the first tenth) -- an error; or, after at least [LR_MIN_STEPS = 50] logged
                     values, it fell by less than [LR_PROGRESS = 25%] of that level while it
                     spikes [LR_SPIKE = 15%] of it above its median, or while each optimizer step
                     changes the weights by more than [LR_UPDATE_RATIO = 1%] of their norm (median
                     over ``watch()``'s steps from step [LR_WARMUP = 10] on; Adam's first steps
                     move every weight by about the learning rate, whatever it is)
overfitting          the validation loss rose [OVERFIT_RISE = 10%] above its minimum (median of
                     its last two values) while the training loss kept falling
underfitting         the validation loss ends (median of its last three values) at or above the
                     loss of a uniform guess, ln(C) for C classes (C from the run's config:
                     ``num_classes``, ``n_classes``, ``num_labels`` or ``classes``); without C,
                     above [UNDERFIT_START = 90%] of its own first value
step_backwards       a series was logged with a step lower than its previous step
watch_error          ``watch()`` could not record a step (training went on unharmed)
==================== ========================================================================

Each rule is tested on both sides of its threshold, and none fires on a healthy digits
training run.
"""
from __future__ import annotations

import re
import warnings

import numpy as np

from .results import Diagnostic, Diagnostics

__all__ = ["diagnose"]

EXPLODE_FACTOR = 100.0
EXPLODE_ABSOLUTE = 1e6
VANISH_ABSOLUTE = 1e-7
VANISH_RELATIVE = 1e-5
DEAD_FRACTION = 0.5
LR_RISE = 3.0
LR_PROGRESS = 0.25  # a loss that fell by less than 25% of its starting level made little progress
LR_SPIKE = 0.15     # ... and jumps 15% of that level above its median
LR_UPDATE_RATIO = 0.01  # ... or whose optimizer steps change weights by over 1% of their norm
LR_MIN_STEPS = 50   # fewer logged losses cannot show "little progress"
LR_WARMUP = 10      # update ratios before this step are not judged (Adam's first steps)
OVERFIT_RISE = 0.10
UNDERFIT_START = 0.90
_CLASS_KEYS = ("num_classes", "n_classes", "num_labels", "classes")

_WATCH_FAMILIES = ("gradients", "weights", "activations", "updates")
_EVAL = re.compile(r"(^|[/_.\- ])(val|valid|validation|eval|test|dev)([/_.\- ]|$)", re.I)


def _is_train_loss(name: str) -> bool:
    return "loss" in name.lower() and not _EVAL.search(name) and not name.startswith(_WATCH_FAMILIES)


def _is_val_loss(name: str) -> bool:
    return "loss" in name.lower() and bool(_EVAL.search(name))


def _first_run_start(mask: np.ndarray) -> int | None:
    """Index where the final run of True values in ``mask`` starts (None if it ends False)."""
    if not len(mask) or not mask[-1]:
        return None
    false = np.flatnonzero(~mask)
    return int(false[-1]) + 1 if len(false) else 0


def diagnose(reader) -> Diagnostics:
    """Every diagnostic of the run read by ``reader`` (a :class:`RunReader`)."""
    names = reader.names()
    scalars = names.get("scalar", [])
    out: list[Diagnostic] = []
    out += _from_notes(reader.notes())
    out += _gradient_norms(reader, scalars)
    out += _dead_units(reader, scalars)
    out += _learning_rate(reader, scalars)
    out += _overfitting(reader, scalars)
    out += _underfitting(reader, scalars)
    return Diagnostics(out, run=reader.dir.name)


def _from_notes(notes: list[dict]) -> list[Diagnostic]:
    out, grouped = [], {}
    for n in notes:
        series = n["series"] or ""
        family = series.split("/", 1)[0]
        if n["code"] == "nonfinite" and family in _WATCH_FAMILIES:
            grouped.setdefault(family, []).append(n)
        elif n["code"] == "nonfinite":
            out.append(Diagnostic("nonfinite", "error", n["step"],
                                  f"{series!r} became NaN or Inf at step {n['step']}; training has "
                                  "diverged or a value was invalid from there on.", series=series))
        elif n["code"] == "watch_error":
            out.append(Diagnostic("watch_error", "warning", n["step"], n["message"]))
        elif n["code"] == "step_backwards":
            out.append(Diagnostic("step_backwards", "warning", n["step"], n["message"], series=series))
    for family, items in grouped.items():
        first = min(items, key=lambda n: (n["step"] if n["step"] is not None else 0))
        # histogram notes name tensors ("gradients/<param>"); scalar notes add layer totals
        named = [n for n in items if (n["series"] or "").count("/") == 1] or items
        where = sorted({(n["series"] or "").split("/")[-1] for n in named})
        code = "nonfinite_gradients" if family == "gradients" else f"nonfinite_{family}"
        out.append(Diagnostic(
            code, "error", first["step"],
            f"NaN/Inf {family} from step {first['step']} in {len(where)} tensor(s), first in "
            f"{where[0]!r}{' and ' + str(len(where) - 1) + ' more' if len(where) > 1 else ''}.",
            series=first["series"], layer=where[0], details={"tensors": where}))
    return out


def _gradient_layers(scalars: list[str]) -> dict[str, str]:
    """layer name -> its gradient-norm series (layers with several parameters aggregated)."""
    prefix = "gradients/norm/"
    grads = [s[len(prefix):] for s in scalars if s.startswith(prefix)]
    gs = set(grads)
    layers = {g for g in grads if any(o.startswith(g + ".") for o in gs)}
    # parameters that sit directly on the root keep their own series
    params_of_layers = {o for o in gs for layer in layers if o.startswith(layer + ".")}
    chosen = layers | {g for g in gs if g not in params_of_layers and "." not in g}
    return {layer: prefix + layer for layer in sorted(chosen)}


def _gradient_norms(reader, scalars) -> list[Diagnostic]:
    series = {layer: reader.scalars(name) for layer, name in _gradient_layers(scalars).items()}
    series = {k: s for k, s in series.items() if len(s) >= 2}
    if not series:
        return []
    out = []
    # median layer norm per step, for the relative vanishing test
    all_steps = np.unique(np.concatenate([s.steps for s in series.values()]))
    table = np.full((len(series), len(all_steps)), np.nan)
    for i, s in enumerate(series.values()):
        table[i, np.searchsorted(all_steps, s.steps)] = s.values
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN, as wanted
        median = np.nanmedian(np.where(np.isfinite(table), table, np.nan), axis=0)
    for i, (layer, s) in enumerate(series.items()):
        v, steps = s.values, s.steps
        finite = np.isfinite(v)
        if not finite.any():
            continue
        head = v[:max(2, len(v) // 4)]
        head = head[np.isfinite(head)]
        base = float(np.median(head)) if len(head) else np.nan
        boom = finite & ((v >= EXPLODE_ABSOLUTE) | ((base > 0) & (v >= EXPLODE_FACTOR * base)))
        if boom.any():
            j = int(np.argmax(boom))
            out.append(Diagnostic(
                "exploding_gradients", "error", int(steps[j]),
                f"Gradients of layer {layer!r} are exploding: their norm reached {v[j]:.3g} at step "
                f"{int(steps[j])}, {v[j] / base if base > 0 else float('inf'):.0f}x its early level "
                f"({base:.3g}); lower the learning rate or clip gradients.", series=s.name, layer=layer))
            continue
        row = table[i, np.searchsorted(all_steps, steps)]
        rel = median[np.searchsorted(all_steps, steps)]
        tiny = finite & ((row < VANISH_ABSOLUTE) | ((rel > 0) & (row < VANISH_RELATIVE * rel)))
        start = _first_run_start(tiny)
        if start is not None and len(v) - start >= max(1, len(v) // 2):
            out.append(Diagnostic(
                "vanishing_gradients", "warning", int(steps[start]),
                f"Gradients of layer {layer!r} vanish: their norm is {v[-1]:.2g} (median layer: "
                f"{median[-1]:.2g}) since step {int(steps[start])}; the layer has stopped learning.",
                series=s.name, layer=layer))
    return out


def _dead_units(reader, scalars) -> list[Diagnostic]:
    out = []
    for name in scalars:
        if not name.startswith("activations/dead/"):
            continue
        s = reader.scalars(name)
        if not len(s):
            continue
        dead = s.values >= DEAD_FRACTION
        start = _first_run_start(dead)
        if start is None:
            continue
        layer = name[len("activations/dead/"):]
        frac = float(s.values[-1])
        all_dead = frac >= 1.0
        out.append(Diagnostic(
            "dead_units", "error" if all_dead else "warning", int(s.steps[start]),
            f"Layer {layer!r} is {'dead' if all_dead else 'mostly dead'}: {frac:.0%} of its units output "
            f"zero (or less) for every example since step {int(s.steps[start])}, so no gradient flows "
            "through them; check the bias initialisation and the learning rate.",
            series=name, layer=layer, details={"fraction": frac}))
    return out


def _learning_rate(reader, scalars) -> list[Diagnostic]:
    out = []
    for name in scalars:
        if not _is_train_loss(name):
            continue
        s = reader.scalars(name)
        v, steps = s.values, s.steps
        finite = np.isfinite(v)
        if finite.sum() < 10:
            continue
        fv, fs = v[finite], steps[finite]
        n = len(fv)
        start = float(np.median(fv[:max(3, n // 10)]))
        level = abs(start) if start != 0 else 1.0
        later = np.arange(n) >= max(3, n // 10)
        rise = later & (fv > start + (LR_RISE - 1) * level)
        if rise.any():
            j = int(np.argmax(rise))
            out.append(Diagnostic(
                "lr_too_high", "error", int(fs[j]),
                f"The loss {name!r} rose to {fv[j]:.3g} at step {int(fs[j])}, {fv[j] / level:.1f}x its starting "
                f"level {start:.3g}: training is diverging; the learning rate is probably too high.",
                series=name))
            continue
        if n < LR_MIN_STEPS:
            continue
        tail = fv[-max(3, n // 4):]
        end = float(np.median(tail))
        progress = (end - start) / level  # -0.7: the loss fell by 70%; 0: no progress
        body = fv[max(3, n // 10):]
        spikes = (float(body.max()) - float(np.median(body))) / level
        ratio = _median_update_ratio(reader, scalars)
        if progress > -LR_PROGRESS and (spikes > LR_SPIKE or (ratio is not None and ratio > LR_UPDATE_RATIO)):
            over = np.flatnonzero(fv[1:] > fv[0] + LR_SPIKE * level)
            j = 1 + int(over[0]) if len(over) else max(3, n // 10)  # first jump above the first loss
            why = [f"it spikes {spikes:.0%} above its median"] if spikes > LR_SPIKE else []
            if ratio is not None and ratio > LR_UPDATE_RATIO:
                why.append(f"each step changes the weights by {ratio:.1%} of their norm (median; "
                           "about 0.1% is typical)")
            out.append(Diagnostic(
                "lr_too_high", "warning", int(fs[j]),
                f"The loss {name!r} makes little progress ({start:.3g} at the start, {end:.3g} at step "
                f"{int(fs[-1])}) while {' and '.join(why)}: the learning rate is probably too high.",
                series=name, details={"progress": progress, "spikes": spikes, "update_ratio": ratio}))
    return out


def _median_update_ratio(reader, scalars) -> float | None:
    """Median over parameters and watched steps (from ``LR_WARMUP`` on) of ``||dw|| / ||w||``."""
    vals = []
    for name in scalars:
        if name.startswith("updates/ratio/"):
            s = reader.scalars(name)
            v = s.values[s.steps >= LR_WARMUP]
            vals.append(v[np.isfinite(v)])
    vals = np.concatenate(vals) if vals else np.zeros(0)
    return float(np.median(vals)) if len(vals) else None


def _overfitting(reader, scalars) -> list[Diagnostic]:
    out = []
    train_names = [n for n in scalars if _is_train_loss(n)]
    for vname in scalars:
        if not _is_val_loss(vname) or not train_names:
            continue
        val = reader.scalars(vname)
        ok = np.isfinite(val.values)
        vv, vs = val.values[ok], val.steps[ok]
        if len(vv) < 4:
            continue
        m = int(np.argmin(vv))
        after = vv[m + 1:]
        if len(after) < 2 or np.median(after[-2:]) < vv[m] * (1 + OVERFIT_RISE):
            continue
        tname = min(train_names, key=lambda t: _name_distance(t, vname))
        tr = reader.scalars(tname)
        tok = np.isfinite(tr.values)
        tv, ts = tr.values[tok], tr.steps[tok]
        at_min = tv[(ts >= vs[m] - 0)][: max(1, len(tv) // 20)]
        at_end = tv[ts >= vs[-1]][:1] if (ts >= vs[-1]).any() else tv[-max(1, len(tv) // 20):]
        if not len(at_min) or not len(at_end) or np.median(at_end) >= np.median(at_min):
            continue
        out.append(Diagnostic(
            "overfitting", "warning", int(vs[m]),
            f"Over-fitting since step {int(vs[m])}: the validation loss {vname!r} rose from {vv[m]:.3g} to "
            f"{vv[-1]:.3g} while the training loss {tname!r} kept falling ({np.median(at_min):.3g} -> "
            f"{np.median(at_end):.3g}); stop earlier, regularise or add data.",
            series=vname))
    return out


def _classes(config: dict) -> int | None:
    """The number of classes the run's config states, if any."""
    for key in _CLASS_KEYS:
        v = config.get(key) if isinstance(config, dict) else None
        n = len(v) if isinstance(v, (list, tuple)) else v
        if isinstance(n, (int, float)) and not isinstance(n, bool) and n >= 2:
            return int(n)
    return None


def _underfitting(reader, scalars) -> list[Diagnostic]:
    out = []
    classes = _classes(reader.meta().get("config") or {})
    for vname in scalars:
        if not _is_val_loss(vname):
            continue
        val = reader.scalars(vname)
        ok = np.isfinite(val.values)
        vv, vs = val.values[ok], val.steps[ok]
        if len(vv) < 3:
            continue
        end = float(np.median(vv[-3:]))
        if classes is not None:
            level, why = float(np.log(classes)), f"the loss of a uniform guess over {classes} classes (ln {classes} = "
        else:
            level, why = UNDERFIT_START * float(vv[0]), f"{UNDERFIT_START:.0%} of its first value ("
        if end < level:
            continue
        out.append(Diagnostic(
            "underfitting", "warning", int(vs[-1]),
            f"Under-fitting: the validation loss {vname!r} ends at {end:.3g} (step {int(vs[-1])}), not below "
            f"{why}{level:.3g}); the model has learnt little -- train longer, raise the learning rate "
            "or use a larger model.", series=vname, details={"level": level, "classes": classes}))
    return out


def _name_distance(a: str, b: str) -> int:
    import difflib

    return -int(100 * difflib.SequenceMatcher(None, a, b).ratio())
