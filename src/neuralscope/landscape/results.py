"""Result objects of the landscape package: :class:`LossLandscape` (a 1-D or 2-D slice of the
loss), :class:`Trajectory` (an optimizer's path projected on a plane, over that plane's loss)
and :class:`Curvature` (Hessian eigenvalues, trace and spectral density).

They hold numbers only; drawing lives in :mod:`neuralscope.landscape.plot` and the
interactive page in :mod:`neuralscope.landscape.html`.
"""
from __future__ import annotations

import copy
import html as _html
from typing import Any

import numpy as np

from ..result import Result, standalone_page


class LossLandscape(Result):
    """Loss (and accuracy) on a line (``y is None``, ``loss.shape == (len(x),)``) or a plane
    (``loss.shape == (len(y), len(x))``: rows follow ``y``) through the weights.

    ``kind`` says what the axes are: ``"random"`` (filter-normalised random directions; 0 is
    the model's weights), ``"interpolation"`` (0 is the model, 1 the other weights) or
    ``"pca"`` (principal directions of a trajectory; 0 is its last point).
    """

    kind = "loss_landscape"
    #: ``y``, ``loss`` and ``accuracy`` are 1-D (a line, ``y`` None) or 2-D (a plane): "any" here
    schema = {"kind": "str", "dims": "int", "direction": "str", "x": "float[*]", "y": "any", "loss": "any",
              "accuracy": "any", "axis_labels": ["str"], "center_loss": "float",
              "minimum": {"at": "float[*]", "loss": "float"}, "meta": "dict"}

    def __init__(self, x: np.ndarray, loss: np.ndarray, *, y: np.ndarray | None = None,
                 accuracy: np.ndarray | None = None, direction: str = "random",
                 axis_labels: tuple[str, ...] = ("direction 1", "direction 2"), center_loss: float | None = None,
                 meta: dict | None = None):
        self.x = np.asarray(x, dtype=float)
        self.y = None if y is None else np.asarray(y, dtype=float)
        self.loss = np.asarray(loss, dtype=float)
        self.accuracy = None if accuracy is None else np.asarray(accuracy, dtype=float)
        self.direction = direction
        self.axis_labels = tuple(axis_labels)
        self.center_loss = center_loss
        self.meta = dict(meta or {})

    @property
    def dims(self) -> int:
        return 1 if self.y is None else 2

    @property
    def minimum(self) -> tuple[tuple[float, ...], float]:
        """``(coordinates, loss)`` of the lowest loss on the grid."""
        i = np.unravel_index(np.nanargmin(self.loss), self.loss.shape)
        coords = (self.x[i[0]],) if self.dims == 1 else (self.x[i[1]], self.y[i[0]])
        return tuple(float(c) for c in coords), float(self.loss[i])

    def to_dict(self) -> dict:
        return {"kind": self.kind, "dims": self.dims, "direction": self.direction, "x": self.x, "y": self.y,
                "loss": self.loss, "accuracy": self.accuracy, "axis_labels": list(self.axis_labels),
                "center_loss": self.center_loss, "minimum": {"at": self.minimum[0], "loss": self.minimum[1]},
                "meta": self.meta}

    def plot(self, ax=None, kind: str | None = None, **kwargs):
        """``kind``: ``"contour"`` (2-D default), ``"surface"`` (3-D) or ``"curve"`` (1-D
        default, accuracy on a second axis; pass ``ax`` and ``label`` to overlay several)."""
        from . import plot

        return plot.plot_landscape(self, ax=ax, kind=kind, **kwargs)

    def to_html(self) -> str:
        from .html import landscape_page

        return landscape_page(self)

    def _html_fragment(self) -> str:
        if self.dims == 1:
            return super()._html_fragment()
        from .html import landscape_fragment

        return landscape_fragment(self)

    def _title(self) -> str:
        what = {"random": "filter-normalised random directions", "interpolation": "linear interpolation",
                "pca": "principal directions of the trajectory"}.get(self.direction, self.direction)
        return f"Loss landscape ({self.dims}-D, {what})"

    def __repr__(self) -> str:
        shape = "x".join(str(s) for s in self.loss.shape)
        return f"LossLandscape({self.dims}-D {self.direction}, {shape} points, min loss {self.minimum[1]:.4g})"


class Trajectory(Result):
    """Weights at several steps projected on the plane of their two principal directions
    (PCA of ``w_i - w_last``, Li et al. 2018 Sec. 7), with the loss of that plane.

    ``coords[i]`` is checkpoint ``i`` in that plane (the last checkpoint is at the origin);
    ``explained[j]`` is the share of the path's variance along direction ``j``.
    """

    kind = "trajectory"
    schema = {"kind": "str", "coords": "float[n, *]", "steps": "int[n]", "explained": "float[*]", "losses": "any",
              "landscape": "any", "meta": "dict"}

    def __init__(self, coords: np.ndarray, steps: list, explained: np.ndarray, *,
                 landscape: LossLandscape | None = None, losses: np.ndarray | None = None, meta: dict | None = None):
        self.coords = np.asarray(coords, dtype=float)
        self.steps = list(steps)
        self.explained = np.asarray(explained, dtype=float)
        self.landscape = landscape
        self.losses = None if losses is None else np.asarray(losses, dtype=float)
        self.meta = dict(meta or {})
        self.upto: int | None = None  # draw only the first ``upto`` points (animation frames)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "coords": self.coords, "steps": self.steps, "explained": self.explained,
                "losses": self.losses, "landscape": None if self.landscape is None else self.landscape.to_dict(),
                "meta": self.meta}

    def plot(self, ax=None, **kwargs):
        """The path over the loss contour of its plane (start, end and steps labelled)."""
        from . import plot

        return plot.plot_trajectory(self, ax=ax, **kwargs)

    def animation(self, frames: int = 24, fps: float = 6.0):
        """An :class:`~neuralscope.Animation` that draws the path step by step over the contour."""
        from ..plot.animation import Animation

        n = len(self.coords)
        cuts = sorted({round(v) for v in np.linspace(1, n, min(frames, n))})
        views = []
        for k in cuts:
            view = copy.copy(self)
            view.upto = k
            views.append(view)
        return Animation(views, [f"step {self.steps[k - 1]}" for k in cuts], title="Optimizer trajectory", fps=fps,
                         figsize=(6.8, 5.4))

    def _title(self) -> str:
        return "Optimizer trajectory on the loss landscape"

    def __repr__(self) -> str:
        return (f"Trajectory({len(self.coords)} checkpoints, PCA explains "
                f"{self.explained[:2].sum():.0%} of the path)")


class Curvature(Result):
    """Hessian of the loss at the model's weights: top eigenvalues, trace (Hutchinson) and,
    when asked, the eigenvalue density (stochastic Lanczos quadrature), for the whole model
    and per layer (the layer's own block of the Hessian)."""

    kind = "curvature"
    schema = {"kind": "str", "eigenvalues": "float[*]", "trace": "float?", "trace_std": "float?", "layers": "dict",
              "density": "any", "n_params": "int", "meta": "dict"}

    def __init__(self, eigenvalues: np.ndarray, *, trace: float | None = None, trace_std: float | None = None,
                 layers: dict[str, dict] | None = None, density: tuple[np.ndarray, np.ndarray] | None = None,
                 n_params: int = 0, meta: dict | None = None):
        self.eigenvalues = np.asarray(eigenvalues, dtype=float)
        self.trace, self.trace_std = trace, trace_std
        self.layers = dict(layers or {})
        self.density = density
        self.n_params = n_params
        self.meta = dict(meta or {})

    @property
    def top_eigenvalue(self) -> float:
        return float(self.eigenvalues[0])

    def scalars(self, prefix: str = "curvature") -> dict[str, float]:
        """Flat ``name -> value`` for ``run.log``: top eigenvalue and trace, model and per layer."""
        out = {f"{prefix}/top_eigenvalue": self.top_eigenvalue}
        if self.trace is not None:
            out[f"{prefix}/trace"] = float(self.trace)
        for name, d in self.layers.items():
            if d.get("eigenvalues") is not None and len(d["eigenvalues"]):
                out[f"{prefix}/top_eigenvalue/{name}"] = float(d["eigenvalues"][0])
            if d.get("trace") is not None:
                out[f"{prefix}/trace/{name}"] = float(d["trace"])
        return out

    def log_to(self, run: Any, step: int | None = None, prefix: str = "curvature") -> None:
        """Log :meth:`scalars` into a :class:`~neuralscope.Run` at ``step`` (the dashboard
        draws them beside the loss)."""
        run.log(self.scalars(prefix), step=step)

    def to_dict(self) -> dict:
        dens = None if self.density is None else {"grid": self.density[0], "density": self.density[1]}
        return {"kind": self.kind, "eigenvalues": self.eigenvalues, "trace": self.trace, "trace_std": self.trace_std,
                "layers": self.layers, "density": dens, "n_params": self.n_params, "meta": self.meta}

    def plot(self, ax=None, kind: str | None = None, **kwargs):
        """``kind``: ``"density"`` (default when computed), ``"layers"`` (default with
        per-layer values) or ``"spectrum"`` (the top eigenvalues)."""
        from . import plot

        return plot.plot_curvature(self, ax=ax, kind=kind, **kwargs)

    def _html_fragment(self) -> str:
        rows = "".join(f"<tr><td>{_html.escape(n)}</td><td>{_fmt(d.get('eigenvalues', [None])[0])}</td>"
                       f"<td>{_fmt(d.get('trace'))}</td></tr>" for n, d in self.layers.items())
        table = (f"<table><tr><th>parameters</th><th>top eigenvalue</th><th>trace</th></tr>"
                 f"<tr><td>whole model</td><td>{_fmt(self.top_eigenvalue)}</td><td>{_fmt(self.trace)}</td></tr>"
                 f"{rows}</table>")
        return super()._html_fragment() + table

    def to_html(self) -> str:
        return standalone_page("Hessian curvature", self._html_fragment())

    def __repr__(self) -> str:
        tr = "" if self.trace is None else f", trace {self.trace:.4g}"
        return f"Curvature(top eigenvalue {self.top_eigenvalue:.4g}{tr}, {len(self.layers)} layers)"


def _fmt(v) -> str:
    return "" if v is None else f"{float(v):.4g}"


