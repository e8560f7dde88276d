"""Matplotlib drawings of the landscape results: contour and 3-D surface of a plane, the
curve of a line (accuracy on a second axis), the optimizer's path over a contour, and the
Hessian's spectrum, per-layer curvature and eigenvalue density."""
from __future__ import annotations

import numpy as np

from ..plot import colorbar, new_axes

SURFACE_CMAP = "viridis"
PATH_COLOR = "#e8503a"


def _levels(z: np.ndarray, n: int = 24) -> tuple[np.ndarray, bool]:
    """Contour levels; logarithmic when the loss spans more than a factor of 20."""
    finite = z[np.isfinite(z)]
    lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        hi = lo + 1e-9
    if lo > 0 and hi / lo > 20:
        return np.geomspace(lo, hi, n), True
    return np.linspace(lo, hi, n), False


def plot_landscape(ls, ax=None, kind: str | None = None, **kwargs):
    kind = kind or ("curve" if ls.dims == 1 else "contour")
    if kind == "curve":
        if ls.dims != 1:
            from ..errors import InputShapeError

            raise InputShapeError("kind='curve' draws a 1-D landscape; use 'contour' or 'surface' for 2-D.")
        return plot_curve(ls, ax=ax, **kwargs)
    if ls.dims != 2:
        return plot_curve(ls, ax=ax, **kwargs)
    if kind == "surface":
        return plot_surface(ls, ax=ax, **kwargs)
    if kind == "contour":
        return plot_contour(ls, ax=ax, **kwargs)
    from ..errors import InputShapeError

    raise InputShapeError(f"kind must be 'contour', 'surface' or 'curve', not {kind!r}.")


def plot_contour(ls, ax=None, metric: str = "loss", mark_minimum: bool = True, colorbar_label: str | None = None,
                 title: str | None = None):
    """Filled contours with labelled lines, a colorbar, the trained weights (+) and the
    grid's minimum (star) marked."""
    from matplotlib.colors import LogNorm

    ax = ax or new_axes((6.4, 5.2))
    z = ls.loss if metric == "loss" else ls.accuracy
    levels, logscale = _levels(z)
    norm = LogNorm(levels[0], levels[-1]) if logscale else None
    cs = ax.contourf(ls.x, ls.y, z, levels=levels, cmap=SURFACE_CMAP, norm=norm, extend="neither")
    lines = ax.contour(ls.x, ls.y, z, levels=levels[::3], colors="white", linewidths=0.6, alpha=0.8, norm=norm)
    ax.clabel(lines, fmt=lambda v: f"{v:.3g}", fontsize=7, inline=True)
    cb = colorbar(cs, ax, colorbar_label or (f"{metric} (log scale)" if logscale else metric))
    if not logscale:
        cb.formatter = _significant_formatter()
        cb.update_ticks()
    if logscale:
        cb.ax.minorticks_off()
        cb.set_ticks(levels[::4])
        cb.set_ticklabels([f"{v:.3g}" for v in levels[::4]])
    if ls.direction in ("random", "interpolation", "custom") and ls.x[0] <= 0 <= ls.x[-1]:
        ax.plot([0], [0], marker="P", ms=10, mec="white", mfc="black", ls="none",
                label=f"trained weights (loss {ls.center_loss:.3g})")
    if ls.direction == "interpolation" and ls.x[0] <= 1 <= ls.x[-1]:
        ax.plot([1], [0], marker="X", ms=10, mec="white", mfc="#555", ls="none", label="other weights")
    if mark_minimum and metric == "loss":
        (mx, my), mv = ls.minimum
        ax.plot([mx], [my], marker="*", ms=15, mec="black", mfc="#ffd400", ls="none",
                label=f"grid minimum (loss {mv:.3g})")
    ax.set_xlabel(ls.axis_labels[0])
    ax.set_ylabel(ls.axis_labels[1] if len(ls.axis_labels) > 1 else "direction 2")
    ax.set_aspect("auto")
    ax.legend(loc="upper right", fontsize=7, framealpha=0.85)
    ax.set_title(title or _title(ls), fontsize=10)
    return ax


def _significant_formatter():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _: f"{v:.4g}")


def _title(ls) -> str:
    n = ls.meta.get("examples")
    what = {"random": "filter-normalised random directions", "interpolation": "interpolation plane",
            "pca": "PCA plane of the trajectory"}.get(ls.direction, "custom directions")
    model = ls.meta.get("model", "model")
    return f"Loss of {model} around its weights ({what}" + (f", {n} examples)" if n else ")")


def plot_surface(ls, ax=None, clip: float | None = None, title: str | None = None, elev: float = 35,
                 azim: float = -60):
    """A 3-D surface of the loss (log10 when it spans more than a factor of 20; ``clip``
    caps the drawn loss like the reference code's ``vmax``)."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig = plt.figure(figsize=(7, 5.6), layout="constrained")
        ax = fig.add_subplot(projection="3d")
    z = ls.loss.copy()
    if clip is not None:
        z = np.minimum(z, clip)
    _, logscale = _levels(z)
    zz = np.log10(z) if logscale else z
    gx, gy = np.meshgrid(ls.x, ls.y)
    surf = ax.plot_surface(gx, gy, zz, cmap=SURFACE_CMAP, linewidth=0, antialiased=True, rstride=1, cstride=1)
    (mx, my), mv = ls.minimum
    ax.scatter([mx], [my], [np.log10(mv) if logscale else mv], marker="*", s=120, c="#ffd400",
               edgecolors="black", depthshade=False, label=f"grid minimum (loss {mv:.3g})")
    zlabel = "log10 loss" if logscale else "loss"
    ax.set_xlabel(_short(ls.axis_labels[0]), fontsize=8, labelpad=4)
    ax.set_ylabel(_short(ls.axis_labels[1]), fontsize=8, labelpad=4)
    ax.set_zlabel(zlabel, fontsize=8)
    ax.view_init(elev=elev, azim=azim)
    ax.figure.colorbar(surf, ax=ax, shrink=0.6, pad=0.08, label=zlabel)
    ax.legend(loc="upper left", fontsize=7)
    ax.set_title(title or _title(ls), fontsize=10)
    return ax


def _short(label: str) -> str:
    return label.replace("filter-normalised ", "").replace(" (0 = model, 1 = other weights)", "")


def plot_curve(ls, ax=None, label: str | None = None, color: str | None = None, show_accuracy: bool = True,
               title: str | None = None):
    """Loss along the line (left axis) and accuracy (right axis, dashed). Several landscapes
    can share one ``ax`` (pass ``label``); the accuracy axis is made once per ``ax``."""
    ax = ax or new_axes((6.4, 4.2))
    line, = ax.plot(ls.x, ls.loss, color=color, lw=2, label=f"{label + ': ' if label else ''}loss")
    ax.set_xlabel(ls.axis_labels[0])
    ax.set_ylabel("loss")
    if ls.direction in ("random", "interpolation", "custom"):
        ax.axvline(0, color="#888", lw=0.8, ls=":")
    if ls.direction == "interpolation":
        ax.axvline(1, color="#888", lw=0.8, ls=":")
    handles = [line]
    if show_accuracy and ls.accuracy is not None:
        twin = getattr(ax, "_ns_accuracy_axis", None)
        if twin is None:
            twin = ax.twinx()
            twin.set_ylabel("accuracy (dashed)")
            twin.set_ylim(0, 1.02)
            ax._ns_accuracy_axis = twin
        acc, = twin.plot(ls.x, ls.accuracy, color=line.get_color(), lw=1.4, ls="--",
                         label=f"{label + ': ' if label else ''}accuracy")
        handles.append(acc)
    ax._ns_handles = getattr(ax, "_ns_handles", []) + handles
    long = max(len(h.get_label()) for h in ax._ns_handles) > 28
    ax.legend(handles=ax._ns_handles, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14),
              ncol=2 if long else min(4, len(ax._ns_handles)), frameon=False)
    ax.set_title(title or _title(ls).replace("around its weights", "along a line"), fontsize=10)
    return ax


def plot_trajectory(tr, ax=None, title: str | None = None, annotate: int = 5):
    """The path (points coloured from early to late) over the loss contour of its plane,
    start and end marked and a few steps labelled."""
    ax = ax or new_axes((6.6, 5.4))
    n = tr.upto or len(tr.coords)
    if tr.landscape is not None:
        plot_contour(tr.landscape, ax=ax, mark_minimum=True, title=title or "")
    c = tr.coords[:n]
    ax.plot(c[:, 0], c[:, 1], color=PATH_COLOR, lw=1.6, zorder=4)
    ax.scatter(c[:, 0], c[:, 1], c=np.arange(n), cmap="autumn", s=18, zorder=5, edgecolors="black", linewidths=0.4)
    ax.plot(*tr.coords[0], marker="o", ms=9, mfc="white", mec=PATH_COLOR, mew=2, ls="none", zorder=6,
            label=f"start (step {tr.steps[0]})")
    if n == len(tr.coords):
        ax.plot(*tr.coords[-1], marker="s", ms=8, mfc=PATH_COLOR, mec="black", ls="none", zorder=6,
                label=f"end (step {tr.steps[-1]})")
    for i in np.unique(np.linspace(0, n - 1, min(annotate, n)).round().astype(int))[1:-1]:
        ax.annotate(f"{tr.steps[i]}", c[i], textcoords="offset points", xytext=(5, 5), fontsize=7, color="black",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.7}, zorder=7)
    ax.set_xlabel(f"PC 1 ({tr.explained[0]:.0%} of the path's variance)")
    ax.set_ylabel(f"PC 2 ({tr.explained[1]:.0%})" if len(tr.explained) > 1 else "PC 2")
    if tr.landscape is None:
        ax.set_title(title or "Optimizer trajectory (PCA of the weights)", fontsize=10)
    else:
        ax.set_title(title or f"Optimizer trajectory over the loss of its PCA plane "
                     f"({tr.landscape.meta.get('examples', '?')} examples)", fontsize=10)
    ax.legend(loc="upper right", fontsize=7, framealpha=0.85)
    lim_x = [min(c[:, 0].min(), ax.get_xlim()[0]), max(c[:, 0].max(), ax.get_xlim()[1])]
    lim_y = [min(c[:, 1].min(), ax.get_ylim()[0]), max(c[:, 1].max(), ax.get_ylim()[1])]
    ax.set_xlim(lim_x)
    ax.set_ylim(lim_y)
    return ax


def plot_curvature(cv, ax=None, kind: str | None = None, title: str | None = None):
    kind = kind or ("density" if cv.density is not None else "layers" if cv.layers else "spectrum")
    ax = ax or new_axes((6.4, 4.2))
    if kind == "density":
        if cv.density is None:
            from ..errors import InputShapeError

            raise InputShapeError("This Curvature has no density; compute it with curvature(..., density=True).")
        grid, dens = cv.density
        ax.semilogy(grid, np.maximum(dens, 1e-12), color="#3b6fb6", lw=1.5)
        ax.fill_between(grid, 1e-12, np.maximum(dens, 1e-12), color="#3b6fb6", alpha=0.2)
        ax.set_ylim(max(dens.max() * 1e-7, 1e-12), dens.max() * 3)
        ax.axvline(cv.top_eigenvalue, color=PATH_COLOR, ls="--", lw=1, label=f"top eigenvalue {cv.top_eigenvalue:.3g}")
        ax.axvline(0, color="#888", lw=0.8, ls=":")
        ax.set_xlabel("Hessian eigenvalue")
        ax.set_ylabel("density (log scale)")
        ax.legend(fontsize=8)
        ax.set_title(title or f"Hessian eigenvalue density (stochastic Lanczos quadrature), "
                     f"{cv.n_params:,} parameters", fontsize=10)
    elif kind == "layers":
        names = list(cv.layers)
        top = [cv.layers[n]["eigenvalues"][0] for n in names]
        tr = [cv.layers[n].get("trace") for n in names]
        ypos = np.arange(len(names))
        ax.barh(ypos - 0.2, top, height=0.4, color="#3b6fb6", label="top eigenvalue")
        if all(t is not None for t in tr):
            ax.barh(ypos + 0.2, tr, height=0.4, color="#e8a33a", label="trace (Hutchinson)")
        ax.set_yticks(ypos, names, fontsize=8)
        ax.invert_yaxis()
        ax.axvline(0, color="#888", lw=0.8)
        ax.set_xscale("symlog", linthresh=max(1e-3, float(np.nanmin(np.abs(top))) if top else 1e-3))
        ax.set_xlabel("curvature of the layer's own Hessian block (symlog)")
        ax.legend(fontsize=8)
        ax.set_title(title or "Curvature per layer", fontsize=10)
    elif kind == "spectrum":
        k = np.arange(1, len(cv.eigenvalues) + 1)
        ax.bar(k, cv.eigenvalues, color="#3b6fb6")
        ax.set_xticks(k)
        ax.set_xlabel("eigenvalue rank")
        ax.set_ylabel("Hessian eigenvalue")
        ax.axhline(0, color="#888", lw=0.8)
        ax.set_title(title or "Top Hessian eigenvalues", fontsize=10)
    else:
        from ..errors import InputShapeError

        raise InputShapeError(f"kind must be 'density', 'layers' or 'spectrum', not {kind!r}.")
    return ax
