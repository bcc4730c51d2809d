"""A street photo of someone wearing a catalogue item: the person (``person.py``) in a scene (``scene.py``).

The item's data version decides how both are drawn. One random stream, seeded by ``seed``, draws the person and then
the scene, so a photo depends on nothing but (item, seed, size).
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from .garments import ItemSpec
from .person import draw_person
from .scene import compose_photo


def render_photo(spec: ItemSpec, seed, size: int = 384):
    """(PIL image before JPEG, mask, keypoints, JPEG quality, meta {"background", "treatment"}): the dataset writer
    saves the JPEG itself."""
    rng = np.random.default_rng(seed)
    person = draw_person(spec, rng, size)
    return compose_photo(person, rng, size, spec.data_version)


def render_street_photo(spec: ItemSpec, seed, size: int = 384):
    """A street photo of someone wearing ``spec``: (PIL RGB image, mask float32 HxW 0..1, keypoints).

    ``seed`` is an int or a sequence of ints (the dataset uses (seed, item index, photo index)).
    The JPEG artefacts are real: the image is encoded at the drawn quality and decoded again, so
    it equals the ``photos/*.jpg`` file the dataset writes for the same seed.
    """
    img, mask, kps, quality, _ = render_photo(spec, seed, size)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB"), mask, kps
