"""Result objects for what a run recorded: a scalar series, a histogram series over steps,
and the diagnostics table. They hold read data (numpy arrays) and draw it."""
from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field

import numpy as np

from ..result import Result, new_axes, standalone_page

__all__ = ["ScalarSeries", "HistogramSeries", "Diagnostic", "Diagnostics"]


class ScalarSeries(Result):
    """One scalar series of a run (``steps``, ``values``, ``walls``); possibly downsampled
    at read time (``downsampled`` names the method, ``total`` is the number logged).

    Example:
        >>> s = ScalarSeries("loss", np.arange(3), np.array([3.0, 2.0, 1.5]))
        >>> s.to_dict()["values"].tolist()
        [3.0, 2.0, 1.5]
    """

    kind = "scalar_series"
    schema = {"kind": "str", "name": "str", "run": "str?", "steps": "int[n]", "values": "float[n]",
              "walls": "float[n]", "total": "int", "downsampled": "str?"}

    def __init__(self, name: str, steps, values, walls=None, *, total: int | None = None,
                 downsampled: str | None = None, run: str | None = None):
        self.name = name
        self.steps = np.asarray(steps, dtype=np.int64)
        self.values = np.asarray(values, dtype=np.float64)
        self.walls = np.zeros(len(self.steps)) if walls is None else np.asarray(walls, dtype=np.float64)
        self.total = len(self.steps) if total is None else int(total)
        self.downsampled = downsampled
        self.run = run

    def __len__(self) -> int:
        return len(self.steps)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "name": self.name, "run": self.run, "steps": self.steps,
                "values": self.values, "walls": self.walls, "total": self.total,
                "downsampled": self.downsampled}

    def smoothed(self, weight: float) -> np.ndarray:
        """TensorBoard-style debiased exponential moving average (NaN points skipped)."""
        out = np.empty_like(self.values)
        last, num = 0.0, 0
        for i, v in enumerate(self.values):
            if not np.isfinite(v):
                out[i] = v
                continue
            last = last * weight + (1 - weight) * v
            num += 1
            out[i] = last / (1 - weight ** num)
        return out

    def plot(self, ax=None, smoothing: float = 0.0, label: str | None = None, color=None, logy=None):
        """Line chart of value over step; with ``smoothing`` (0..1) the raw series is drawn
        faint under its moving average. NaN/Inf points are marked on the top edge in red."""
        ax = ax or new_axes((7, 3.6))
        label = label or (f"{self.run}: {self.name}" if self.run else self.name)
        finite = np.isfinite(self.values)
        if smoothing > 0:
            line, = ax.plot(self.steps, self.values, alpha=0.25, lw=1, color=color)
            ax.plot(self.steps, self.smoothed(smoothing), lw=1.6, color=line.get_color(), label=label)
        else:
            ax.plot(self.steps, self.values, lw=1.4, color=color, label=label)
        if (~finite).any():
            ax.plot(self.steps[~finite], np.full((~finite).sum(), 1.0), "x", color="#d62728",
                    transform=ax.get_xaxis_transform(), clip_on=False, label="NaN/Inf")
        if logy is None:
            v = self.values[finite]
            logy = len(v) > 1 and v.min() > 0 and v.max() / v.min() > 100
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        note = f" ({len(self)} of {self.total} points, {self.downsampled})" if self.downsampled else ""
        _label_shared_axes(ax, self.name, label, note)
        return ax


def _label_shared_axes(ax, name: str, label: str, note: str) -> None:
    """Title, y label and legend for the series drawn on ``ax`` so far: one series is named
    by its title; several share the axes, so the title lists them all and a legend tells
    them apart (a later call never takes the title over)."""
    drawn = ax.__dict__.setdefault("_neuralscope_series", [])
    drawn.append((name, label, note))
    names = list(dict.fromkeys(n for n, _, _ in drawn))
    if len(drawn) == 1:
        ax.set_ylabel(name)
        ax.set_title(f"{name}{note}", fontsize=10)
        return
    leaves = {n.rsplit("/", 1)[-1] for n in names}
    ax.set_ylabel(leaves.pop() if len(leaves) == 1 else "value")
    title = ", ".join(names) if len(names) > 1 else f"{names[0]} ({len(drawn)} runs)"
    ax.set_title(title if len(title) <= 80 else f"{len(names)} series", fontsize=10)
    ax.legend(fontsize=8, loc="best")


class HistogramSeries(Result):
    """Histograms of one quantity over training steps (a weight or gradient distribution).

    ``rows`` are dicts with ``step``, ``wall``, ``edges`` (n+1), ``counts`` (n) and the
    summary ``num``, ``min``, ``max``, ``sum``, ``sum_sq`` (the bins may differ per step).

    Example:
        >>> from neuralscope.histogram import histogram
        >>> h = histogram([0.0, 1.0, 1.0, 2.0], bins=2)
        >>> s = HistogramSeries("w", [{"step": 0, "wall": 0.0, "edges": h.edges, "counts": h.counts,
        ...                            **dict(zip(("num", "min", "max", "sum", "sum_sq"), h.stats))}])
        >>> s.to_dict()["histograms"][0]["counts"].tolist()
        [1.0, 3.0]
    """

    kind = "histogram_series"
    schema = {"kind": "str", "name": "str", "run": "str?", "steps": "int[s]", "histograms": [{
        "step": "int", "wall": "float?", "edges": "float[*]", "counts": "float[*]", "num": "float?",
        "min": "float?", "max": "float?", "sum": "float?", "sum_sq": "float?"}]}

    def __init__(self, name: str, rows: list[dict], run: str | None = None):
        self.name = name
        self.rows = rows
        self.run = run
        self.steps = np.array([r["step"] for r in rows], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "name": self.name, "run": self.run,
                "steps": self.steps,
                "histograms": [{k: r.get(k) for k in ("step", "wall", "edges", "counts", "num", "min", "max", "sum",
                                                      "sum_sq")} for r in self.rows]}

    def regrid(self, bins: int = 80, linear_width: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """All steps re-binned onto one common grid: ``(edges (bins+1), counts (steps, bins))``
        by linear interpolation of each step's cumulative counts (totals are kept). With
        ``linear_width`` the grid is uniform in ``asinh(value / linear_width)``: fine bins near
        zero, coarse ones far out."""
        edges = [self._edges(r) for r in self.rows]
        lo = min(float(e[0]) for e in edges)
        hi = max(float(e[-1]) for e in edges)
        if not hi > lo:
            hi = lo + 1.0
        if linear_width:
            a = linear_width
            grid = a * np.sinh(np.linspace(np.arcsinh(lo / a), np.arcsinh(hi / a), bins + 1))
        else:
            grid = np.linspace(lo, hi, bins + 1)
        out = np.zeros((len(self.rows), bins))
        for i, (r, e) in enumerate(zip(self.rows, edges)):
            cdf = np.concatenate([[0.0], np.cumsum(r["counts"])])
            out[i] = np.diff(np.interp(grid, e, cdf))
        return grid, out

    @staticmethod
    def _edges(row: dict) -> np.ndarray:
        """Bin edges clipped to the observed [min, max] (TensorFlow's histograms end in
        buckets reaching +-1.8e308, which would squash every plot)."""
        e = np.asarray(row["edges"], dtype=np.float64)
        lo, hi = row.get("min"), row.get("max")
        if lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi) and hi >= lo:
            e = np.clip(e, lo, hi)
        return np.maximum.accumulate(np.nan_to_num(e, posinf=np.finfo(float).max / 4, neginf=-np.finfo(float).max / 4))

    def plot(self, ax=None, bins: int = 80, cmap: str = "magma_r"):
        """Heat map: step on x, value on y, colour = fraction of values in the bin at that
        step (log scale), so a distribution widening or collapsing over training shows. When
        the spread changes more than 20-fold over the steps (see :meth:`linear_width`), the
        value axis is ``asinh`` and the colour is each step's density relative to its peak,
        so steps after the collapse stay as readable as those before it."""
        import matplotlib.colors as mcolors

        ax = ax or new_axes((7, 3.6))
        if not self.rows:
            ax.text(0.5, 0.5, "no histograms logged", ha="center", va="center", transform=ax.transAxes)
            return ax
        width = self.linear_width()
        grid, counts = self.regrid(bins, linear_width=width)
        frac = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1e-12)
        label = "fraction of values"
        if width:  # unequal bins: colour the density per unit value, relative to each step's peak
            dens = frac / np.diff(grid)[None, :]
            frac = dens / np.maximum(dens.max(axis=1, keepdims=True), 1e-300)
            label = "density (relative to the step's peak)"
        steps = self.steps.astype(float)
        if len(steps) > 1:
            mids = (steps[1:] + steps[:-1]) / 2
            xedges = np.concatenate([[steps[0] - (mids[0] - steps[0])], mids, [steps[-1] + (steps[-1] - mids[-1])]])
        else:
            xedges = np.array([steps[0] - 0.5, steps[0] + 0.5])
        positive = frac[frac > 0]
        vmin = max(positive.min(), 1e-4) if positive.size else 1e-4
        masked = np.ma.masked_less_equal(frac.T, 0)
        mesh = ax.pcolormesh(xedges, grid, masked, cmap=cmap, shading="flat",
                             norm=mcolors.LogNorm(vmin=vmin, vmax=max(vmin * 10, frac.max())))
        ax.figure.colorbar(mesh, ax=ax, label=label, pad=0.02)
        if len(steps) > 1:  # percentile lines (as TensorBoard's distributions) guide the eye
            q = self.percentiles((0.05, 0.5, 0.95))
            for k, style in enumerate(("--", "-", "--")):
                ax.plot(steps, q[:, k], style, color="#2ca9e1", lw=0.9, alpha=0.9,
                        label="median, 5% and 95%" if k == 1 else None)
            ax.legend(fontsize=7, loc="upper right", framealpha=0.7)
        ax.set_xlabel("step")
        ax.set_ylabel("value")
        title = f"{self.name}: distribution over steps"
        if width:
            ax.set_yscale("asinh", linear_width=width)
            ax.set_ylim(grid[0], grid[-1])
            title += f"\n(spread changes {self._spread_ratio():.0f}x: value axis linear within ±{width:.2g}, logarithmic beyond)"
        ax.set_title(title, fontsize=10)
        return ax

    def percentiles(self, qs=(0.05, 0.5, 0.95)) -> np.ndarray:
        """``(steps, len(qs))``: each step's quantiles, read from its histogram's cumulative
        counts (linear within a bin)."""
        out = np.full((len(self.rows), len(qs)), np.nan)
        for i, r in enumerate(self.rows):
            e = self._edges(r)
            cdf = np.concatenate([[0.0], np.cumsum(np.asarray(r["counts"], dtype=float))])
            if cdf[-1] > 0:
                out[i] = np.interp(np.asarray(qs) * cdf[-1], cdf, e)
        return out

    def _spreads(self) -> np.ndarray:
        """Standard deviation of each step's values (from the logged sums)."""
        out = []
        for r in self.rows:
            n = r.get("num") or 0
            if n and r.get("sum") is not None and r.get("sum_sq") is not None:
                mean = r["sum"] / n
                out.append(np.sqrt(max(r["sum_sq"] / n - mean * mean, 0.0)))
        out = np.asarray(out, dtype=float)
        return out[np.isfinite(out) & (out > 0)]

    def _spread_ratio(self) -> float:
        sp = self._spreads()
        return float(sp.max() / sp.min()) if len(sp) else 1.0

    def linear_width(self, ratio: float = 20.0) -> float | None:
        """When the spread of the values changes more than ``ratio``-fold over the steps
        (gradients that shrink 100x after the first steps), the value axis is drawn as
        ``asinh`` with this linear width (the 10th percentile of the per-step spreads), so
        narrow and wide steps both stay readable; ``None`` keeps a linear axis."""
        sp = self._spreads()
        if len(sp) < 2 or sp.max() / sp.min() <= ratio:
            return None
        return float(np.percentile(sp, 10))


@dataclass
class Diagnostic:
    """One problem found in a run: what (``code``), where (``series``/``layer``), since
    when (``step``), how bad (``severity``) and a plain-language ``message``."""

    code: str
    severity: str
    step: int | None
    message: str
    series: str | None = None
    layer: str | None = None
    details: dict = field(default_factory=dict)
    run: str | None = None  #: the run it was found in (set where several runs are listed)


class Diagnostics(Result):
    """The diagnostics of a run, most severe first.

    Example:
        >>> Diagnostics([]).to_dict()["items"]
        []
    """

    kind = "diagnostics"
    schema = {"kind": "str", "run": "str?", "items": [{
        "code": "str", "severity": "str", "step": "int?", "message": "str", "series": "str?", "layer": "str?",
        "details": "dict", "run": "str?"}]}
    _ORDER = {"error": 0, "warning": 1, "info": 2}

    def __init__(self, items: list[Diagnostic], run: str | None = None):
        self.items = sorted(items, key=lambda d: (self._ORDER.get(d.severity, 3),
                                                   d.step if d.step is not None else 0))
        self.run = run

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return iter(self.items)

    def codes(self) -> set[str]:
        return {d.code for d in self.items}

    def __str__(self) -> str:
        if not self.items:
            return "No problems found."
        return "\n".join(f"{sev:<7} {code:<18} step {step or '-':>6}  {msg}" for sev, code, step, msg in self._rows())

    def __repr__(self) -> str:
        return f"Diagnostics({len(self.items)} found{', run ' + repr(self.run) if self.run else ''})"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "run": self.run, "items": [asdict(d) for d in self.items]}

    def _rows(self):
        return [(d.severity, d.code, "" if d.step is None else str(d.step), d.message) for d in self.items]

    def plot(self, ax=None):
        """The table as a figure (for reports); the HTML table reads better."""
        import textwrap

        rows = [(s, c, st, textwrap.fill(m, 105)) for s, c, st, m in self._rows()] or [("", "", "", "no problems found")]
        height = 0.25 + 0.22 * (1 + sum(r[3].count("\n") + 1 for r in rows))
        ax = ax or new_axes((11, height))
        ax.axis("off")
        table = ax.table(cellText=rows, colLabels=["severity", "diagnostic", "since step", "message"],
                         loc="upper left", cellLoc="left", colWidths=[0.08, 0.14, 0.08, 0.70])
        table.auto_set_font_size(False)
        table.set_fontsize(8)
        # every cell of a row as tall as its message (the longest cell), in axes fractions
        lines = [1] + [r[3].count("\n") + 1 for r in rows]
        unit = 1.0 / sum(lines)
        for (r, c), cell in table.get_celld().items():
            cell.set_height(unit * lines[r])
            cell.PAD = 0.012 if c == 3 else 0.08  # (a fraction of the column's width)
            cell.get_text().set_verticalalignment("center")
            if r > 0 and c == 0:
                cell.get_text().set_color({"error": "#b42318", "warning": "#b54708"}.get(rows[r - 1][0], "#1f2328"))
        return ax

    def html_table(self) -> str:
        if not self.items:
            return "<p>No problems found.</p>"
        color = {"error": "#b42318", "warning": "#b54708"}
        body = "".join(
            f'<tr><td style="color:{color.get(s, "#1f2328")}">{html.escape(s)}</td><td><code>{html.escape(c)}</code></td>'
            f"<td>{html.escape(st)}</td><td style='text-align:left'>{html.escape(m)}</td></tr>"
            for s, c, st, m in self._rows())
        return ("<table><tr><th>severity</th><th>diagnostic</th><th>since step</th>"
                "<th style='text-align:left'>message</th></tr>"
                f"{body}</table>")

    def to_html(self) -> str:
        return standalone_page(f"Diagnostics{': ' + self.run if self.run else ''}", self.html_table())

    def _repr_html_(self) -> str:
        return self.html_table()
