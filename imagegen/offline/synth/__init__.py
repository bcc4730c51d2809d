"""Procedural street-to-shop data: catalogue items, their stock images and street photos of people wearing them.

No real street-to-shop dataset can be downloaded here, so training and demo data are drawn.
Public API (used by the web demo to seed a catalogue, and by ``python -m imagegen.offline.synth``):

- ``make_item(seed, index, data_version=1) -> ItemSpec``
- ``render_stock(spec, size=256) -> PIL.Image``
- ``render_street_photo(spec, seed, size=384) -> (PIL.Image, mask ndarray, keypoints dict)``
- ``generate_dataset(out_dir, items, photos_per_item, seed, ..., data_version=1) -> Path`` (the manifest)

``data_version=2`` (``garments_v2``, ``person_v2``, ``scene_v2``) adds dresses and jumpsuits (garment ``whole``), skirts,
fabric weave and folds, photographic backgrounds and greyscale / colour-cast photos. Version 1, byte-identical to what
the shipped generator was trained on, stays the default until a generator trained on v2 ships.

Submodules are imported lazily so ``import imagegen.offline.synth`` stays cheap.
"""
from __future__ import annotations

from .garments import ItemSpec, make_item, render_stock

__all__ = ["ItemSpec", "make_item", "render_stock", "render_street_photo", "generate_dataset", "measure_preprocessing"]


def render_street_photo(spec, seed, size=384):
    from .person import render_street_photo as _render
    return _render(spec, seed, size)


def generate_dataset(*args, **kwargs):
    from .dataset import generate_dataset as _gen
    return _gen(*args, **kwargs)


def measure_preprocessing(*args, **kwargs):
    from .measure import measure_preprocessing as _measure
    return _measure(*args, **kwargs)
