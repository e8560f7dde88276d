"""The Ray engine's GPU path on a local cluster that declares one GPU (Ray schedules the
resource; no CUDA is needed): one actor per GPU, each assigned its GPU through Ray (its
``CUDA_VISIBLE_DEVICES``), the model on ``cuda`` only where the actor's process sees CUDA,
fractions that pack actors on one GPU, and results equal to the local engine's."""
from __future__ import annotations

import numpy as np
import pytest
import torch

ray = pytest.importorskip("ray")

from neuralscope.audit import RayEngine, audit  # noqa: E402
from neuralscope.audit.engines import EngineError  # noqa: E402
from neuralscope.data import load_digits  # noqa: E402
from neuralscope.zoo import DigitsCNN  # noqa: E402


@pytest.fixture(scope="module")
def gpu_cluster():
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
    yield
    ray.shutdown()


class _Recording(RayEngine):
    """Records where its actors run, once they are up."""

    def _start(self, model, spec):
        super()._start(model, spec)
        self.info = self.worker_info()


def _setup():
    torch.manual_seed(0)
    d = load_digits()
    return DigitsCNN(width=8), d.x_test[:32], d.y_test[:32]


def test_each_actor_gets_a_gpu_of_the_cluster(gpu_cluster, tmp_path):
    net, x, y = _setup()
    eng = _Recording()
    kw = dict(labels=y, layer="features", shard_size=8, steps=3, embed_method=None)
    a = audit(net, x, run=tmp_path / "ray", engine=eng, **kw)
    assert len(eng.info) == 1  # one actor per GPU
    (w,) = eng.info
    assert w["gpu_ids"] == ["0"] and w["cuda_visible_devices"] == "0"
    assert w["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    ref = audit(net, x, run=tmp_path / "local", **kw).table()
    t = a.table()
    for k in ref:  # one thread in the actor, two here: equal to float rounding
        np.testing.assert_allclose(t[k], ref[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_fractions_of_a_gpu_pack_actors_and_zero_keeps_cpus(gpu_cluster, tmp_path):
    net, x, y = _setup()
    half = _Recording(gpus_per_worker=0.5)
    audit(net, x, labels=y, layer="features", run=tmp_path / "a", shard_size=8, steps=2, engine=half,
          embed_method=None)
    assert len(half.info) == 2 and all(w["gpu_ids"] == ["0"] for w in half.info)
    cpu = _Recording(gpus_per_worker=0, workers=1)
    audit(net, x, labels=y, layer="features", run=tmp_path / "b", shard_size=8, steps=2, engine=cpu,
          embed_method=None)
    assert cpu.info[0]["gpu_ids"] == [] and cpu.info[0]["device"] == "cpu"


def test_asking_for_more_gpus_than_the_cluster_has_is_one_sentence():
    with pytest.raises(EngineError, match="gpus_per_worker=2 but the Ray cluster has 1 GPUs"):
        RayEngine(gpus_per_worker=2)._request({"GPU": 1.0, "CPU": 2.0})
    assert RayEngine()._request({"CPU": 4.0}) == (4, 0.0)
    assert RayEngine()._request({"CPU": 4.0, "GPU": 2.0}) == (2, 1.0)
