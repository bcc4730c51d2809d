"""The offline side of ``imagegen``: everything that makes, reads and judges training data and models.

- ``train``: the two-stage GAN's training loop (``python -m imagegen train`` and the training worker call it);
- ``data``: the paired-data manifest (docs/CONTRACTS.md) and the datasets built from it;
- ``importers``: manifests from real dataset layouts (``python -m imagegen.offline.importers``);
- ``evaluate`` (and its ``grids``): the image half of a checkpoint's evaluation (preprocessing checks, image quality,
  garment conditioning); the full evaluation with retrieval is ``offline.evaluate_generator``
  (``python -m offline.evaluate_generator``);
- ``synth``: the procedural street-to-shop data (``python -m imagegen.offline.synth``).

It is a separate package because nothing in it runs per upload: the web process and the model worker's per-photo
path import only ``imagegen``'s top level (``images``, ``preprocess``, ``conditioning``, ``networks``,
``checkpoint``, ``generator``), and none of those imports anything from here (tests/imagegen/test_layout.py holds
that boundary). Code here may import the top level, never the other way round.
"""
