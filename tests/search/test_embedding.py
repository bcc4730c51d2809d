import numpy as np
from PIL import Image, ImageDraw

from search.embedding import EMBEDDING_DIM, embed_image, embed_images


def garment(color, stripes=None, size=128):
    im = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(im)
    d.rectangle([32, 24, 96, 112], fill=color)
    if stripes:
        for y in range(24, 112, 12):
            d.rectangle([32, y, 96, y + 5], fill=stripes)
    return im


def test_embedding_is_unit_length_deterministic_and_batched():
    ims = [garment((200, 30, 30)), garment((30, 30, 200), (250, 250, 0))]
    a, b = embed_images(ims), embed_images(ims)
    assert a.shape == (2, EMBEDDING_DIM) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(a[0], embed_image(ims[0]))


def test_same_garment_on_different_backgrounds_is_closer_than_another_colour():
    red, blue = embed_image(garment((200, 30, 30))), embed_image(garment((30, 30, 200)))
    red_bigger = embed_image(garment((205, 35, 30), size=160))
    assert red @ red_bigger > red @ blue + 0.2


def test_pattern_changes_the_embedding():
    plain, striped = embed_image(garment((30, 30, 200))), embed_image(garment((30, 30, 200), (250, 250, 250)))
    assert plain @ striped < 0.95


def test_all_white_image_still_gives_a_finite_vector():
    v = embed_image(Image.new("RGB", (50, 50), "white"))
    assert np.isfinite(v).all() and abs(np.linalg.norm(v) - 1) < 1e-5
