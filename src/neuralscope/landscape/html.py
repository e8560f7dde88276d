"""The interactive page of a 2-D :class:`LossLandscape`: a contour map that reads out the
loss and accuracy under the pointer, and a 3-D surface turned by dragging (canvas, no
library, no network; the drawing is ``web/src/draw/landscape.js``, shared with the
dashboard, inlined from the built browser bundle). A 1-D landscape's page shows its static
figure."""
from __future__ import annotations

from ..result import standalone_page
from ..webbundle import mount


def landscape_fragment(ls) -> str:
    """The landscape's ``to_dict()`` (and the optimizer's path, when it has one) drawn by the
    bundle into a root element."""
    uid = f"nsls{id(ls) & 0xffffff:x}"
    data = {**ls.to_dict(), "path": getattr(ls, "_path", None)}
    return f'<div id="{uid}"></div>' + mount("landscape", uid, data)


def landscape_page(ls) -> str:
    if ls.dims == 1:
        return standalone_page(ls._title(), ls._html_fragment())
    return standalone_page(ls._title(), landscape_fragment(ls))
