"""What the dashboard reads through public APIs: an Embedding's thumbnails in its
``to_dict()``, the store's incremental scalar reader, and ``Graph.from_dict``."""
from __future__ import annotations

import base64
import io

import numpy as np
import torch
from PIL import Image

from neuralscope.data import load_digits
from neuralscope.inspect.embedding import embed


def _decode(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


def test_embedding_to_dict_carries_one_lossless_thumbnail_per_point():
    x = load_digits().x_train[:30]
    e = embed(x.flatten(1), labels=list(range(30)), images=x)
    d = e.to_dict()
    assert len(d["thumbnails"]) == len(d["coords"]) == 30
    for i in (0, 7, 29):
        # PNG is lossless: the decoded pixels are the uint8 thumbnail the Embedding holds,
        # which is the digit scaled from [0, 1] to [0, 255]
        np.testing.assert_array_equal(_decode(d["thumbnails"][i]), e.images[i])
        np.testing.assert_array_equal(e.images[i], (x[i, 0].numpy() * 255).round().astype(np.uint8))


def test_embedding_to_dict_colour_thumbnails_and_none_without_images():
    rng = np.random.default_rng(0)
    photos = torch.from_numpy(rng.random((5, 3, 40, 20), dtype=np.float32))
    e = embed(rng.normal(size=(5, 4)), images=photos)
    pix = _decode(e.to_dict()["thumbnails"][3])
    assert pix.shape == (32, 16, 3)  # longest side reduced to 32
    np.testing.assert_array_equal(pix, e.images[3])
    assert "thumbnails" not in embed(rng.normal(size=(5, 4))).to_dict()
