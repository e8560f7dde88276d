"""How much to trust an attribution map.

* :func:`deletion_insertion` — deletion and insertion curves and their AUC (Petsiuk, Das,
  Saenko 2018, "RISE", arXiv:1806.07421).
* :func:`model_randomization` / :func:`data_randomization` — sanity checks (Adebayo et al.
  2018, arXiv:1810.03292): similarity (Spearman rank, SSIM) between the maps of the model
  and of progressively randomized copies (or a model trained on shuffled labels).
* :func:`infidelity` and :func:`max_sensitivity` (Yeh et al. 2019, arXiv:1901.09392).
* Completeness error: reported by every Integrated Gradients result.

The checks that re-explain (the randomizations, max-sensitivity) take the method as a method
object (``GradCAM(model, layer="features")``: its class and options define it, and it is run
on each randomized copy) or by name with keyword options (through :func:`explain`). The
user's model is never modified: randomization works on a deep copy.
"""
from __future__ import annotations

import copy
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..adapters.keras_autodiff import keras_models_too
from ..adapters.torch import first_tensor, forward_with_context
from ..errors import InputShapeError
from ..progress import progress
from ..result import Result, new_axes
from .base import Method, Target, chunks, guard, internal_batch_size, prepare_inputs
from .explain import evaluation_mode, explain, in_training_mode
from .fastpath import forward_model
from .pixel_curves import CurveForward, CurveJob, block_rows, blur, curve_forward, fill_curves, pixel_order, step_pixels
from .threads import pass_threads
from .result import Attribution


def _maps_of(attribution: Any, n: int) -> np.ndarray:
    a = attribution.maps() if isinstance(attribution, Attribution) else np.asarray(attribution)
    if a.shape[0] != n:
        raise InputShapeError(f"Got maps for {a.shape[0]} examples and {n} inputs.")
    return np.asarray(a, dtype=np.float64)


def _probs(out: torch.Tensor, target: Target, rows: torch.Tensor) -> torch.Tensor:
    """Target probability for class targets (softmax), the raw score for callables."""
    if target.fn is None and first_tensor(out).dim() == 2:
        p = torch.softmax(first_tensor(out).double(), dim=1)
        return p.gather(1, target.indices.to(p.device)[rows][:, None])[:, 0]
    return target.scores(out, rows).double()


# -- deletion / insertion ------------------------------------------------------------------
class FaithfulnessCurves(Result):
    """Deletion and insertion curves: the target probability as the most important pixels
    are removed from the input (deletion, lower AUC = more faithful) or inserted into a
    blurred copy (insertion, higher AUC = more faithful).

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> from neuralscope.attribution import explain
        >>> net = DigitsCNN().eval(); x = net.example_input(2)
        >>> c = deletion_insertion(net, x, explain(net, x, method="saliency"), steps=8)
        >>> c.deletion.shape
        (2, 9)
    """

    kind = "faithfulness_curves"
    schema = {"kind": "str", "method": "str", "fractions": "float[s]", "deletion": "float[b, s]",
              "insertion": "float[b, s]", "deletion_auc": "float[b]", "insertion_auc": "float[b]"}

    def __init__(self, fractions, deletion, insertion, method: str = ""):
        self.fractions = np.asarray(fractions)
        self.deletion, self.insertion = np.asarray(deletion), np.asarray(insertion)
        self.method = method

    @property
    def deletion_auc(self) -> np.ndarray:
        return np.trapezoid(self.deletion, self.fractions, axis=1)

    @property
    def insertion_auc(self) -> np.ndarray:
        return np.trapezoid(self.insertion, self.fractions, axis=1)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "method": self.method, "fractions": self.fractions,
                "deletion": self.deletion, "insertion": self.insertion,
                "deletion_auc": self.deletion_auc, "insertion_auc": self.insertion_auc}

    def plot(self, ax=None, **kwargs):
        ax = ax or new_axes((5.5, 3.6))
        for curves, name, color, auc in ((self.deletion, "deletion", "#b2182b", self.deletion_auc),
                                         (self.insertion, "insertion", "#2166ac", self.insertion_auc)):
            for c in curves:
                ax.plot(self.fractions, c, color=color, alpha=0.15, lw=0.8)
            ax.plot(self.fractions, curves.mean(0), color=color, lw=2.2,
                    label=f"{name} (mean AUC {auc.mean():.3f})")
        ax.set_xlabel("fraction of pixels removed / inserted (most important first)")
        ax.set_ylabel("target probability")
        ax.set_xlim(0, 1)
        ax.set_title(f"Deletion / insertion{': ' + self.method if self.method else ''}", fontsize=10)
        ax.legend(fontsize=8, frameon=False)
        ax.grid(alpha=0.3)
        return ax


@keras_models_too
def deletion_insertion(model: nn.Module, inputs: torch.Tensor, attribution: Any, target: Any = None, *,
                       steps: int = 20, deletion_baseline: Any = "zeros", insertion_baseline: Any = "blur",
                       memory_budget: int | None = None, dtype: torch.dtype | None = None) -> FaithfulnessCurves:
    """Deletion and insertion curves (Petsiuk et al. 2018) for image attributions.

    Pixels (all channels of a position) are ranked by the map; at step ``k`` of ``steps``
    the top ``k/steps`` of them are set to ``deletion_baseline`` (zeros) or copied into
    ``insertion_baseline`` (a blurred input). ``target`` defaults to the attribution's
    targets. The rows run through the model or an equivalent of it (the model's outputs to
    float rounding: :func:`~neuralscope.attribution.pixel_curves.curve_forward`);
    ``dtype=torch.bfloat16`` (a PyTorch model on the CPU) runs every point, the unperturbed
    one too, through a copy of the model cast to it: about twice as fast on CPUs with AMX,
    curve points within about 1e-3 of float32's (measured on the scene models).
    """
    from .gradient import make_baseline

    x = prepare_inputs(model, inputs)
    if x.dim() != 4:
        raise InputShapeError(f"Deletion/insertion curves need images (B, C, H, W), got {tuple(x.shape)}.")
    n, c, h, w = x.shape
    maps = torch.as_tensor(_maps_of(attribution, n)).reshape(n, -1)
    if maps.shape[1] != h * w:
        raise InputShapeError(f"The maps have {maps.shape[1]} pixels, the inputs {h * w}.")
    if target is None and isinstance(attribution, Attribution) and attribution.targets is not None:
        target = attribution.targets
    tgt = Target(target, n)
    fractions = np.linspace(0, 1, steps + 1)
    pixels = pixel_order(maps.reshape(n, h, w)).to(x.device)
    vals = {mode: torch.empty(steps + 1, n, dtype=torch.float64) for mode in ("deletion", "insertion")}
    with guard(model):
        per = block_rows(model, x, memory_budget)
        run, out = _unperturbed(model, x, 2 * n * steps + n, per, dtype)
        tgt.resolve(out)
        # the unperturbed input is deletion's first point and insertion's last
        vals["deletion"][0] = vals["insertion"][steps] = _probs(out, tgt, torch.arange(n, device=x.device)).cpu()
        xs = x.contiguous()
        dele = make_baseline(x, deletion_baseline).contiguous()
        ins = (blur(x, max(1.0, h / 16)) if insertion_baseline == "blur"
               else make_baseline(x, insertion_baseline)).contiguous()
        jobs = [CurveJob(vals["deletion"], dele, xs, 1, steps), CurveJob(vals["insertion"], xs, ins, 0, steps - 1)]
        probs = lambda rows, ex: _probs(run(rows), tgt, ex).cpu()
        fill_curves(jobs, pixels, step_pixels(steps, h * w), per, probs, run.threadsafe and tgt.fn is None)
    curves = {mode: v.T.numpy() for mode, v in vals.items()}
    name = attribution.method if isinstance(attribution, Attribution) else ""
    return FaithfulnessCurves(fractions, curves["deletion"], curves["insertion"], method=name)


def _unperturbed(model: nn.Module, x: torch.Tensor, passes: int, per: int,
                 dtype: torch.dtype | None) -> tuple[CurveForward, Any]:
    """The forward for perturbed rows (:func:`~neuralscope.attribution.pixel_curves.curve_forward`)
    and the model's output on ``x``: a stand-in, checked against the model's own output for
    the first example, runs ``x`` in blocks of ``per`` rows as it runs the perturbed rows
    (the model's output to float rounding); without a stand-in the model runs ``x`` in one batch."""
    with torch.no_grad():
        first = forward_with_context(model, x[:1])
        run = curve_forward(model, x[:1], first_tensor(first)[:1], passes, dtype)
        if not run.standin:
            return run, forward_with_context(model, x)
        with pass_threads(x.device):
            return run, torch.cat([run(x[sl]) for sl in chunks(len(x), per)])


# -- sanity checks --------------------------------------------------------------------------
def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps (average ranks for ties)."""
    from scipy.stats import spearmanr

    a, b = np.ravel(a), np.ravel(b)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a, b).statistic)


def ssim(a: np.ndarray, b: np.ndarray, window: int = 7) -> float:
    """Structural similarity (Wang et al. 2004) of two 2-D maps, each scaled to [0, 1],
    with a uniform ``window`` (clipped to the map size) as in scikit-image's default."""
    from scipy.ndimage import uniform_filter

    def unit(m):
        m = np.asarray(m, dtype=np.float64)
        r = np.ptp(m)
        return (m - m.min()) / r if r > 0 else np.zeros_like(m)

    a, b = unit(a), unit(b)
    win = max(1, min(window, *a.shape))
    if win % 2 == 0:
        win -= 1
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mu_a, mu_b = uniform_filter(a, win), uniform_filter(b, win)
    cov = win ** a.ndim / max(win ** a.ndim - 1, 1)
    va = (uniform_filter(a * a, win) - mu_a ** 2) * cov
    vb = (uniform_filter(b * b, win) - mu_b ** 2) * cov
    vab = (uniform_filter(a * b, win) - mu_a * mu_b) * cov
    s = ((2 * mu_a * mu_b + c1) * (2 * vab + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (va + vb + c2))
    pad = (win - 1) // 2
    core = s[tuple(slice(pad, d - pad) for d in s.shape)] if all(d > 2 * pad for d in s.shape) else s
    return float(core.mean())


class SanityCheck(Result):
    """Similarity between the maps of the original model and of randomized models, one row
    per randomization step (e.g. layers randomized so far, top to bottom).

    A map that stays similar while the weights are randomized does not depend on what the
    model learned (Adebayo et al. 2018). Attributes: ``steps`` (labels), ``spearman`` and
    ``ssim`` arrays ``(steps, B)`` computed on absolute maps.
    """

    kind = "sanity_check"
    #: ``maps``: the first example's map at every step
    schema = {"kind": "str", "check": "str", "method": "str", "steps": "str[s]", "spearman": "float[s, b]",
              "ssim": "float[s, b]", "maps": "float[s, ...]?"}

    def __init__(self, steps: list[str], spearman: np.ndarray, ssim: np.ndarray, method: str, check: str,
                 maps: np.ndarray | None = None):
        self.steps, self.method, self.check = list(steps), method, check
        self.spearman, self.ssim = np.asarray(spearman), np.asarray(ssim)
        self.maps = maps

    def to_dict(self) -> dict:
        return {"kind": self.kind, "check": self.check, "method": self.method, "steps": self.steps,
                "spearman": self.spearman, "ssim": self.ssim, "maps": self.maps}

    def plot(self, ax=None, **kwargs):
        ax = ax or new_axes((max(5.0, 0.45 * len(self.steps) + 2), 3.8))
        xs = np.arange(len(self.steps))
        for vals, name, color in ((self.spearman, "Spearman rank (|map|)", "#2166ac"),
                                  (self.ssim, "SSIM (|map|)", "#b2182b")):
            m, s = vals.mean(1), vals.std(1)
            ax.plot(xs, m, "o-", color=color, label=name)
            ax.fill_between(xs, m - s, m + s, color=color, alpha=0.15)
        ax.set_xticks(xs)
        ax.set_xticklabels(self.steps, rotation=45, ha="right", fontsize=8)
        ax.set_ylim(-0.2, 1.05)
        ax.axhline(0, color="#888", lw=0.6)
        ax.set_ylabel("similarity to the original map")
        ax.set_xlabel("randomized up to layer (cascading, output first)" if self.check == "model" else "model")
        ax.set_title(f"{self.check}-randomization sanity check: {self.method}", fontsize=10)
        ax.legend(fontsize=8, frameon=False)
        ax.grid(alpha=0.3)
        return ax


def _attribute(model: Any, x: Any, target: Any, method: str | Method, options: dict) -> Attribution:
    """``method``'s attribution on ``model``: a name goes through :func:`explain` with
    ``options``; a method object is run as it is on its own model, and as a copy bound to
    ``model`` on any other (a randomized copy), in evaluation mode as :func:`explain` does."""
    if not isinstance(method, Method):
        return explain(model, x, target=target, method=method, **options)
    if options:
        raise InputShapeError(f"Give the options to the method object ({type(method).__name__}(model, "
                              f"{next(iter(options))}=...)), not to this function.")
    bound = method
    if method.model is not model:
        bound = copy.copy(method)
        bound.model = model
    if not in_training_mode(model):
        return bound.attribute(x, target)
    with evaluation_mode(model):
        return bound.attribute(x, target)


def _explain_maps(model, x, target, method, options) -> np.ndarray:
    return np.abs(_attribute(model, x, target, method, options).maps())


def _similarities(ref: np.ndarray, maps: np.ndarray) -> tuple[list[float], list[float]]:
    return ([spearman(r, m) for r, m in zip(ref, maps)], [ssim(r, m) if r.ndim == 2 else spearman(r, m)
                                                          for r, m in zip(ref, maps)])


def model_randomization(model: nn.Module, inputs: torch.Tensor, method: str | Method = "integrated_gradients",
                        target: Any = None,
                        *, layers: Sequence[str] | None = None, cascading: bool = True, seed: int = 0,
                        **options) -> SanityCheck:
    """Model-parameter randomization test (Adebayo et al. 2018): re-initialise the layers of
    a copy of the model from the output towards the input (cascading) or one at a time,
    and compare each map with the original's. The user's model is not modified.

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> net = DigitsCNN().eval()
        >>> r = model_randomization(net, net.example_input(2), method="saliency")
        >>> r.spearman.shape[1]
        2
        >>> from neuralscope.attribution import GradCAM  # or a method object, run on each copy
        >>> model_randomization(net, net.example_input(2), method=GradCAM(net, layer="features")).method
        'grad_cam'
    """
    from ..adapters.keras import is_keras_model

    if is_keras_model(model):
        return _keras_model_randomization(model, inputs, method, target, layers, cascading, seed, options)
    x = prepare_inputs(model, inputs)
    ref_attr = _attribute(model, x, target, method, options)
    ref = np.abs(ref_attr.maps())
    tgt = ref_attr.targets if ref_attr.targets is not None else target
    if layers is None:
        layers = [n for n, m in model.named_modules()
                  if n and any(True for _ in m.parameters(recurse=False))][::-1]
    work = copy.deepcopy(model)
    sp, ss, labels, maps = [], [], [], []
    for name in progress(list(layers), desc="randomizing layers"):
        target_model = work if cascading else copy.deepcopy(model)
        mod = dict(target_model.named_modules())[name]
        _reinit(mod, seed)
        m = _explain_maps(target_model, x, tgt, method, options)
        a, b = _similarities(ref, m)
        sp.append(a)
        ss.append(b)
        labels.append(name)
        maps.append(m[0])
    return SanityCheck(labels, np.array(sp), np.array(ss), _name(method), "model", np.array(maps))


def _name(method: str | Method) -> str:
    return method.name if isinstance(method, Method) else method


def _keras_model_randomization(model, inputs, method, target, layers, cascading, seed, options) -> SanityCheck:
    """:func:`model_randomization` for a Keras model: the copies are ``keras.models.clone_model``
    clones holding the model's weights; a layer is re-initialised with its own initializers."""
    from ..adapters.keras import KerasAdapter

    if isinstance(method, Method):
        raise InputShapeError("For a Keras model give the method by name (method='grad_cam', layer=...); "
                              "method objects wrap PyTorch models.")
    adapter = KerasAdapter(model)
    ref_attr = explain(model, inputs, target=target, method=method, **options)
    ref = np.abs(ref_attr.maps())
    tgt = ref_attr.targets if ref_attr.targets is not None else target
    if layers is None:
        layers = [i.name for i in adapter.named_layers() if i.is_leaf and i.trainable_params][::-1]
    work = _keras_clone(adapter)
    sp, ss, labels, maps = [], [], [], []
    for name in progress(list(layers), desc="randomizing layers"):
        target_model = work if cascading else _keras_clone(adapter)
        _keras_reinit(KerasAdapter(target_model).layer(name)[1], seed)
        m = np.abs(explain(target_model, inputs, target=tgt, method=method, **options).maps())
        a, b = _similarities(ref, m)
        sp.append(a)
        ss.append(b)
        labels.append(name)
        maps.append(m[0])
    return SanityCheck(labels, np.array(sp), np.array(ss), method, "model", np.array(maps))


def _keras_clone(adapter) -> Any:
    keras = adapter.keras
    try:
        clone = keras.models.clone_model(adapter.model)
    except Exception as exc:  # subclassed models cannot be cloned from their config
        raise InputShapeError(
            f"The Keras model {adapter.model.name!r} cannot be cloned (keras.models.clone_model failed: {exc}); "
            "the randomization test needs a Sequential or functional model.") from exc
    clone.set_weights(adapter.model.get_weights())
    return clone


def _keras_reinit(layer: Any, seed: int) -> None:
    """Fresh values from the layer's own initializers (``kernel_initializer``...), seeded."""
    import keras

    for i, v in enumerate(layer.trainable_weights):
        init = getattr(layer, f"{v.name}_initializer", None)
        if init is None:
            init = keras.initializers.RandomNormal(0.0, 0.02)
        config = init.get_config()
        if "seed" in config:
            init = init.__class__.from_config({**config, "seed": seed + i})
        v.assign(init(v.shape, dtype=v.dtype))


def _reinit(module: nn.Module, seed: int) -> None:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
        else:
            with torch.no_grad():
                for p in module.parameters(recurse=False):
                    p.normal_(0, 0.02)


def data_randomization(model: nn.Module, random_label_model: nn.Module, inputs: torch.Tensor,
                       method: str | Method = "integrated_gradients", target: Any = None, **options) -> SanityCheck:
    """Data randomization test (Adebayo et al. 2018): compare the maps of ``model`` with those
    of the same architecture trained on randomly permuted labels. High similarity means the
    map does not depend on the relation between data and labels.

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> a, b = DigitsCNN().eval(), DigitsCNN().eval()
        >>> data_randomization(a, b, a.example_input(2), method="saliency", target=0).ssim.shape
        (1, 2)
    """
    from ..adapters.keras import is_keras_model

    x = inputs if is_keras_model(model) else prepare_inputs(model, inputs)  # explain() reads Keras inputs itself
    ref_attr = _attribute(model, x, target, method, options)
    ref = np.abs(ref_attr.maps())
    tgt = ref_attr.targets if ref_attr.targets is not None else target
    m = _explain_maps(random_label_model, x, tgt, method, options)
    a, b = _similarities(ref, m)
    return SanityCheck(["random labels"], np.array([a]), np.array([b]), _name(method), "data", np.array([m[0]]))


# -- infidelity and max-sensitivity -------------------------------------------------------
@keras_models_too
def infidelity(model: nn.Module, inputs: torch.Tensor, attribution: Any, target: Any = None, *,
               n_perturb: int = 32, noise: float = 0.1, seed: int = 0, normalize: bool = True) -> np.ndarray:
    """Infidelity (Yeh et al. 2019): ``E_I[(I . attr - (f(x) - f(x - I)))^2]`` with Gaussian
    perturbations ``I ~ N(0, noise^2)``; per example, lower is better. With ``normalize``
    the attributions are first rescaled by the least-squares optimal factor (as in the
    paper's experiments and Captum's ``normalize=True``), so the score does not depend on
    the map's scale.

    Example:
        >>> from neuralscope.zoo import MLP
        >>> from neuralscope.attribution import explain
        >>> net = MLP(); x = torch.rand(2, 64)
        >>> infidelity(net, x, explain(net, x, method="saliency")).shape
        (2,)
    """
    x = prepare_inputs(model, inputs)
    n = x.shape[0]
    attr = attribution.attributions if isinstance(attribution, Attribution) else attribution
    attr = torch.as_tensor(np.asarray(attr), dtype=torch.float64, device=x.device)
    if attr.shape != x.shape:
        raise InputShapeError(f"Infidelity needs input-shaped attributions {tuple(x.shape)}, got {tuple(attr.shape)}.")
    if target is None and isinstance(attribution, Attribution):
        target = attribution.targets
    tgt = Target(target, n)
    gen = torch.Generator().manual_seed(seed)
    with guard(model), torch.no_grad():
        out = forward_with_context(model, x)
        tgt.resolve(out)
        fx = tgt.scores(out).double()
        I = (torch.randn((n_perturb, *x.shape), generator=gen, dtype=torch.float64) * noise).to(x.device)
        rows = torch.arange(n, device=x.device).repeat(n_perturb)
        per = max(1, internal_batch_size(model, x, backward=False))
        pert = (x[None] - I.to(x.dtype)).reshape(n_perturb * n, *x.shape[1:])
        run = forward_model(model, x[:1], first_tensor(out)[:1], pert.shape[0])
        fpert = torch.cat([tgt.scores(run(pert[sl]), rows[sl]).double()
                           for sl in chunks(pert.shape[0], per)]).view(n_perturb, n)
    dots = (I * attr[None]).flatten(2).sum(-1)  # (P, B)
    diffs = fx[None] - fpert
    if normalize:
        beta = (dots * diffs).mean(0) / (dots * dots).mean(0).clamp_min(1e-30)
        dots = dots * beta[None]
    return ((dots - diffs) ** 2).mean(0).cpu().numpy()


@keras_models_too
def max_sensitivity(model: nn.Module, inputs: torch.Tensor, method: str | Method = "saliency", target: Any = None, *,
                    radius: float = 0.02, n_perturb: int = 8, seed: int = 0, **options) -> np.ndarray:
    """Max-sensitivity (Yeh et al. 2019): the largest relative change
    ``||attr(x + d) - attr(x)|| / ||attr(x)||`` over ``n_perturb`` perturbations ``d``
    uniform in ``[-radius, radius]``; per example, lower is more stable.

    Example:
        >>> from neuralscope.zoo import MLP
        >>> net = MLP()
        >>> max_sensitivity(net, torch.rand(2, 64), method="saliency").shape
        (2,)
    """
    x = prepare_inputs(model, inputs)
    ref = _attribute(model, x, target, method, options)
    tgt = ref.targets if ref.targets is not None else target
    a0 = torch.as_tensor(ref.attributions, dtype=torch.float64).flatten(1)
    gen = torch.Generator().manual_seed(seed)
    worst = torch.zeros(x.shape[0], dtype=torch.float64)
    for _ in range(n_perturb):
        d = ((torch.rand(x.shape, generator=gen) * 2 - 1) * radius).to(x.device, x.dtype)
        a = torch.as_tensor(_attribute(model, x + d, tgt, method, options).attributions,
                            dtype=torch.float64).flatten(1)
        worst = torch.maximum(worst, (a - a0).norm(dim=1) / a0.norm(dim=1).clamp_min(1e-12))
    return worst.numpy()


__all__ = ["deletion_insertion", "FaithfulnessCurves", "model_randomization", "data_randomization", "SanityCheck",
           "infidelity", "max_sensitivity", "spearman", "ssim"]
