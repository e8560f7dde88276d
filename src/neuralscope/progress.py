"""Progress bars that show on a terminal and disappear when output is redirected."""
from __future__ import annotations

from typing import Iterable, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str = "",
             enabled: bool | None = None, unit: str = "it"):
    """Wrap ``iterable`` in a progress bar.

    ``enabled=None`` (the default) shows the bar only when stderr is a terminal; the bar is
    removed when the loop ends (``leave=False``) so logs stay clean.
    """
    return tqdm(iterable, total=total, desc=desc, disable=None if enabled is None else not enabled,
                leave=False, unit=unit, dynamic_ncols=True)
