"""Deletion/insertion curves built and run in blocks (attribution/pixel_curves.py): every row
once, the same curves on parallel Python threads as one block after another, the same as a
plain row-by-row loop over the model, and the frozen trace fed the layout it reads."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from neuralscope.attribution import fastpath, pixel_curves, threads
from neuralscope.attribution.gradient import gaussian_blur
from neuralscope.attribution.metrics import deletion_insertion
from neuralscope.data.scenes import make_scenes
from neuralscope.zoo import SceneCNN


@pytest.fixture(scope="module")
def scenes():
    torch.manual_seed(0)
    model = SceneCNN(size=32).eval()
    x = make_scenes(5, size=32, seed=1).images
    maps = np.random.default_rng(0).random((5, 32, 32))
    return model, x, maps


@pytest.mark.parametrize("first,last,n,per", [(1, 7, 5, 12), (0, 7, 5, 3), (0, 0, 9, 4), (2, 9, 4, 4), (0, 5, 7, 1)])
def test_blocks_cover_every_row_once_within_the_block_size(first, last, n, per):
    seen = np.zeros((last + 1, n), int)
    for s, e in pixel_curves._blocks(first, last, n, per):
        assert (s.stop - s.start) * (e.stop - e.start) <= per
        seen[s, e] += 1
    assert (seen[first:] == 1).all() and (seen[:first] == 0).all()


def test_curves_equal_a_plain_loop_over_the_model_one_row_at_a_time(scenes, monkeypatch):
    model, x, maps = scenes
    monkeypatch.setattr(fastpath, "MIN_PASSES", 0)  # through the frozen trace, in blocks
    steps, (n, _, h, w) = 4, x.shape
    c = deletion_insertion(model, x, maps, target=[0, 1, 2, 3, 0], steps=steps)
    order = np.argsort(-maps.reshape(n, -1), axis=1, kind="stable")
    blurred = gaussian_blur(x, max(1.0, h / 16))
    with torch.no_grad():
        for i, t in enumerate([0, 1, 2, 3, 0]):
            for k in range(steps + 1):
                changed = torch.zeros(h * w, dtype=torch.bool)
                changed[order[i, :round(k / steps * h * w)]] = True
                changed = changed.view(1, h, w)
                rows = torch.stack([torch.where(changed, 0.0, x[i]), torch.where(changed, x[i], blurred[i])])
                p = torch.softmax(model(rows).double(), 1)[:, t].numpy()
                # float32 forward passes in other batch sizes and layouts: float32 rounding
                np.testing.assert_allclose([c.deletion[i, k], c.insertion[i, k]], p, rtol=0, atol=1e-6)


def test_blocks_on_parallel_threads_give_the_curves_of_blocks_one_after_another(scenes, monkeypatch):
    model, x, maps = scenes
    monkeypatch.setattr(fastpath, "MIN_PASSES", 0)
    monkeypatch.setattr(pixel_curves, "BLOCK_BYTES", 1)  # blocks of 8 rows: many blocks
    ran = []
    real = pixel_curves.map_rows
    monkeypatch.setattr(pixel_curves, "map_rows", lambda fn, count, **k: ran.append(
        (k["parallel"], torch.get_num_threads(), threads.machine_busy())) or real(fn, count, **k))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        curves = {}
        for busy in (False, True):
            monkeypatch.setattr(threads, "machine_busy", lambda busy=busy: busy)
            curves[busy] = deletion_insertion(model, x, maps, steps=6)
    finally:
        torch.set_num_threads(before)
    # idle: two Python threads (one intra-op thread each); busy: one thread, one block at a time
    assert ran == [(True, 2, False), (True, 1, True)]
    np.testing.assert_array_equal(curves[False].deletion, curves[True].deletion)
    np.testing.assert_array_equal(curves[False].insertion, curves[True].insertion)


def test_the_frozen_trace_is_fed_plain_nchw_rows_with_the_same_values(scenes):
    model, x, _ = scenes
    with torch.no_grad():
        run = fastpath.forward_model(model, x[:1], model(x[:1]), passes=10 ** 6)
        assert isinstance(run, fastpath.FrozenForward) and run.reads_nchw  # its graph starts with to_mkldnn
        channels_last = run.frozen(x.contiguous(memory_format=torch.channels_last))
        torch.testing.assert_close(run(x), channels_last, rtol=0, atol=0)
        torch.testing.assert_close(run(x), model(x), rtol=0, atol=1e-5)
