"""The gpu worker's batched forward (workers.stages.generate._forward) hands each job's own garment type to the generator:
a garment-conditioned (v2) model renders every photo of a mixed batch as its own type, as if it had run alone."""
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from imagegen.generator import StockImageGenerator
from workers.stages.generate import _forward
from workers.stages.photos import Photo


class NullEmbedder:
    version = "null"

    def embed_images(self, images):
        return np.zeros((len(images), 4), np.float32)


def _photo(garment: str, seed: int) -> Photo:
    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    pre = SimpleNamespace(image=image, method="centre", warnings=[])
    return Photo(job=SimpleNamespace(pk=seed, garment_type=garment), marks={}, timings={"preprocess": 1.0}, pre=pre)


@pytest.mark.parametrize("arch", ["v1", "v2"])
def test_a_mixed_batch_renders_each_photo_as_its_own_type(arch):
    generator = StockImageGenerator.untrained(image_size=32, seed=0, device="cpu", arch=arch)
    batch = [_photo("whole", 1), _photo("top", 2), _photo("bottom", 3)]
    _forward(batch, generator, NullEmbedder())
    for p in batch:
        alone = generator.generate_preprocessed([p.pre], garments=[p.job.garment_type])[0]
        a, b = np.asarray(alone.stock, np.int16), np.asarray(p.result.stock, np.int16)
        assert np.abs(a - b).max() <= 1  # float rounding only
    if arch == "v2":  # and the type is what made the difference: the same photo as another type differs
        other = generator.generate_preprocessed([batch[0].pre], garments=["top"])[0]
        assert np.abs(np.asarray(other.stock, np.int16) - np.asarray(batch[0].result.stock, np.int16)).max() > 0


class MeanColourQueries(NullEmbedder):
    """Catalogue side: mean colour; query side: G2's mean colour minus its photo's (a fusing embedder's shape)."""

    def embed_images(self, images):
        return np.stack([np.asarray(im, np.float32).mean((0, 1)) for im in images])

    def embed_queries(self, generated, photos=None):
        return self.embed_images(generated) - (self.embed_images(photos) if photos is not None else 0.0)


def test_an_embedder_that_fuses_the_photo_gets_each_jobs_own_preprocessed_photo():
    generator = StockImageGenerator.untrained(image_size=32, seed=0, device="cpu")
    batch = [_photo("top", 4), _photo("top", 5), _photo("bottom", 6)]
    embedder = MeanColourQueries()
    _forward(batch, generator, embedder)
    for p in batch:
        expected = embedder.embed_queries([p.result.stock], [p.result.preprocessed])[0]
        assert np.allclose(p.vector, expected)
        assert not np.allclose(p.vector, embedder.embed_images([p.result.stock])[0])  # the photo took part
