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


def _reference(image):
    """The descriptor's formula written plainly, one image at a time (search.embedding before it was vectorised and
    table-driven): the shipped vectors and every index built with `hcg1` were made by this."""
    from search import embedding as E

    rgb = np.asarray(image.convert("RGB").resize((64, 64), Image.BILINEAR), dtype=np.float32) / 255.0
    hsv = E._rgb_to_hsv(rgb)
    fg = ~((hsv[..., 2] > E._WHITE_THRESHOLD) & (hsv[..., 1] < 0.08))
    if fg.sum() < 16:
        fg = np.ones_like(fg)
    weight = fg.astype(np.float32)
    h = np.minimum((hsv[..., 0] * E._HUE_BINS).astype(int), E._HUE_BINS - 1)
    s = np.minimum((hsv[..., 1] * E._SAT_BINS).astype(int), E._SAT_BINS - 1)
    v = np.minimum((hsv[..., 2] * E._VAL_BINS).astype(int), E._VAL_BINS - 1)
    h = np.where(s == 0, 0, h)
    joint = (h * E._SAT_BINS + s) * E._VAL_BINS + v
    hist = np.bincount(joint.ravel(), weights=weight.ravel(), minlength=E._HUE_BINS * E._SAT_BINS * E._VAL_BINS)

    def unit(x):
        n = np.linalg.norm(x)
        return x / n if n > 0 else x

    def cells(a, n):
        return a.reshape(n, a.shape[0] // n, n, a.shape[1] // n, *a.shape[2:]).swapaxes(1, 2)

    hsv_block = unit(np.sqrt(hist / max(hist.sum(), 1e-8)))
    cw = cells(weight, 4)[..., None]
    cell_sum = cw.sum((2, 3))
    layout = np.where(cell_sum > 0, (cells(rgb, 4) * cw).sum((2, 3)) / np.maximum(cell_sum, 1e-8), 1.0)
    gy, gx = np.gradient(rgb.mean(-1))
    mag, ang = np.hypot(gx, gy), np.mod(np.arctan2(gy, gx), np.pi)
    ob = np.minimum((ang / np.pi * E._ORIENT_BINS).astype(int), E._ORIENT_BINS - 1)
    grad = np.zeros((2, 2, E._ORIENT_BINS), np.float32)
    for i in range(2):
        for j in range(2):
            grad[i, j] = np.bincount(cells(ob, 2)[i, j].ravel(), weights=cells(mag, 2)[i, j].ravel(),
                                     minlength=E._ORIENT_BINS)
    w = E._BLOCK_WEIGHTS
    return unit(np.concatenate([w["hsv"] * hsv_block, w["layout"] * unit(layout.ravel() - 0.5),
                                w["gradient"] * unit(np.sqrt(grad.ravel())),
                                w["shape"] * unit(cells(weight, 4).mean((2, 3)).ravel())])).astype(np.float32)


def test_vectorised_descriptor_equals_the_reference_formula():
    """`hcg1` vectors in live indexes were made by the plain formula: the fast path must give the same vectors (the
    colour table is exact by construction; only float rounding may differ)."""
    rng = np.random.default_rng(5)
    images = [garment((200, 30, 30)), garment((30, 30, 200), (250, 250, 0), size=256),
              Image.new("RGB", (50, 50), "white"), Image.new("L", (70, 90), 128), Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)),
              Image.fromarray(rng.integers(0, 256, (120, 80, 3), dtype=np.uint8)), Image.new("RGB", (64, 64), "black")]
    reference = np.stack([_reference(im) for im in images])
    np.testing.assert_allclose(embed_images(images), reference, atol=1e-6)
    np.testing.assert_allclose(np.stack([embed_image(im) for im in images]), reference, atol=1e-6)


def test_a_thumbnail_gives_the_same_vector_as_its_original():
    from search.embedding import reduce_image

    original = garment((30, 120, 60), (250, 250, 250), size=256)
    assert np.array_equal(embed_image(reduce_image(original)), embed_image(original))
