"""The batched generator path the gpu worker runs (workers.stages.generate): preprocess per photo, then G1/G2 on the whole
batch on the model's device. Checked on CPU: a photo's output must not depend on the batch it ran in (eval mode, no
batch statistics), so batching changes throughput and nothing else; on a GPU the same code moves the batch to cuda."""
import numpy as np
import pytest
import torch
from PIL import Image

from imagegen.generator import StockImageGenerator
from imagegen.offline.synth import make_item, render_street_photo


@pytest.fixture(scope="module")
def generator():
    return StockImageGenerator.untrained(image_size=64, seed=3, device="cpu")


def photos(n):
    return [Image.fromarray(np.asarray(render_street_photo(make_item(0, i), (0, i, 9000 + i), 256)[0]))
            for i in range(n)]


def test_a_photo_comes_out_the_same_alone_or_in_a_batch(generator):
    images = photos(4)
    pres = [generator.preprocess(im, "top")[0] for im in images]
    batch = generator.generate_preprocessed(pres, [1.0] * 4)
    for pre, together in zip(pres, batch):
        alone = generator.generate_preprocessed([pre])[0]
        a, b = np.asarray(alone.stock, np.int16), np.asarray(together.stock, np.int16)
        assert np.abs(a - b).max() <= 1  # float rounding only
        assert together.method == pre.method and together.timings_ms["preprocess"] == 1.0
    # The batch's stage times are shared out: each photo records its part of one forward pass.
    assert len({(r.timings_ms["stage1"], r.timings_ms["stage2"]) for r in batch}) == 1


def test_generate_batch_is_preprocess_then_generate_preprocessed(generator):
    images = photos(2)
    direct = generator.generate_batch(images, ["top", "top"])
    pres = [generator.preprocess(im, "top")[0] for im in images]
    split = generator.generate_preprocessed(pres)
    for d, s in zip(direct, split):
        assert np.abs(np.asarray(d.stock, np.int16) - np.asarray(s.stock, np.int16)).max() <= 1


def test_auto_device_is_cuda_when_there_is_one():
    g = StockImageGenerator.untrained(image_size=64, device="auto")
    assert g.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
