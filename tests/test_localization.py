"""Localisation scores on constructed maps whose answers are known, and against Quantus's
PointingGame / RelevanceMassAccuracy / RelevanceRankAccuracy on the same maps."""
import warnings

import numpy as np
import pytest
import torch

from neuralscope.attribution.localization import (
    localization,
    pointing_game,
    random_map_scores,
    relevance_mass_accuracy,
    relevance_rank_accuracy,
)
from neuralscope.data.scenes import make_scenes
from neuralscope.errors import InputShapeError


@pytest.fixture(scope="module")
def masks():
    return make_scenes(16, size=32, seed=4).masks.numpy()


def test_a_map_equal_to_the_mask_scores_one(masks):
    for v in localization(masks.astype(float), masks).values():
        assert np.allclose(v, 1.0)


def test_a_map_off_the_object_scores_zero(masks):
    off = (~masks).astype(float) * np.random.default_rng(0).random(masks.shape)
    for v in localization(off, masks).values():
        assert np.allclose(v, 0.0)


def test_a_uniform_map_scores_the_objects_area_fraction(masks):
    area = masks.reshape(len(masks), -1).mean(1)
    for v in localization(np.ones(masks.shape), masks).values():
        assert np.allclose(v, area)


def test_negative_relevance_does_not_count_and_a_map_without_positive_values_is_nan(masks):
    a = masks.astype(float) - 5.0 * (~masks)  # strongly negative off the object
    assert np.allclose(relevance_mass_accuracy(a, masks), 1.0)
    assert np.isnan(pointing_game(-np.ones(masks.shape), masks)).all()


def test_channels_are_summed_and_tensors_accepted(masks):
    rgb = torch.from_numpy(np.repeat(masks[:, None].astype(np.float32), 3, 1))
    assert np.allclose(relevance_rank_accuracy(rgb, torch.from_numpy(masks)), 1.0)


def test_random_maps_score_near_the_area_fraction(masks):
    area = masks.reshape(len(masks), -1).mean(1).mean()
    r = random_map_scores(np.repeat(masks, 8, 0))
    assert abs(np.mean(r["mass_accuracy"]) - area) < 0.02


def test_shape_mismatch_raises_one_clear_error(masks):
    with pytest.raises(InputShapeError, match="do not match masks"):
        pointing_game(np.ones((16, 8, 8)), masks)


def _quantus(metric, maps, masks):
    x = np.zeros((len(maps), 1, *maps.shape[1:]), dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = metric(x_batch=x, y_batch=np.zeros(len(maps), int), a_batch=maps[:, None].astype(np.float32),
                     s_batch=masks[:, None].astype(np.float32), model=None, channel_first=True)
    return np.asarray(out, dtype=float)


def test_pointing_game_mass_and_rank_accuracy_agree_with_quantus(masks):
    quantus = pytest.importorskip("quantus")
    rng = np.random.default_rng(1)
    # continuous non-negative maps (no ties), some concentrated on the object, some not
    maps = rng.random(masks.shape) ** 3 + masks * rng.random((len(masks), 1, 1)) * 2
    kw = dict(disable_warnings=True, normalise=False)
    assert np.array_equal(pointing_game(maps, masks), _quantus(quantus.PointingGame(**kw), maps, masks))
    # float32 inside Quantus: agreement to single precision
    np.testing.assert_allclose(relevance_mass_accuracy(maps, masks),
                               _quantus(quantus.RelevanceMassAccuracy(**kw), maps, masks), rtol=1e-5)
    np.testing.assert_allclose(relevance_rank_accuracy(maps, masks),
                               _quantus(quantus.RelevanceRankAccuracy(**kw), maps, masks), atol=1e-9)


def test_compare_adds_the_localisation_columns_per_mask():
    from neuralscope.attribution import compare
    from neuralscope.zoo import SceneCNN

    s = make_scenes(3, size=32, seed=2, cue="class")
    torch.manual_seed(0)
    net = SceneCNN(size=32).eval()
    c = compare(net, s.images, methods=["saliency", "input_x_gradient"], steps=4,
                masks={"object": s.masks, "mark": s.cue_masks})
    for m in c.methods:
        expected = localization(c.results[m], s.cue_masks)["mass_accuracy"]
        np.testing.assert_array_equal(c.scores[m]["mark_mass_accuracy"], expected)
        assert {"object_pointing_game", "object_rank_accuracy", "deletion_auc"} <= set(c.scores[m])
    assert "mass_accuracy" in compare(net, s.images, methods=["saliency"], steps=2, masks=s.masks).scores["saliency"]
