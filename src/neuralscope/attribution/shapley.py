"""Shapley values of feature groups against a background data set: the value function,
exact values over all ``2^M`` coalitions, and the coalitions and fit of KernelSHAP.

The value of a coalition ``S`` of players (features, one-hot groups or time windows) for
an input ``x`` is the interventional expectation ``v(S) = mean_b f(x_S, b_~S)`` over the
rows ``b`` of a background set: the players in ``S`` keep ``x``'s values, the others take
the background row's (as shap's ``KernelExplainer(f, background)`` and its exact explainer
with an ``Independent`` masker define it). ``v(empty) = E[f(background)]``, ``v(all) = f(x)``,
so the values add up to ``f(x) - E[f(background)]`` (additivity, reported with every result).

Exact values evaluate every coalition once, all ``2^M x N`` rows stacked into a few large
forward passes, then apply the Shapley formula to the table of values as one product with
a weight matrix (``M`` up to :data:`MAX_EXACT_FEATURES`). For an MLP (a fused chain) the
first layer of every coalition is one entry of a half table plus one of another (per
background row, units first), the last layer is computed for the target's column only, a
chain that is one linear layer needs the tables' means alone, and the explained rows run
on one Python thread each (:func:`~neuralscope.attribution.threads.map_rows`). A ReLU after
the first layer takes the next layer's bias as a constant unit, and units that never change
sign over a block's coalitions leave the per-row product (:class:`_ReluLayer`): exact, and
worth it in saturated networks (on the benchmark's untrained 12-64-32-2 MLP with normal
inputs 95% of (row, background row, unit) triples change sign; on the demo's trained
breast-cancer MLP, 84% with 30 players and 67% with its 11-player check).

The coalitions go through the chain in cache-sized blocks (:func:`block_rows`: one
background row's 4,096 coalitions for that MLP), four operations a block into buffers every
block reuses: the first layer's addition and ReLU in one pass, the next layer's product,
its ReLU and the target's column written into the table. Everything stays in the model's
dtype until the table is averaged over background rows in float64. Where the time goes
(12-64-32-2 MLP, 20 background rows, one thread, a loaded 2-core Xeon, cProfile on a CPU
clock): the 64 -> 32 product 44% (at about 175 GFLOP/s, one core's peak: 2 ms of the 168 M
multiply-adds per explained row when quiet), the fused add-ReLU 19%, the last ReLU and
column 13%, building the tables 8%, the rest Python. On a 2-core AMD EPYC (family 23,
AVX2, 512 KB of L2 per core; load average 5.3, cProfile on a CPU clock, 20 explained rows
in 0.50 s, 0.42 s unprofiled): the product 54% (1,640 calls at about 26 GFLOP/s, 13.5 ms
per explained row; no layout, block size or oneDNN's fused linear-ReLU did better there in
one-thread micro-measurements, each at most 28 GFLOP/s), the fused add-ReLU 13%, the target's
column 6%, the ReLU 4%, the Python of the block loop 8%.

Where the chain ends in ReLU, a linear layer, ReLU and the target's column (the usual MLP)
and a row has at least 16 low coalitions, the compiled :mod:`neuralscope._coalitions` does
those four operations in one pass per row (:meth:`_ReluLayer.scores_into`): the first and
second layers' outputs stay in registers, and a unit at most 0 over a run of 16 coalitions
is skipped (exact). On a quiet 2-core AMD EPYC (Zen 4, AVX-512), one thread, 20 explained
rows: 133 ms with torch's four operations, 76 ms compiled (the pass itself at about 99
GFLOP/s); ``benchmarks/tabular.py --only exact``: 3.8x shap's exact explainer's CPU time
before, 5.5x after (5.9x on one thread). Elsewhere, or where the module was not built, the
torch path runs.
"""
from __future__ import annotations

import functools
import math
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ..errors import InputShapeError, check_finite
from ..adapters.torch import first_tensor
from .base import Method, Target, chunks, internal_batch_size, output_scores
from .chain import Chain, l2_cache_floats, many_rows_forward, run_steps
from .threads import map_rows, on_pass_threads

#: the most players the exact path enumerates (2^15 = 32,768 coalitions per row)
MAX_EXACT_FEATURES = 15
#: most rows one forward pass of the value function holds: an MLP's activations for 16k rows
#: stay in the caches (65k-row passes cost 1.4x the CPU time per row on this project's machine)
MAX_ROWS_PER_PASS = 16384
#: first-layer floats of one block of coalitions in the exact path at most (a core's L2 cache,
#: :func:`~neuralscope.attribution.chain.l2_cache_floats`): the block's first layer, its ReLU and
#: the next layer's product then read data the previous step left in the cache; blocks hold a
#: power of two of rows (4,096 for 64 units and a 2 MB L2), so they tile the coalition tables
#: exactly (see :func:`block_rows`). Measured, 12-64-32-2 MLP, 20 rows, one AMD EPYC core with
#: 512 KB of L2 (loaded): 0.73 s CPU with 512 KB blocks against 0.86 s with 2 MB ones; later, in
#: one process, interleaved, best of 4 (load average 5.3): blocks of 512, 1,024, 2,048 and 4,096
#: rows 0.47, 0.42, 0.42 and 0.43 s CPU
BLOCK_FLOATS = l2_cache_floats()
#: a block of coalitions takes the sign-stable split of a ReLU layer (:meth:`_ReluLayer.split`)
#: when at most this share of its units change sign (measured, 12-64-32-2 MLP: 5.9 ms against
#: 8.3 ms per row with 11 of 64 changing, 7.2 against 8.5 with 21, slower from 30 on), except
#: where the compiled pass runs: it was faster than the split at every share measured (one
#: thread, quiet Zen 4, 20 background rows: 2.6 against 5.3 ms per row with 3/4 of the units
#: fixed in sign, 2.5 against 5.0 with 9/10)
SPLIT_BELOW = 0.3


def prepare_background(x: torch.Tensor, background: Any) -> torch.Tensor:
    """The background rows ``(N, *x.shape[1:])`` on ``x``'s device and dtype from a tensor,
    an array, a number (one constant row) or ``None`` (zeros)."""
    if background is None or isinstance(background, (int, float)) and not isinstance(background, bool):
        return torch.full((1, *x.shape[1:]), float(background or 0.0), dtype=x.dtype, device=x.device)
    if isinstance(background, np.ndarray):
        background = torch.from_numpy(background)
    if not torch.is_tensor(background):
        raise InputShapeError(f"The background must be a tensor or array of rows shaped like the inputs, "
                              f"not {type(background).__name__}.")
    b = background.detach().to(device=x.device, dtype=x.dtype)
    if tuple(b.shape) == tuple(x.shape[1:]):
        b = b[None]
    if tuple(b.shape[1:]) != tuple(x.shape[1:]) or b.shape[0] < 1:
        raise InputShapeError(
            f"The background has shape {tuple(b.shape)} but each input row has shape {tuple(x.shape[1:])}; "
            f"give background rows of shape (N, {', '.join(map(str, x.shape[1:]))}).")
    check_finite(b, "The background data")
    return b


def coalition_values(run: Callable, x_i: torch.Tensor, background: torch.Tensor, labels: torch.Tensor,
                     z: torch.Tensor, target: Target, example: int, rows_per_pass: int) -> torch.Tensor:
    """``v(S)`` for every coalition row of ``z`` ``(K, M)`` (1 = the player keeps ``x_i``'s
    value; ``labels`` maps each input element to its player), averaged over the background.

    The bookkeeping is kept to one gather of the keep-masks and one ``where`` per pass: on a
    busy machine every extra parallel tensor operation costs a thread rendezvous, and the
    model's own forward should be all that remains."""
    n = background.shape[0]
    first = _FirstLayer(run, x_i, background, labels) if _first_layer_applies(run, x_i) else None
    per = max(1, (run.block if first is not None else rows_per_pass) // n)  # a chain: cache-sized passes
    keep = (z if z.dtype == torch.bool else z.bool())
    keep_elements = keep[:, labels].unsqueeze(1) if first is None else None  # (K, 1, *shape)
    out = []
    for sl in chunks(z.shape[0], per):
        with torch.no_grad():
            if first is not None:
                o = run.rest(first(keep[sl]))
            else:
                o = run(torch.where(keep_elements[sl], x_i, background).reshape(-1, *x_i.shape))  # (k * N, *shape)
        out.append(_row_scores(o, target, example).reshape(-1, n).mean(1))
    return torch.cat(out).double()


def all_coalition_values(run: Callable, x_i: torch.Tensor, background: torch.Tensor, labels: torch.Tensor,
                         m: int, target: Target, example: int, rows_per_pass: int,
                         split_below: float | None = None) -> torch.Tensor:
    """``v(S)`` for all ``2^m`` coalitions (indexed by bit mask, as :func:`all_coalitions`).
    A chain's coalitions go through :func:`chain_coalition_values` (``split_below`` as
    there); anything else through :func:`coalition_values`."""
    if not _first_layer_applies(run, x_i):
        return coalition_values(run, x_i, background, labels, all_coalitions(m, x_i.device), target, example,
                                rows_per_pass)
    column = _target_column(target, example)
    steps = run.column_steps(column)
    scores = None if column is not None else (lambda o: _row_scores(o, target, example))
    with torch.no_grad():
        tables = _HalfTables(run, x_i, background, labels, m, constant_unit=_ReluLayer.of(steps) is not None)
        return chain_coalition_values(run, tables, steps, scores, split_below)


def chain_coalition_values(run: Chain, tables: "_HalfTables", steps: list, scores: Callable | None,
                           split_below: float | None = None, rows: int | None = None) -> torch.Tensor:
    """``v(S)`` ``(2^m,)`` (float64) of every coalition through the chain ``steps`` after a
    first layer whose outputs are ``tables``, in blocks of ``rows`` coalition rows (default
    :func:`block_rows`: cache-sized; a block holds whole background rows or part of one
    row's coalitions); ``scores`` turns a block's outputs into the target's scores
    (``None``: the steps end in the target's column). A ReLU followed by a linear layer
    goes through :class:`_ReluLayer` (built with ``constant_unit`` tables), split by sign in
    blocks where at most ``split_below`` of the units change sign (0: never; 1: always, for
    tests; ``None``: never where the compiled pass of :meth:`_ReluLayer.scores_into` runs,
    whose skipping of inactive units is cheaper than the split, else :data:`SPLIT_BELOW`).
    Every block reuses the same two buffers (first layer, next layer): no block allocates its
    large outputs. Blocks without a split go through :meth:`_ReluLayer.scores_into`."""
    if len(steps) == 1 and steps[0][0] == "pick":  # the target's column of one linear layer
        return tables.linear_values(steps[0][1])
    relu = _ReluLayer.of(steps)
    if split_below is None:
        split_below = 0.0 if relu is not None and scores is None and relu.fused_applies(tables) else SPLIT_BELOW
    rows = rows or block_rows(tables.width)
    step = tables.rows_per_block(rows)
    plan = _split_plan(tables.signs(), step, split_below) if relu is not None and split_below > 0 else None
    out = torch.empty(tables.rows, 2 ** tables.players, dtype=tables.low.dtype)
    if relu is not None and scores is None and plan is None:
        relu.scores_into(out, tables, rows)
        return out.mean(0, dtype=torch.float64)
    largest = max(rows, tables.low_rows)
    first = torch.empty(largest * tables.width, dtype=tables.low.dtype)
    second = None if relu is None else torch.empty(largest * relu.outputs, dtype=tables.low.dtype)
    flat = out.view(-1)
    for background, high in tables.blocks(step, rows):
        start = background.start * out.shape[1] + high.start * tables.low_rows  # (a block's rows are contiguous in out)
        block = flat[start:start + tables.block_size(background, high)]
        units = None if plan is None else plan[background.start // step]
        if units is None and relu is not None and scores is None:
            relu.full(tables.first_layer(background, high, first, relu=True), second, out=block)
            continue
        if units is not None:
            t = relu.split(tables, background, high, *units)
        elif relu is not None:
            t = relu.full(tables.first_layer(background, high, first, relu=True), second)
        else:
            t = run_steps(tables.first_layer(background, high, first).t(), steps)
        block.copy_((t if scores is None else scores(t)).reshape(-1))
    return out.mean(0, dtype=torch.float64)


def block_rows(width: int) -> int:
    """Coalition rows per block for a first layer ``width`` units wide: the largest power of
    two (at least 64) whose block holds at most :data:`BLOCK_FLOATS` floats. The coalition
    tables have a power of two of rows per background row, so blocks tile them exactly.

    Example (:data:`BLOCK_FLOATS` follows this machine's L2 cache):
        >>> block_rows(65) * 65 <= BLOCK_FLOATS < block_rows(65) * 2 * 65, block_rows(100_000)
        (True, 64)
    """
    return 1 << max(6, (BLOCK_FLOATS // max(1, width)).bit_length() - 1)


def _split_plan(signs: torch.Tensor, step: int, split_below: float) -> list | None:
    """Per group of ``step`` background rows, the ``(changing, active)`` first-layer unit
    indices for :meth:`_ReluLayer.split`, from the rows' signs ``(N, H)`` (:meth:`_HalfTables.signs`),
    or ``None`` where more than ``split_below`` of the units change (the plain path is then
    cheaper); ``None`` for all groups at once when even the background row with the fewest
    mixed units has too many (a group changes in every unit any of its rows is mixed in).
    A unit is active when it is at least 0 for every coalition of every row of the group,
    inactive when at most 0; otherwise it changes (it is mixed in some row, or active in one
    and inactive in another)."""
    n, width = signs.shape
    if int((signs == 0).sum(1).min()) > split_below * width:
        return None
    if n % step:
        signs = torch.cat([signs, signs[-1:].expand(step - n % step, width)])  # (a repeated row changes nothing)
    groups = signs.view(-1, step, width)
    largest, smallest = groups.amax(1), groups.amin(1)
    changing, active = (largest != smallest) | (largest == 0), smallest == 1
    return [None if count > split_below * width else (changing[g].nonzero().flatten(), active[g].nonzero().flatten())
            for g, count in enumerate(changing.sum(1).tolist())]


def _first_layer_applies(run: Callable, x_i: torch.Tensor) -> bool:
    """Whether coalitions' first-layer outputs can be formed from per-player terms: a
    fused chain (:class:`~neuralscope.attribution.chain.Chain`) over a row of features."""
    return isinstance(run, Chain) and x_i.dim() == 1


def _row_scores(output: Any, target: Target, example: int) -> torch.Tensor:
    """The target's score of each output row (all rows belong to example ``example``)."""
    column = _target_column(target, example)
    if column is not None:
        return first_tensor(output)[:, column]
    rows = first_tensor(output).shape[0]
    return target.scores(output, torch.tensor([example], device=first_tensor(output).device).expand(rows))


def _player_terms(run: Chain, x: torch.Tensor, background: torch.Tensor, labels: torch.Tensor,
                  m: int, units_first: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """A chain's first layer at ``(x_S, b_~S)`` is ``(W b + c) + sum_{p in S} T_p``: returns
    ``W b + c`` ``(N, H)`` and the players' terms ``T_p = sum_{f of p} W_f (x_f - b_f)``
    ``(m, N * H)``; ``units_first``: ``(H, N)`` and ``(m, H * N)``."""
    w, bias = run.first
    if units_first:
        base = torch.addmm(bias, background, w).t()  # (H, N)
        per_feature = w[:, :, None] * (x - background).t()[:, None, :]  # (F, H, N)
    else:
        base = torch.addmm(bias, background, w)  # (N, H)
        per_feature = ((x - background)[:, :, None] * w[None]).transpose(0, 1)  # (F, N, H)
    if labels.numel() == m and bool((labels == torch.arange(m, device=labels.device)).all()):
        return base, per_feature.reshape(m, -1)
    terms = torch.zeros((m, *per_feature.shape[1:]), dtype=per_feature.dtype, device=per_feature.device)
    return base, terms.index_add_(0, labels.flatten(), per_feature).reshape(m, -1)


def _add_relu(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor | None) -> torch.Tensor:
    """``relu(a + b)`` (broadcast) in one pass over the output: aten's fused add-ReLU kernel
    (the one PyTorch's mobile optimizer fuses into), where this build has it."""
    if _FUSED_ADD_RELU is not None:
        return _FUSED_ADD_RELU(a, b, out=out) if out is not None else _FUSED_ADD_RELU(a, b)
    return torch.add(a, b, out=out).relu_()


_FUSED_ADD_RELU = getattr(torch._VF, "_add_relu", None)

try:  # the usual MLP end (ReLU, linear, ReLU, the target's column) in one pass (built by pip install)
    from .._coalitions import relu_linear_relu_column as _FUSED_COALITIONS
except ImportError:  # pragma: no cover - a machine without a C compiler: torch's four operations
    _FUSED_COALITIONS = None


class _FirstLayer:
    """A chain's first-layer outputs for given coalitions ``keep`` ``(k, m)`` of one row
    against the background: one matrix product of the keep-masks with the players' terms
    (the same multiply-adds as the layer itself; float32 rounding differs at 1e-7)."""

    def __init__(self, run: Chain, x: torch.Tensor, background: torch.Tensor, labels: torch.Tensor):
        self.base, self.terms = _player_terms(run, x, background, labels, int(labels.max()) + 1)

    def __call__(self, keep: torch.Tensor) -> torch.Tensor:
        n, h = self.base.shape
        out = (keep.to(self.terms.dtype) @ self.terms).view(-1, n, h)
        return out.add_(self.base).view(-1, h)


class _HalfTables:
    """A chain's first-layer outputs for every coalition of ``m`` players against each
    background row, without a matrix product per coalition: per background row, the low
    players' ``2^lo`` partial sums (with ``W b + c``) and the high players' ``2^(m - lo)``
    partial sums are tabled once, units first (``low`` ``(H, N, 2^lo)``, ``high``
    ``(H, N, 2^(m-lo))``); coalition ``k = low + high * 2^lo`` is one table entry plus the
    other. Blocks are formed units first too, ``(H, rows)``: the broadcast addition then
    runs along the low coalitions, and the next layer's product and the target's dot
    product read the rows contiguously. With ``constant_unit``, a last unit is 1 for every
    coalition (the next layer's bias, folded into its weights by :class:`_ReluLayer`)."""

    def __init__(self, run: Chain, x: torch.Tensor, background: torch.Tensor, labels: torch.Tensor, m: int,
                 constant_unit: bool = False):
        base, terms = _player_terms(run, x, background, labels, m, units_first=True)  # (H, N), (m, H * N)
        lo = m // 2
        units, n = base.shape
        self.low, self.high = (torch.empty(units + constant_unit, n, 2 ** k, dtype=base.dtype, device=base.device)
                               for k in (lo, m - lo))
        for table, players in ((self.low, terms[:lo]), (self.high, terms[lo:])):  # (H * N, k) @ (k, 2^k)
            coalitions = _coalition_matrix(players.shape[0], base.dtype, base.device)
            torch.mm(players.t(), coalitions.t(), out=table[:units].view(units * n, -1))
        self.low[:units].add_(base[..., None])
        if constant_unit:
            self.low[units], self.high[units] = 1.0, 0.0
        self.width, self.rows, self.players = self.low.shape[0], n, m
        self.low_rows, self.high_rows = self.low.shape[2], self.high.shape[2]
        self._low_grid, self._high_grid = self.low[:, :, None], self.high[..., None]  # (H, N, 1, 2^lo), (..., 1)

    def block_views(self, rows: int, out: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """The blocks of :meth:`blocks` as views, made by a few splits for all blocks at once
        (each view made one at a time costs about as much Python as a block's arithmetic):
        per block, the high table's grid ``(H, b, h, 1)``, the low table's ``(H, b, 1, 2^lo)``
        and the block's part of ``out`` ``(N, 2^m)``, flat ``(b x h x 2^lo,)``."""
        per_row, flat = self.low_rows * self.high_rows, out.view(-1)
        if per_row <= rows:  # whole background rows
            step = self.rows_per_block(rows)
            return list(zip(self._high_grid.split(step, 1), self._low_grid.split(step, 1), flat.split(step * per_row)))
        chunks = self._high_grid.split(max(1, rows // self.low_rows), 2)  # (H, N, h, 1) each: part of every row
        highs = [chunk[:, b:b + 1] for b in range(self.rows) for chunk in chunks]
        lows = [low for low in self._low_grid.split(1, 1) for _ in chunks]
        return list(zip(highs, lows, flat.split([c.shape[2] * self.low_rows for c in chunks] * self.rows)))

    def block_size(self, background: slice, high: slice) -> int:
        """Coalition rows of the block ``(background rows, high rows)`` (:meth:`blocks`)."""
        return (background.stop - background.start) * (high.stop - high.start) * self.low_rows

    def rows_per_block(self, rows: int) -> int:
        """How many background rows, with all their coalitions, fit in ``rows`` first-layer
        rows (at least one)."""
        return max(1, rows // (self.low_rows * self.high_rows))

    def blocks(self, step: int, rows: int):
        """``(background rows, high rows)`` slices: ``step`` background rows with all their
        coalitions at a time, or (one row's coalitions above ``rows``) one background row with
        as many high rows as fit in ``rows``."""
        per_row = self.low_rows * self.high_rows
        high = max(1, rows // self.low_rows) if per_row > rows else self.high_rows
        for start in range(0, self.rows, step):
            for h in range(0, self.high_rows, high):
                yield slice(start, min(start + step, self.rows)), slice(h, min(h + high, self.high_rows))

    def first_layer(self, background: slice, high: slice, buffer: torch.Tensor | None = None,
                    units: torch.Tensor | None = None, relu: bool = False) -> torch.Tensor:
        """First-layer outputs ``(H, background rows x high rows x low rows)`` of a block,
        units first, in coalition order within each background row (into ``buffer`` when
        given; only the ``units`` when given; with ``relu``, after a ReLU, in the same pass)."""
        hi, lo = self._high_grid[:, background, high], self._low_grid[:, background]
        if units is not None:
            hi, lo = hi.index_select(0, units), lo.index_select(0, units)
        shape = (*hi.shape[:3], lo.shape[3])
        out = None if buffer is None else buffer[:math.prod(shape)].view(shape)
        return (_add_relu(hi, lo, out) if relu else torch.add(hi, lo, out=out)).view(shape[0], -1)

    def partial_sums(self, weight: torch.Tensor, units: torch.Tensor, background: slice,
                     high: slice) -> torch.Tensor:
        """``weight @ first-layer outputs`` of a block's ``units`` (``weight`` ``(K, len(units))``
        or ``(len(units),)``) as two small tables added: ``(K, block rows)`` or ``(block rows,)``."""
        lo = self.low[:, background].index_select(0, units)
        hi = self.high[:, background, high].index_select(0, units)
        low = torch.matmul(weight, lo.view(lo.shape[0], -1)).view(*weight.shape[:-1], lo.shape[1], 1, lo.shape[2])
        top = torch.matmul(weight, hi.view(hi.shape[0], -1)).view(*weight.shape[:-1], hi.shape[1], hi.shape[2], 1)
        return torch.add(top, low).view(*weight.shape[:-1], -1)

    def linear_values(self, column: int) -> torch.Tensor:
        """``v(S)`` ``(2^m,)`` (float64) of a chain that is one linear layer, for an output
        column: the mean over background rows of a sum of two table entries is the sum of
        the two tables' means."""
        low = self.low[column].double().mean(0)
        high = self.high[column].double().mean(0)
        return (high[:, None] + low[None]).flatten()

    def signs(self) -> torch.Tensor:
        """Per background row and first-layer unit ``(N, H)`` (int8): 1 where the unit's
        output is at least 0 for every coalition, -1 where it is at most 0 (and below 0 for
        some), 0 where it changes sign. The bounds add the tables' smallest (largest) entries;
        float addition is monotone, so every rounded sum of a pair lies within the rounded
        bounds."""
        lower = (self.low.amin(2) + self.high.amin(2)).t()
        upper = (self.low.amax(2) + self.high.amax(2)).t()
        return (lower >= 0).to(torch.int8) - ((upper <= 0) & (lower < 0)).to(torch.int8)


class _ReluLayer:
    """ReLU on the first layer, then a linear layer (or the target's column of the last one),
    then the chain's ``tail``, on tables with a constant unit: the linear layer's bias is one
    more column of its weights ``(H2, H + 1)`` (a vector ``(H + 1,)`` for a column), so its
    product needs no bias added.

    :meth:`split` takes units whose sign never changes in a block out of the per-row
    product (exact: an always-inactive unit adds nothing; an always-active one is linear in
    the coalition, so its share of the next layer is a partial sum over the low players plus
    one over the high players, two small tables); only the other units go through the ReLU
    and the product row by row."""

    def __init__(self, weight: torch.Tensor, tail: list):
        self.weight, self.tail, self._fused = weight, tail, None
        ends_in_column = len(tail) == 2 and tail[0] == ("inplace", torch.relu_) and tail[1][0] == "dot"
        self.relu_dot = tuple(tail[1][1:]) if ends_in_column else None  # (weight (H2,), bias)

    @classmethod
    def of(cls, steps: list) -> "_ReluLayer | None":
        """The layer for chain steps that start with ReLU then a linear layer, else ``None``."""
        if len(steps) < 2 or steps[0] != ("inplace", torch.relu_) or steps[1][0] not in ("linear", "dot"):
            return None
        _, weight, bias = steps[1]  # (H, H2) and (H2,), or (H,) and a scalar
        return cls(torch.cat([weight, bias.reshape(1, *weight.shape[1:])]).t().contiguous(), steps[2:])

    @property
    def outputs(self) -> int:
        """Rows of the next layer's outputs (1 for the target's column)."""
        return self.weight.shape[0] if self.weight.dim() == 2 else 1

    def full(self, hidden: torch.Tensor, buffer: torch.Tensor | None = None,
             out: torch.Tensor | None = None) -> torch.Tensor:
        """The chain's outputs for a block's first-layer outputs after the ReLU ``(H + 1, rows)``
        (the next layer's outputs into ``buffer`` when given, at least ``outputs x rows``
        floats); with ``out`` ``(rows,)``, the target's scores written there (the steps must
        end in the target's column)."""
        if self.weight.dim() == 1:
            z = torch.mv(hidden.t(), self.weight, out=out if not self.tail else None)
        else:
            view = None if buffer is None else buffer[:self.outputs * hidden.shape[1]].view(self.outputs, -1)
            z = torch.mm(self.weight, hidden, out=view)
            if self.relu_dot is not None:  # (the usual end: a ReLU, then the target's column)
                return torch.addmv(self.relu_dot[1], z.relu_().t(), self.relu_dot[0], out=out)
        if out is None:
            return self._tail(z)
        return out if z is out else out.copy_(self._tail(z))

    def scores_into(self, out: torch.Tensor, tables: _HalfTables, rows: int) -> None:
        """Every coalition's score into ``out`` ``(N, 2^m)``, in blocks of ``rows`` rows
        (:meth:`_HalfTables.block_views`), without the split: per block the first layer and
        its ReLU in one pass, the next layer's product, then (the usual end) its ReLU and the
        target's column, each into a buffer every block reuses (:class:`_Workspace`)."""
        if self._fused_scores_into(out, tables):
            return
        work = _Workspace(tables.width, self.outputs, max(rows, tables.low_rows), out)
        for high, low, block in tables.block_views(rows, out):
            grid, hidden, z, z_rows = work.views(high.shape[1], high.shape[2], low.shape[3])
            _add_relu(high, low, grid)
            if self.relu_dot is None:
                self.full(hidden, work.second, out=block)
                continue
            torch.mm(self.weight, hidden, out=z).relu_()
            torch.addmv(self.relu_dot[1], z_rows, self.relu_dot[0], out=block)

    def fused_applies(self, tables: _HalfTables) -> bool:
        """Whether :meth:`scores_into` takes the compiled pass for these tables: the chain ends
        in a ReLU and the target's column, float32 on the CPU, at least 16 low coalitions
        (a multiple of 16), and :mod:`neuralscope._coalitions` was built."""
        return (_FUSED_COALITIONS is not None and self.relu_dot is not None and self.weight.dtype == torch.float32
                and tables.low.device.type == "cpu" and tables.low_rows % 16 == 0)

    def _fused_scores_into(self, out: torch.Tensor, tables: _HalfTables) -> bool:
        """:meth:`scores_into` in one compiled pass (:mod:`neuralscope._coalitions`) where the
        chain ends in a ReLU and the target's column, on float32 CPU tables of at least 16 low
        coalitions; False (nothing written) otherwise, or where that module was not built."""
        if not self.fused_applies(tables) or not out.is_contiguous():
            return False
        if self._fused is None:  # the second layer units first, outputs padded to 16 with zero weights
            pad = -self.outputs % 16
            w2t = torch.cat([self.weight, self.weight.new_zeros(pad, self.weight.shape[1])]).t().contiguous()
            w3 = torch.cat([self.relu_dot[0], self.relu_dot[0].new_zeros(pad)]).contiguous()
            self._fused = (w2t, w3, float(self.relu_dot[1]))
        w2t, w3, bias3 = self._fused
        low, high = tables.low.contiguous(), tables.high.contiguous()
        _FUSED_COALITIONS(low.data_ptr(), high.data_ptr(), low.shape[0], tables.rows, tables.low_rows,
                          tables.high_rows, w2t.data_ptr(), w2t.shape[1], w3.data_ptr(), bias3, out.data_ptr())
        return True

    def split(self, tables: _HalfTables, background: slice, high: slice, changing: torch.Tensor,
              active: torch.Tensor) -> torch.Tensor:
        """The chain's outputs for a block (as :meth:`full` on :meth:`_HalfTables.first_layer`)
        from the ``active`` units' partial sums and the ``changing`` units row by row (the
        constant unit is always active)."""
        z = tables.partial_sums(self.weight.index_select(-1, active), active, background, high)
        if changing.numel():
            h = tables.first_layer(background, high, units=changing, relu=True)
            weight = self.weight.index_select(-1, changing)
            z = z.addmm_(weight, h) if z.dim() == 2 else z.addmv_(h.t(), weight)
        return self._tail(z)

    def _tail(self, z: torch.Tensor) -> torch.Tensor:
        """The rest of the chain on the next layer's outputs ``(H2, rows)`` or ``(rows,)``."""
        return run_steps(z.t() if z.dim() == 2 else z, self.tail)


class _Workspace:
    """The buffers every block of one row's coalitions reuses, with their views made once per
    block shape: the first layer's grid ``(H, b, h, 2^lo)`` and the same floats as ``(H,
    rows)``, and the next layer's outputs ``(H2, rows)`` with their transpose."""

    def __init__(self, width: int, outputs: int, rows: int, like: torch.Tensor):
        self.width, self.outputs, self._views = width, outputs, {}
        self.first = like.new_empty(width * rows)  # (the dtype and device of ``like``)
        self.second = like.new_empty(outputs * rows)

    def views(self, background_rows: int, high_rows: int, low_rows: int) -> tuple:
        """``(grid, first layer (H, rows), next layer (H2, rows), its transpose)`` of a block."""
        key = (background_rows, high_rows, low_rows)
        if key not in self._views:
            rows = background_rows * high_rows * low_rows
            grid = self.first[:self.width * rows].view(self.width, *key)
            z = self.second[:self.outputs * rows].view(self.outputs, rows)
            self._views[key] = (grid, grid.view(self.width, rows), z, z.t())
        return self._views[key]


def _target_column(target: Target, example: int) -> int | None:
    """The output column of a class-index target for one example (``None`` for callables)."""
    if target.fn is not None or target.indices is None:
        return None
    return int(target.indices[example])


def all_coalitions(m: int, device=None) -> torch.Tensor:
    """Every coalition of ``m`` players ``(2^m, m)`` (bool); row ``k`` holds the bits of ``k``."""
    k = torch.arange(2 ** m, device=device)
    return ((k[:, None] >> torch.arange(m, device=device)) & 1).bool()


@functools.lru_cache(maxsize=32)
def _coalition_matrix(m: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """:func:`all_coalitions` as 0/1 numbers, made once per size (read, never written)."""
    return all_coalitions(m, device).to(dtype)


def shapley_from_table(v: torch.Tensor, m: int) -> torch.Tensor:
    """Exact Shapley values ``(m,)`` from the values ``v`` ``(2^m,)`` of all coalitions
    (indexed by bit mask), or ``(R, m)`` from ``(R, 2^m)``: ``phi_j = sum_S |S|!(m-|S|-1)!/m!
    (v(S+j) - v(S))``, one product with :func:`shapley_weights`."""
    return v.detach().double().cpu() @ _weights(m)


def shapley_weights(m: int) -> torch.Tensor:
    """The ``(2^m, m)`` matrix ``A`` with ``phi = v @ A``: coalition ``k`` enters player
    ``j``'s value with ``+(|k|-1)!(m-|k|)!/m!`` if it holds ``j`` (as ``S + j``) and with
    ``-|k|!(m-|k|-1)!/m!`` if not (as ``S``)."""
    return _weights(m).clone()


@functools.lru_cache(maxsize=16)
def _weights(m: int) -> torch.Tensor:
    """:func:`shapley_weights`, made once per size (read, never written)."""
    holds = (np.arange(2 ** m)[:, None] >> np.arange(m)) & 1  # (2^m, m)
    size = holds.sum(1, keepdims=True)
    w = np.array([math.factorial(s) * math.factorial(m - s - 1) / math.factorial(m) for s in range(m)] + [0.0])
    return torch.from_numpy(np.where(holds == 1, w[np.maximum(size - 1, 0)], -w[size]))


def player_labels(x: torch.Tensor, mask: Any) -> list[torch.Tensor]:
    """Per example, each input element's player ``0..M-1`` (``mask`` as for the perturbation
    methods: ``None`` = every element is a player)."""
    from .perturbation import feature_mask_for

    masks = feature_mask_for(x, mask)
    if bool((masks == masks[:1]).all()):  # one mask for every example (tables, grids, windows)
        return [torch.unique(masks[0], return_inverse=True)[1]] * x.shape[0]
    return [torch.unique(masks[i], return_inverse=True)[1] for i in range(x.shape[0])]


def default_players(x: torch.Tensor) -> Any:
    """The exact method's players when no mask is given: every column of a table; a 3x3
    grid of an image; 12 windows of a signal ``(C, L)``."""
    shape = tuple(x.shape[1:])
    if len(shape) == 3:
        return ("grid", (-(-shape[1] // 3), -(-shape[2] // 3)))
    if len(shape) == 2:
        return ("windows", -(-shape[-1] // 12))
    return None


def rows_per_pass(model: nn.Module, x: torch.Tensor, memory_budget: int | None) -> int:
    return internal_batch_size(model, x, backward=False, budget=memory_budget, cap=MAX_ROWS_PER_PASS)


def kernel_coalitions(m: int, n: int, gen: torch.Generator):
    """KernelSHAP's coalitions of ``m`` players within a budget of ``n``: returns ``(z, w,
    half, exact)`` -- the coalitions ``(K, m)``, their Shapley-kernel weights, ``(rows,
    weights)`` of a fit on half of the sampled ones (``None`` if nothing was sampled), and
    whether every coalition was enumerated.

    Sizes ``s`` and ``m - s`` are enumerated together, from the outside in, while the budget
    left covers all their coalitions at the size's share of the kernel's mass; the remaining
    mass is sampled as complementary pairs ``(z, 1 - z)`` of equal weight (the strategy of
    shap's KernelExplainer, Lundberg and Lee 2017)."""
    if m == 1:
        return torch.ones(1, 1), torch.ones(1), None, True
    pairs = [(s, m - s) for s in range(1, m // 2 + 1)]
    mass = torch.tensor([(m - 1) / (s * (m - s)) * (1 if s == t else 2) for s, t in pairs], dtype=torch.float64)
    mass /= mass.sum()
    rows, weights, left, free, k = [], [], n, 1.0, 0
    while k < len(pairs):
        count = _size_count(m, *pairs[k])
        if count > left or float(mass[k]) / free * left < count - 1e-9:
            break
        z = _subsets_of_sizes(m, *pairs[k])
        rows.append(z)
        weights.append(torch.full((z.shape[0],), float(mass[k]) / z.shape[0], dtype=torch.float64))
        left, free, k = left - count, free - float(mass[k]), k + 1
    exact = k == len(pairs)
    fixed = sum(r.shape[0] for r in rows)
    half = None
    if not exact and left >= 2:
        z = _sampled_pairs(m, pairs[k:], mass[k:], left // 2, gen)
        rows.append(z)
        weights.append(torch.full((z.shape[0],), free / z.shape[0], dtype=torch.float64))
        first = torch.arange(fixed + (z.shape[0] // 2 // 2) * 2)
        w_half = torch.cat(weights)[first].clone()
        w_half[fixed:] *= z.shape[0] / max(1, first.shape[0] - fixed)
        half = (first, w_half)
    return torch.cat(rows).float(), torch.cat(weights), half, exact


def _size_count(m: int, s: int, t: int) -> int:
    return math.comb(m, s) * (1 if s == t else 2)


def _subsets_of_sizes(m: int, s: int, t: int) -> torch.Tensor:
    """Every coalition of size ``s`` and (if different) of size ``t = m - s``."""
    from itertools import combinations

    idx = torch.tensor(list(combinations(range(m), s)), dtype=torch.long).view(-1, s)
    z = torch.zeros(idx.shape[0], m)
    z.scatter_(1, idx, 1.0)
    return z if s == t else torch.cat([z, 1 - z])


def _sampled_pairs(m: int, pairs, mass: torch.Tensor, count: int, gen) -> torch.Tensor:
    """``count`` random coalitions with sizes drawn by ``mass`` over ``pairs``, each followed
    by its complement."""
    sizes = torch.tensor([s for s, _ in pairs])[torch.multinomial(mass.float(), count, replacement=True, generator=gen)]
    flip = torch.rand(count, generator=gen) < 0.5  # the smaller or the larger size of the pair
    sizes = torch.where(flip, m - sizes, sizes)
    ranks = torch.rand(count, m, generator=gen).argsort(1).argsort(1)
    z = (ranks < sizes[:, None]).float()
    return torch.stack([z, 1 - z], 1).reshape(-1, m)


class ExactShapley(Method):
    """Exact Shapley values (Shapley 1953) of the features, one-hot groups or windows of an
    input against a background data set, by evaluating every coalition: model-agnostic,
    for up to :data:`MAX_EXACT_FEATURES` players (``mask``: by default every column of a
    table, a 3x3 grid of an image, 12 time windows of a signal; a group's value is spread
    evenly over its elements, so every map sums to the players' values). With one background row (``background=0``,
    the default) they are the Shapley values of ``f(x_S, baseline)``; with many rows the
    interventional SHAP values of shap's exact explainer. ``metrics`` report
    ``expected_value`` (``E[f(background)]``) and ``additivity_error``.

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
        >>> r = ExactShapley(net, background=torch.randn(16, 4)).attribute(torch.randn(3, 4), target=1)
        >>> r.attributions.shape, bool(r.metrics["additivity_error"].max() < 1e-5)
        ((3, 4), True)
    """

    name = "exact_shapley"
    paper = "Shapley 1953; Lundberg and Lee 2017, arXiv:1705.07874 (SHAP values)"
    players = True

    def __init__(self, model: nn.Module, background: Any = 0.0, mask: Any = None,
                 memory_budget: int | None = None, show_progress: bool | None = None):
        super().__init__(model, background=background, mask=mask)
        self.background, self.mask = background, mask
        self.memory_budget, self.show_progress = memory_budget, show_progress

    @on_pass_threads
    def _attribute(self, x, target):
        bg = prepare_background(x, self.background)
        labels = player_labels(x, self.mask if self.mask is not None else default_players(x))
        m_max = max(int(lab.max()) + 1 for lab in labels)
        if m_max > MAX_EXACT_FEATURES:
            raise InputShapeError(
                f"Exact Shapley values enumerate 2^M coalitions and take at most {MAX_EXACT_FEATURES} features or "
                f"groups, got {m_max}; group features (groups=...) or use method='kernel_shap'.")
        out, fx = output_scores(self.model, x, target)
        per = rows_per_pass(self.model, x, self.memory_budget)
        run = many_rows_forward(self.model, x[:1], out[:1].detach() if torch.is_tensor(out) else out, 2 ** m_max)
        players = [int(lab.max()) + 1 for lab in labels]
        tables = map_rows(lambda i: all_coalition_values(run, x[i], bg, labels[i], players[i], target, i, per),
                          x.shape[0], parallel=isinstance(run, Chain), desc=self.name, enabled=self.show_progress)
        attr, coefs, expected = shapley_maps(tables, labels, x.shape)
        return attr.to(x.device), additivity_metrics(coefs, fx, expected, exact=True), {
            "outputs": out, "coefficients": coefs}


def shapley_maps(tables: list[torch.Tensor], labels: list[torch.Tensor],
                 shape: tuple) -> tuple[torch.Tensor, list[np.ndarray], list[float]]:
    """From each example's coalition values ``(2^M,)``: its attribution map (float32, a
    player's value spread evenly over its elements), its players' values and ``v(empty)``.
    Examples that share one labelling are done together, with one matrix product."""
    if all(lab is labels[0] for lab in labels):
        m = int(labels[0].max()) + 1
        phi = torch.stack(tables).cpu().double() @ _weights(m)  # (B, M)
        players = labels[0].flatten().cpu()
        attr = phi[:, players] / torch.bincount(players, minlength=m)[players]
        return attr.view(shape).float(), list(phi.numpy()), [float(v[0]) for v in tables]
    attr = torch.zeros(shape, dtype=torch.float64)
    coefs = []
    for i, v in enumerate(tables):
        lab = labels[i].cpu()
        phi = v.cpu().double() @ _weights(int(lab.max()) + 1)
        attr[i] = phi[lab] / torch.bincount(lab.flatten(), minlength=phi.shape[0])[lab]
        coefs.append(phi.numpy())
    return attr.float(), coefs, [float(v[0]) for v in tables]


def additivity_metrics(coefs: list[np.ndarray], fx: torch.Tensor, expected: list[float], *, exact: bool,
                       convergence: list[float] | None = None) -> dict:
    """The metrics every Shapley-type result reports: ``expected_value`` ``E[f(background)]``,
    ``additivity_error`` ``|sum(phi) - (f(x) - E[f(background)])|`` per example, whether
    the values are ``exact``, and (sampled methods) ``convergence``."""
    e = np.asarray(expected, dtype=float)
    f = fx.detach().double().cpu().numpy()
    err = np.abs(np.array([c.sum() for c in coefs]) - (f - e))
    out = {"expected_value": e, "additivity_error": err, "exact": np.full(len(coefs), exact)}
    if convergence is not None:
        out["convergence"] = np.asarray(convergence, dtype=float)
    return out


__all__ = ["ExactShapley", "MAX_EXACT_FEATURES", "all_coalitions", "shapley_from_table", "coalition_values",
           "prepare_background", "player_labels", "additivity_metrics", "kernel_coalitions", "rows_per_pass"]
