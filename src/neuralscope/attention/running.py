"""One forward pass of a model with positional and/or keyword inputs, inside the guard's
context, with no per-module hooks."""
from __future__ import annotations


from torch import nn

from ..adapters.torch import forward_with_context


def run_model(model, args, kwargs):
    # no per-module hooks: on a 2-layer model they cost more than the capture itself
    if args and not kwargs:
        return forward_with_context(model, tuple(args))
    if not args:
        return forward_with_context(model, dict(kwargs))
    # both positional and keyword arguments: wrap so the guard sees one call
    return forward_with_context(_Bound(model, kwargs), tuple(args))


class _Bound(nn.Module):
    def __init__(self, model, kwargs):
        super().__init__()
        self.inner = model
        self.kw = kwargs

    def forward(self, *args):
        return self.inner(*args, **self.kw)

