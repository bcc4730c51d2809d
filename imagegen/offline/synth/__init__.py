"""Procedural street-to-shop data: catalogue items, their stock images and street photos of people wearing them.

No real street-to-shop dataset can be downloaded here, so training and demo data are drawn.
Public API (used by the web demo to seed a catalogue, and by ``python -m imagegen.offline.synth``):

- ``make_item(seed, index, data_version=1) -> ItemSpec``
- ``render_stock(spec, size=256) -> PIL.Image``
- ``render_street_photo(spec, seed, size=384) -> (PIL.Image, mask ndarray, keypoints dict)``
- ``generate_dataset(out_dir, items, photos_per_item, seed, ..., data_version=1) -> Path`` (the manifest)
- ``measure_preprocessing(manifest, n=100) -> dict`` (mediapipe on the photos, imported only when it runs)

One code path draws every data version; the version is a row of settings (``versions.py``) that each stage reads, and
an item carries its version, so its photos follow it. Version 1, byte-identical to what the shipped generator was
trained on, stays the default until a generator trained on v2 ships; 2 adds dresses and jumpsuits (garment
``whole``), skirts, fabric weave and folds, photographic backgrounds and greyscale / colour-cast photos.

Modules, bottom to top (each imports only those above it in this list):

- ``versions``: the per-version settings.
- ``garments``: the catalogue (``ItemSpec``, ``make_item``) and the flat panel layout of each cut.
- ``canvas``: fabric texture, weave, the painted flat garment and the stock image.
- ``fitting``: the body-side panel layouts, the canvas-to-body warp and the folds.
- ``person``: the drawn person (skeleton, body, face, shading) wearing the item.
- ``backdrops``: the calm (v1) and photographic (v2) backdrops.
- ``scene``: camera tilt, backdrop, bag, lighting, photo treatment and camera noise around the person.
- ``photo``: person + scene = a street photo.
- ``dataset``: the dataset writer (files, manifest, splits, held-out combinations, contact sheet).
- ``measure``: does mediapipe see the drawn people; ``__main__``: the CLI.
"""
from __future__ import annotations

from .canvas import render_stock
from .dataset import generate_dataset
from .garments import ItemSpec, make_item
from .measure import measure_preprocessing
from .photo import render_street_photo

__all__ = ["ItemSpec", "make_item", "render_stock", "render_street_photo", "generate_dataset", "measure_preprocessing"]
