"""The Ray engine on a local cluster started here (2 CPUs, no dashboard, no external
services): the same per-example results as the local engine, and a worker killed mid-audit
is restarted, its shards retried, every example written exactly once."""
from __future__ import annotations

import os
import signal

import numpy as np
import pytest
import torch

ray = pytest.importorskip("ray")

from neuralscope.audit import RayEngine, ShardStore, audit  # noqa: E402
from neuralscope.data import load_digits  # noqa: E402
from neuralscope.zoo import DigitsCNN  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
    yield
    ray.shutdown()


@pytest.fixture
def one_thread():
    """Ray's workers run torch on one thread (one CPU each); so does the local engine here,
    so both pick the same kernels and their float results can be compared bit for bit."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _setup():
    torch.manual_seed(0)
    d = load_digits()
    return DigitsCNN(width=8), d.x_test[:64], d.y_test[:64]


def test_ray_gives_the_local_engine_results_bit_for_bit(cluster, one_thread, tmp_path, unchanged):
    net, x, y = _setup()
    kw = dict(labels=y, layer="features", shard_size=16, steps=4, methods=["grad_cam", "saliency"])
    local = audit(net, x, run=tmp_path / "local", **kw)
    with unchanged(net):
        remote = audit(net, x, run=tmp_path / "ray", engine=RayEngine(workers=2), **kw)
    assert remote.engine == "ray" and sorted(remote.computed) == [0, 1, 2, 3]
    a, b = local.table(), remote.table()
    assert sorted(a) == sorted(b)
    for k in a:  # deterministic methods on the same shards: identical bits
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    np.testing.assert_array_equal(local.thumbnails("grad_cam"), remote.thumbnails("grad_cam"))
    np.testing.assert_array_equal(local.summary["mean_maps"]["saliency"], remote.summary["mean_maps"]["saliency"])


class _KillOne(RayEngine):
    """Kills one worker process with SIGKILL after the first shard comes back."""

    def run(self, model, spec, shards):
        for i, (index, arrays) in enumerate(super().run(model, spec, shards)):
            if i == 0:
                self.killed = self.pids[0]
                os.kill(self.killed, signal.SIGKILL)
            yield index, arrays

    def _start(self, model, spec):
        super()._start(model, spec)
        self.pids = self.worker_pids()


def test_a_worker_killed_mid_audit_is_retried_and_every_example_is_written_once(cluster, tmp_path):
    net, x, y = _setup()
    eng = _KillOne(workers=2)
    a = audit(net, x, labels=y, layer="features", run=tmp_path, shard_size=8, steps=2, engine=eng,
              embed_method=None)
    assert eng.killed
    store = ShardStore(tmp_path / "audit" / "audit")
    assert store.done() == list(range(8)) and sorted(a.computed) == list(range(8))
    np.testing.assert_array_equal(np.sort(a.table()["index"]), np.arange(64))
