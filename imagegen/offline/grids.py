"""Picture grids of a generator's work: one row per photo, one column per stage (photo | preprocessed | G1 | G2 |
ground truth by default). The evaluation's ``examples.png`` / ``conditioning.png`` and the sample grids of
``imagegen.offline.samples`` are drawn with it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

EXAMPLE_CELL = 128  # pixels per cell


def examples_grid(rows: Sequence[tuple], cell: int = EXAMPLE_CELL,
                  headers: Sequence[str] = ("photo", "preprocessed", "G1", "G2", "ground truth")) -> Image.Image:
    """Columns: photo | preprocessed | G1 | G2 | ground truth by default; each row is
    ``(raw PIL thumbnail, *uint8 arrays, caption)``, one array per header after the first."""
    header_h, caption_h, pad = 18, 14, 4
    width = len(headers) * (cell + pad) + pad
    height = header_h + max(1, len(rows)) * (cell + caption_h + pad) + pad
    canvas = Image.new("RGB", (width, height), (228, 228, 228))  # light grey: white cells stay visible
    draw = ImageDraw.Draw(canvas)
    for c, title in enumerate(headers):
        draw.text((pad + c * (cell + pad) + 2, 3), title, fill=(0, 0, 0))
    for r, (raw, *arrays, caption) in enumerate(rows):
        y = header_h + r * (cell + caption_h + pad)
        thumb = raw.convert("RGB").copy()
        thumb.thumbnail((cell, cell))
        canvas.paste(thumb, (pad + (cell - thumb.width) // 2, y + (cell - thumb.height) // 2))
        for c, arr in enumerate(arrays, start=1):
            im = Image.fromarray(np.asarray(arr, dtype=np.uint8)).resize((cell, cell), Image.Resampling.NEAREST)
            canvas.paste(im, (pad + c * (cell + pad), y))
        draw.text((pad + 2, y + cell + 1), caption, fill=(80, 80, 80))
    return canvas


__all__ = ["EXAMPLE_CELL", "examples_grid"]
