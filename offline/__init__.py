"""Offline ML that needs both ``imagegen`` and ``search``: the layer above them, so that neither imports the other.

- ``embedder_training``: train the learned embedder on the generator's outputs and ship it to ``search/weights``
  (``python -m offline.embedder_training``);
- ``evaluate_generator``: a generator checkpoint's full evaluation, image quality and retrieval at catalogue sizes,
  and its report files (``python -m offline.evaluate_generator``); ``retrieval`` holds the retrieval half (galleries,
  curves, ceiling, gates), ``evaluation_report`` renders ``metrics.md`` and ``gallery_curve.png``. The image half
  (preprocessing checks, image quality, garment conditioning) is ``imagegen.offline.evaluate``.

Nothing here runs per upload; ``imagegen``, ``search`` and ``backbones`` never import it.
"""
