"""The base class of every result object.

Analyses return result objects holding numbers (numpy arrays and metadata), never pixels.
Every result can draw itself (:meth:`Result.plot`), save itself in a format chosen by the
file suffix (:meth:`Result.save`), describe itself as plain JSON-able data
(:meth:`Result.to_dict`, the one schema shared by the store, the server and the dashboard),
and show itself in a notebook (``_repr_html_``).

A subclass implements ``to_dict`` and ``plot``; it may override ``to_html`` for an
interactive page and ``_save_native`` for formats it renders itself (a graph's SVG). It
declares the shape of its ``to_dict()`` once, in its ``schema`` class attribute (checked by
:func:`check_schema`; the rules are described there), next to the class.
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

FIGURE_SUFFIXES = {".png", ".svg", ".pdf", ".jpg", ".jpeg"}


def jsonable(value: Any) -> Any:
    """Turn numpy arrays, tensors, tuples and non-finite floats into plain JSON data.

    NaN and Inf become ``None`` (JSON has no such numbers); arrays become nested lists.
    """
    try:
        import torch

        if torch.is_tensor(value):
            value = value.detach().cpu().numpy()
    except ImportError:  # pragma: no cover - torch is a core dependency
        pass
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f":
            arr = value.astype(float)
            if not np.isfinite(arr).all():
                return jsonable(arr.tolist())
            return arr.tolist()
        return value.tolist()
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


class SchemaError(ValueError):
    """A ``to_dict()`` document that does not follow its kind's declared schema."""


_SCALARS = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,), "number": (int, float)}


def check_schema(doc: Any, schema: dict, *, _dims: dict | None = None, _at: str = "") -> None:
    """Check ``doc`` (a ``to_dict()``, numpy arrays allowed, or its JSON form) against
    ``schema``, a dict of field -> rule; :class:`SchemaError` names the first field that does
    not follow it. Every field of the schema must be present (a field written ``"name?"`` may
    be left out) and no other field may be.

    Rules: a type name (``"str"``, ``"int"``, ``"float"`` (an int is a float too; ``None``
    stands for NaN/Inf as JSON writes it), ``"bool"``, ``"any"``, ``"dict"``), with a
    trailing ``"?"`` when ``None`` is allowed; an array ``"float[n]"``, ``"int[n, 4]"``
    (a numpy array or nested lists; letters name sizes that must agree across the whole
    document, numbers are exact sizes, ``*`` is any size, a last ``...`` any number of further
    dimensions: ``"float[b, ...]"``); a nested schema (a dict); a mapping ``{"*": rule}``, a
    dict with any keys whose values all follow ``rule``; or a list of one rule, ``[rule]``,
    for a list whose items all follow it.

    Example:
        >>> check_schema({"kind": "s", "steps": [0, 1], "values": [1.5, None]},
        ...              {"kind": "str", "steps": "int[n]", "values": "float[n]"})
        >>> check_schema({"kind": "s", "steps": [0, 1], "values": [1.5]},
        ...              {"kind": "str", "steps": "int[n]", "values": "float[n]"})
        Traceback (most recent call last):
        ...
        neuralscope.result.SchemaError: values: size 1 where n is 2.
        >>> check_schema({"maps": np.zeros((2, 3, 4)), "scores": {"a": [1.0, 2.0], "b": [0.5]}},
        ...              {"maps": "float[b, ...]", "scores": {"*": "float[b]"}})
        Traceback (most recent call last):
        ...
        neuralscope.result.SchemaError: scores.b: size 1 where b is 2.
    """
    dims = {} if _dims is None else _dims
    if not isinstance(doc, dict):
        raise SchemaError(f"{_at or 'document'}: a dict was expected, not {type(doc).__name__}.")
    if set(schema) == {"*"}:  # a mapping: any keys, every value follows one rule
        for key, value in doc.items():
            _check_rule(value, schema["*"], dims, f"{_at}.{key}" if _at else str(key))
        return
    fields = {k.rstrip("?"): rule for k, rule in schema.items()}
    required = {k for k in schema if not k.endswith("?")}
    missing, extra = required - set(doc), set(doc) - set(fields)
    if missing or extra:
        raise SchemaError(f"{_at or 'document'}: fields {sorted(missing)} missing, {sorted(extra)} not declared.")
    for key, value in doc.items():
        _check_rule(value, fields[key], dims, f"{_at}.{key}" if _at else key)


def _check_rule(value: Any, rule: Any, dims: dict, at: str) -> None:
    if isinstance(rule, dict):
        check_schema(value, rule, _dims=dims, _at=at)
    elif isinstance(rule, list):
        if not isinstance(value, (list, tuple)):
            raise SchemaError(f"{at}: a list was expected, not {type(value).__name__}.")
        for i, item in enumerate(value):
            _check_rule(item, rule[0], dims, f"{at}[{i}]")
    elif rule.endswith("?") and value is None:
        return
    elif "[" in rule:
        _check_array(value, rule, dims, at)
    else:
        _check_scalar(value, rule.rstrip("?"), at)


def _check_scalar(value: Any, kind: str, at: str) -> None:
    if kind == "any" or (kind == "float" and value is None):
        return
    if kind == "dict":
        ok = isinstance(value, dict)
    else:
        if isinstance(value, np.generic):
            value = value.item()
        ok = isinstance(value, _SCALARS[kind]) and (kind == "bool" or not isinstance(value, bool))
    if not ok:
        raise SchemaError(f"{at}: {kind} expected, not {type(value).__name__} ({value!r:.40}).")


def _check_array(value: Any, rule: str, dims: dict, at: str) -> None:
    kind, shape = rule.rstrip("?").rstrip("]").split("[")
    arr = value if isinstance(value, np.ndarray) else np.asarray(value, dtype=object)
    want = [d.strip() for d in shape.split(",")]
    open_ended = want[-1] == "..."
    if open_ended:
        want.pop()
    if arr.ndim < len(want) or (arr.ndim > len(want) and not open_ended):
        expected = f"{len(want)} or more" if open_ended else str(len(want))
        raise SchemaError(f"{at}: {expected} dimension(s) expected, not shape {arr.shape}.")
    for size, d in zip(arr.shape, want):
        if d == "*":
            continue
        expected = int(d) if d.isdigit() else dims.setdefault(d, size)
        if size != expected:
            raise SchemaError(f"{at}: size {size} where {d} is {expected}.")
    for v in arr.ravel()[:1000]:  # the first values tell the element type
        _check_scalar(v, kind, at)


class Result:
    """Base class of neuralscope's result objects.

    Example:
        >>> import numpy as np
        >>> class Numbers(Result):
        ...     kind = "numbers"
        ...     def __init__(self, values): self.values = np.asarray(values)
        ...     def to_dict(self): return {"kind": self.kind, "values": self.values}
        ...     def plot(self, ax=None):
        ...         ax = ax or new_axes()
        ...         ax.plot(self.values); return ax
        >>> Numbers([1, 2, 3]).to_json()
        '{"kind": "numbers", "values": [1, 2, 3]}'
    """

    #: short name of the result type, stored in ``to_dict()["kind"]``
    kind: ClassVar[str] = "result"
    #: the shape of ``to_dict()``: field -> rule (see :func:`check_schema`); ``None``: not declared
    schema: ClassVar[dict | None] = None

    # -- to be provided by subclasses -------------------------------------------------
    def to_dict(self) -> dict:
        """Plain data (JSON-able after :func:`jsonable`) describing the whole result."""
        raise NotImplementedError

    def plot(self, ax=None, **kwargs):
        """Draw the result with matplotlib and return what was drawn (axes or figure)."""
        raise NotImplementedError

    # -- shared behaviour -------------------------------------------------------------
    def to_json(self, **kwargs) -> str:
        """The result as a JSON string (``to_dict()`` with arrays turned into lists)."""
        return json.dumps(jsonable(self.to_dict()), **kwargs)

    def figure(self, **kwargs):
        """A matplotlib Figure holding :meth:`plot`'s drawing."""
        drawn = self.plot(**kwargs)
        return figure_of(drawn)

    def to_png(self, dpi: int = 110, **kwargs) -> bytes:
        """The figure as PNG bytes."""
        import matplotlib.pyplot as plt

        fig = self.figure(**kwargs)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        plt.close(fig)
        return buf.getvalue()

    def to_html(self) -> str:
        """A self-contained HTML page showing the result (a static figure by default)."""
        return standalone_page(self._title(), self._html_fragment())

    def _html_fragment(self) -> str:
        png = base64.b64encode(self.to_png()).decode()
        return f'<img alt="{html.escape(self._title())}" src="data:image/png;base64,{png}">'

    def _repr_html_(self) -> str:
        return self._html_fragment()

    def _title(self) -> str:
        return type(self).__name__

    def _save_native(self, path: Path) -> bool:
        """Save in a format the subclass renders itself; return False if not handled."""
        return False

    def save(self, path: str | Path, dpi: int = 130, **kwargs) -> Path:
        """Save to ``path``; the suffix picks the format.

        ``.png .svg .pdf .jpg`` save the matplotlib figure (``kwargs`` go to :meth:`plot`),
        ``.html`` a self-contained page, ``.json`` the ``to_dict()`` data. Subclasses add
        formats of their own through ``_save_native``.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        suffix = path.suffix.lower()
        if self._save_native(path):
            return path
        if suffix == ".json":
            path.write_text(self.to_json())
        elif suffix in (".html", ".htm"):
            path.write_text(self.to_html(), encoding="utf-8")
        elif suffix in FIGURE_SUFFIXES:
            import matplotlib.pyplot as plt

            fig = self.figure(**kwargs)
            fig.savefig(path, dpi=dpi, bbox_inches="tight")
            plt.close(fig)
        else:
            from .errors import FileFormatError

            raise FileFormatError(
                f"Cannot save {type(self).__name__} as {suffix or 'a file without suffix'!r}; "
                f"use one of {', '.join(sorted(self.save_formats()))}.")
        return path

    def save_formats(self) -> set[str]:
        """The file suffixes :meth:`save` accepts."""
        return FIGURE_SUFFIXES | {".html", ".json"}


def new_axes(figsize=(6, 4)):
    """A fresh figure with one axes (non-interactive backend safe)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize)
    return ax


def figure_of(drawn):
    """The matplotlib Figure that holds ``drawn`` (an Axes, array of Axes or Figure)."""
    from matplotlib.figure import Figure

    if isinstance(drawn, Figure):
        return drawn
    if isinstance(drawn, np.ndarray):
        drawn = drawn.flat[0]
    if isinstance(drawn, (list, tuple)):
        drawn = drawn[0]
    fig = getattr(drawn, "figure", None) or getattr(drawn, "get_figure", lambda: None)()
    if fig is None:
        raise TypeError(f"plot() returned {type(drawn).__name__}, not a matplotlib Axes or Figure")
    return fig


PAGE_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:20px;margin:0 0 12px} h2{font-size:16px;margin:20px 0 8px}
img{max-width:100%} table{border-collapse:collapse;font-size:13px}
td,th{border-bottom:1px solid #d0d7de;padding:3px 8px;text-align:right} th{background:#f6f8fa}
td:first-child,th:first-child{text-align:left} code{background:#f6f8fa;padding:1px 4px;border-radius:4px}
"""


def script_json(data: Any, **kwargs) -> str:
    """``data`` as JSON that can sit inside a ``<script>`` element of a page: ``<``, ``>``,
    ``&`` and the JavaScript line separators are written as ``\\uXXXX`` escapes, so no value
    (a label ``</script><script>...``, a ``<!--``) can end the element or change how the page
    is parsed. The text is still valid JSON and a valid JavaScript expression.

    Example:
        >>> print(script_json({"label": "</script><b>"}))
        {"label": "\\u003c/script\\u003e\\u003cb\\u003e"}
    """
    text = json.dumps(jsonable(data), **kwargs)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def standalone_page(title: str, body: str, head: str = "") -> str:
    """A complete HTML document with no external resources."""
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{html.escape(title)}</title><style>{PAGE_STYLE}</style>{head}</head>"
            f"<body><h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n")
