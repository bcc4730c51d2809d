"""imagegen.images: every odd-but-valid upload loads upright as 8-bit RGB; every bad one
raises ImageInputError with a readable reason (never a bare PIL/OS error)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imagegen.images import (
    MAX_PIXELS,
    MIN_SIDE,
    SUPPORTED_FORMATS,
    ImageInputError,
    load_image,
)
from imagegen.tensors import to_pil, to_tensor


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def photo_like(w: int = 96, h: int = 64) -> Image.Image:
    """A smooth RGB image (compresses like a photo, so truncation hits real scan data)."""
    y, x = np.mgrid[0:h, 0:w]
    arr = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) % 256], -1)
    return Image.fromarray(arr.astype(np.uint8), "RGB")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that *declares* width x height but holds no pixel data: a bomb in 57 bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


# ---------------------------------------------------------------- valid but odd inputs


def test_plain_rgb_from_bytes_path_file_and_pil(tmp_path: Path) -> None:
    src = photo_like()
    data = encode(src, "PNG")
    path = tmp_path / "a.png"
    path.write_bytes(data)
    for source in (data, bytearray(data), str(path), path, io.BytesIO(data), src):
        im = load_image(source)
        assert im.mode == "RGB" and im.size == (96, 64)
        assert np.array_equal(np.asarray(im), np.asarray(src))


def test_exif_rotated_jpeg_is_turned_upright() -> None:
    # Stored 40 wide x 80 tall, Orientation=6 ("rotate 90 CW to display"): shows 80 x 40.
    im = Image.new("RGB", (40, 80), (200, 30, 30))
    im.paste((30, 30, 200), (0, 0, 40, 20))  # blue band at the stored top
    exif = Image.Exif()
    exif[0x0112] = 6
    out = load_image(encode(im, "JPEG", exif=exif, quality=95))
    assert out.size == (80, 40)
    # After a 90 degree clockwise turn the stored top band is on the right.
    arr = np.asarray(out).astype(int)
    assert arr[20, 75, 2] > 150 and arr[20, 75, 0] < 100
    assert arr[20, 5, 0] > 150 and arr[20, 5, 2] < 100


def test_rgba_transparent_areas_become_white() -> None:
    im = Image.new("RGBA", (64, 64), (0, 0, 0, 0))  # fully transparent BLACK
    im.paste((10, 120, 10, 255), (16, 16, 48, 48))
    out = np.asarray(load_image(encode(im, "PNG")))
    assert out[0, 0].tolist() == [255, 255, 255]
    assert out[32, 32].tolist() == [10, 120, 10]


def test_half_transparent_pixel_blends_with_white() -> None:
    im = Image.new("LA", (40, 40), (0, 128))  # black at 50% alpha
    out = np.asarray(load_image(encode(im, "PNG")))
    assert abs(int(out[5, 5, 0]) - 127) <= 2


def test_palette_with_transparency_becomes_white() -> None:
    im = Image.new("P", (48, 48), 0)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * (254 * 3))  # index 0 black, 1 red
    im.paste(1, (12, 12, 36, 36))
    data = encode(im, "PNG", transparency=0)
    out = np.asarray(load_image(data))
    assert out[0, 0].tolist() == [255, 255, 255]  # transparent black -> white, not black
    assert out[24, 24].tolist() == [255, 0, 0]
    gif = np.asarray(load_image(encode(im, "GIF", transparency=0)))
    assert gif[0, 0].tolist() == [255, 255, 255]


def test_greyscale_and_one_bit() -> None:
    grey = load_image(encode(Image.new("L", (40, 40), 77), "PNG"))
    assert grey.mode == "RGB" and np.asarray(grey)[0, 0].tolist() == [77, 77, 77]
    one = Image.new("1", (40, 40), 0)
    one.paste(1, (0, 0, 20, 40))
    arr = np.asarray(load_image(encode(one, "BMP")))
    assert arr[10, 5].tolist() == [255, 255, 255] and arr[10, 35].tolist() == [0, 0, 0]


def test_sixteen_bit_png_is_scaled_not_clipped() -> None:
    ramp = np.full((40, 40), 32896, dtype=np.uint16)  # 32896 / 65535 = mid-grey
    ramp[:, 20:] = 65535
    im = Image.fromarray(ramp)  # mode I;16
    assert im.mode.startswith("I")
    out = np.asarray(load_image(encode(im, "PNG")))
    assert out.dtype == np.uint8
    assert abs(int(out[0, 0, 0]) - 128) <= 1  # clipping would give 255
    assert out[0, 39].tolist() == [255, 255, 255]
    tif = np.asarray(load_image(encode(im, "TIFF")))
    assert abs(int(tif[0, 0, 0]) - 128) <= 1


def test_cmyk_jpeg() -> None:
    im = Image.new("CMYK", (48, 48), (0, 255, 255, 0))  # pure red in CMYK
    out = load_image(encode(im, "JPEG", quality=95))
    r, g, b = np.asarray(out)[24, 24].tolist()
    assert out.mode == "RGB" and r > 200 and g < 60 and b < 60


def test_webp_and_multiframe_gif_first_frame() -> None:
    out = load_image(encode(photo_like(), "WEBP", quality=90))
    assert out.mode == "RGB" and out.size == (96, 64)
    frames = [Image.new("RGB", (40, 40), c) for c in ((250, 0, 0), (0, 0, 250))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    first = np.asarray(load_image(buf.getvalue()))
    assert first[0, 0, 0] > 200 and first[0, 0, 2] < 50
    assert {"JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "MPO"} <= SUPPORTED_FORMATS


# ---------------------------------------------------------------- malformed inputs


def assert_rejected(source, *words: str, **kw) -> str:
    with pytest.raises(ImageInputError) as info:
        load_image(source, **kw)
    msg = str(info.value)
    assert msg and all(w in msg.lower() for w in words), msg
    return msg


def test_empty_input() -> None:
    assert_rejected(b"", "empty")
    assert_rejected(io.BytesIO(b""), "empty")


def test_text_file_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a picture\n" * 20)
    assert_rejected(path, "not a recognised image")


def test_corrupt_bytes() -> None:
    # A valid PNG signature + IHDR followed by rubbish instead of compressed pixels.
    data = encode(photo_like(), "PNG")
    broken = data[:40] + bytes(range(256)) * 8
    assert_rejected(broken, "corrupt")
    assert_rejected(b"\xff\xd8\xff" + b"\x00" * 300, "corrupt")  # JPEG magic, nothing else


def test_truncated_jpeg() -> None:
    data = encode(photo_like(200, 160), "JPEG", quality=95)
    assert_rejected(data[: len(data) // 2], "truncated")


def test_too_small() -> None:
    assert_rejected(encode(Image.new("RGB", (MIN_SIDE - 1, 200)), "PNG"), "too small")


def test_too_large_decompression_bomb() -> None:
    # 7000 x 7000 = 49 MP of zeros: a ~6 KB PNG, rejected from the header (never decoded).
    bomb = encode(Image.new("1", (7000, 7000)), "PNG")
    assert len(bomb) < 100_000 and 7000 * 7000 > MAX_PIXELS
    assert_rejected(bomb, "too large", "megapixels")
    # PIL's own bomb guard (> 2 x its limit) fires inside Image.open: still our error.
    assert_rejected(png_header_only(20000, 20000), "too large")
    # The limit is a parameter.
    assert_rejected(encode(photo_like(), "PNG"), "too large", max_pixels=5000)


def test_unsupported_source_type() -> None:
    assert_rejected(12345, "unsupported image source")


def test_missing_file(tmp_path: Path) -> None:
    assert_rejected(tmp_path / "nope.png", "not found")


# ---------------------------------------------------------------- tensors


def test_tensor_round_trip() -> None:
    src = photo_like()
    t = to_tensor(src)
    assert tuple(t.shape) == (3, 64, 96) and str(t.dtype) == "torch.float32"
    assert float(t.min()) >= -1.0 and float(t.max()) <= 1.0
    assert float(t[:, 0, 0].min()) == -1.0  # black -> -1
    back = to_pil(t)
    assert back.mode == "RGB" and np.array_equal(np.asarray(back), np.asarray(src))
    assert to_pil(t.unsqueeze(0) * 3).size == (96, 64)  # batch of one, out-of-range clamped
    assert tuple(to_tensor(src, size=32).shape) == (3, 32, 32)
