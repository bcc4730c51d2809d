"""How an image is squared for a network that reads square images: shared by the generator's targets
(``imagegen.offline.data.load_stock``) and the learned embedder's inputs (``search.learned``), which must agree."""
from __future__ import annotations

from PIL import Image


def square_on_white(image: Image.Image, size: int) -> Image.Image:
    """Pad a PIL image to a centred square on white, then resize to ``size`` x ``size`` (LANCZOS down, BICUBIC up).

    Stock photos come in any aspect ratio; padding (rather than cropping) keeps the whole garment, and white is the
    catalogue background the generator is asked to produce.
    """
    image = image.convert("RGB")
    w, h = image.size
    side = max(w, h)
    if w != h:
        canvas = Image.new("RGB", (side, side), (255, 255, 255))
        canvas.paste(image, ((side - w) // 2, (side - h) // 2))
        image = canvas
    if side != size:
        image = image.resize((size, size), Image.Resampling.LANCZOS if side > size else Image.Resampling.BICUBIC)
    return image
