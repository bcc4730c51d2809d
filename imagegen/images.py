"""Image loading: the single door through which user photos enter.

Uploads come from phones, scanners and old websites, so "an image" can be an EXIF-rotated
JPEG, a transparent PNG, a 16-bit scan, a CMYK print file, an animated GIF or garbage.
Everything downstream (mediapipe, the GAN, the embedder) wants one thing: an 8-bit RGB
``PIL.Image`` the right way up. ``load_image`` produces exactly that or raises
``ImageInputError`` whose message can be shown to the user as-is; no bare ``OSError`` or
PIL exception escapes, so the API layer can map one exception type to HTTP 400.

Decisions worth knowing:
- Size limits are checked from the header, *before* decoding, so a decompression bomb
  (a few KB of PNG declaring 100 megapixels) costs nothing. PIL's own global
  ``Image.MAX_IMAGE_PIXELS`` is deliberately left alone (no import-time side effects on a
  library other modules share); its ``DecompressionBombError`` is still translated.
- Transparency is composited on WHITE, because the catalogue images we generate are on
  white; black (PIL's default when dropping alpha) would read as a dark garment.
- 16-bit images are *scaled* (x 255/65535), not clipped: clipping turns a mid-grey scan
  into pure white.
- No torch here: the tensor conversions (``to_tensor``/``to_pil``) live in ``imagegen.tensors``,
  so loading and checking an image (``imagegen.preprocess``, the manifest tools) never pays for torch.
"""

from __future__ import annotations

import io
import os
from typing import IO, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "ImageInputError",
    "ImageSource",
    "MAX_BYTES",
    "MAX_PIXELS",
    "MIN_SIDE",
    "SUPPORTED_FORMATS",
    "load_image",
    "to_rgb",
]

#: Largest accepted image, in pixels (width x height). 40 MP covers every phone camera
#: in use while keeping a decoded RGB image under ~120 MB.
MAX_PIXELS: int = 40_000_000
#: Smallest accepted side in pixels: below this there is no garment to see.
MIN_SIDE: int = 32
#: Largest accepted encoded file; read fully into memory, so it must be bounded.
MAX_BYTES: int = 50 * 1024 * 1024
#: PIL format names we accept. GIF, TIFF and MPO (multi-picture JPEG from some cameras)
#: may hold several frames: the first one is used.
SUPPORTED_FORMATS: frozenset[str] = frozenset({"JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "MPO"})

ImageSource = Union[bytes, bytearray, memoryview, str, os.PathLike, IO[bytes], Image.Image]


class ImageInputError(ValueError):
    """The input is not a usable image. ``str(e)`` is a reason safe to show to a user."""


def load_image(
    source: ImageSource,
    *,
    max_pixels: int = MAX_PIXELS,
    min_side: int = MIN_SIDE,
    max_bytes: int = MAX_BYTES,
) -> Image.Image:
    """Load ``source`` (bytes, path, binary file or PIL image) as an upright 8-bit RGB image.

    The limits are parameters so callers (and tests) can tighten them; the defaults are
    the module constants. Raises ``ImageInputError`` for anything unusable.
    """
    if isinstance(source, Image.Image):
        im = source
        _check_size(im.size, max_pixels, min_side)
        try:
            im.load()
            out = to_rgb(_upright(im))
            return out.copy() if out is source else out  # never hand back the caller's object
        except ImageInputError:
            raise
        except Exception as exc:  # a lazily-opened PIL image can still fail to decode
            raise ImageInputError(f"The image could not be decoded ({_short(exc)}).") from exc

    data = _read_bytes(source, max_bytes)
    try:
        im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageInputError(_too_large_message(None, max_pixels)) from exc
    except UnidentifiedImageError as exc:
        if _looks_like_image(data):  # right magic bytes, unreadable body: say so
            raise ImageInputError(
                f"The {_looks_like_image(data)} file is corrupt and could not be read; try uploading it again."
            ) from exc
        raise ImageInputError(
            "The file is not a recognised image; upload a JPEG, PNG, WebP, BMP, TIFF or GIF."
        ) from exc
    except Exception as exc:  # malformed headers raise a zoo of types (SyntaxError, struct.error...)
        raise ImageInputError(f"The image file is corrupt ({_short(exc)}).") from exc

    if im.format not in SUPPORTED_FORMATS:
        raise ImageInputError(
            f"Images in {im.format or 'this'} format are not supported; "
            "upload a JPEG, PNG, WebP, BMP, TIFF or GIF."
        )
    _check_size(im.size, max_pixels, min_side)  # header only: nothing decoded yet
    try:
        im.seek(0)  # first frame of GIF / TIFF / MPO
        im.load()  # decode now so truncation is caught here, not later in the pipeline
    except Image.DecompressionBombError as exc:
        raise ImageInputError(_too_large_message(None, max_pixels)) from exc
    except Exception as exc:
        raise ImageInputError(
            f"The image file is corrupt or truncated ({_short(exc)}); try uploading it again."
        ) from exc
    return to_rgb(_upright(im))


# --------------------------------------------------------------------------- helpers


def _read_bytes(source: ImageSource, max_bytes: int) -> bytes:
    """Get the encoded bytes from bytes / a path / a binary file, enforcing ``max_bytes``."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        try:
            if os.path.getsize(source) > max_bytes:
                raise ImageInputError(_too_many_bytes(max_bytes))
            with open(source, "rb") as fh:
                data = fh.read()
        except ImageInputError:
            raise
        except FileNotFoundError as exc:
            raise ImageInputError(f"Image file not found: {os.fspath(source)!s}") from exc
        except OSError as exc:
            raise ImageInputError(f"The image file could not be read ({_short(exc)}).") from exc
    elif hasattr(source, "read"):
        try:
            data = source.read(max_bytes + 1)
        except Exception as exc:
            raise ImageInputError(f"The upload could not be read ({_short(exc)}).") from exc
        if isinstance(data, str):
            raise ImageInputError("Expected binary image data but got text; open the file in binary mode.")
        data = bytes(data or b"")
    else:
        raise ImageInputError(
            f"Unsupported image source of type {type(source).__name__}; "
            "pass bytes, a path, a binary file or a PIL image."
        )
    if not data:
        raise ImageInputError("The image file is empty.")
    if len(data) > max_bytes:
        raise ImageInputError(_too_many_bytes(max_bytes))
    return data


_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)


def _looks_like_image(data: bytes) -> str | None:
    """The format whose signature ``data`` starts with, if any (to tell corrupt from not-an-image)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return next((name for magic, name in _MAGIC if data.startswith(magic)), None)


def _check_size(size: tuple[int, int], max_pixels: int, min_side: int) -> None:
    w, h = size
    if w * h > max_pixels:
        raise ImageInputError(_too_large_message((w, h), max_pixels))
    if min(w, h) < min_side:
        raise ImageInputError(
            f"The image is too small ({w}x{h} pixels); each side must be at least {min_side} pixels."
        )


def _too_large_message(size: tuple[int, int] | None, max_pixels: int) -> str:
    what = f" ({size[0]}x{size[1]} pixels)" if size else ""
    return f"The image is too large{what}; the limit is {max_pixels / 1e6:g} megapixels."


def _too_many_bytes(max_bytes: int) -> str:
    return f"The image file is too large; the limit is {max_bytes // (1024 * 1024)} MB."


def _short(exc: BaseException) -> str:
    """A one-line description of a decoder error (PIL messages are already readable)."""
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return msg[:160]


def _upright(im: Image.Image) -> Image.Image:
    """Apply the EXIF Orientation tag. A malformed EXIF block must not cost the user
    their (perfectly decodable) photo, so on error the pixels are used as stored."""
    try:
        return ImageOps.exif_transpose(im)
    except Exception:
        return im


def to_rgb(im: Image.Image) -> Image.Image:
    """Any PIL mode -> 8-bit RGB, alpha composited on white, high bit depths scaled."""
    mode = im.mode
    if mode == "RGB":
        return im.copy() if im.readonly else im
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return Image.fromarray(_high_depth_to_uint8(im), mode="L").convert("RGB")
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    if has_alpha:
        rgba = im.convert("RGBA")  # honours tRNS / palette transparency too
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    try:
        return im.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV
    except Exception as exc:
        raise ImageInputError(f"Images with colour mode {mode} are not supported.") from exc


def _high_depth_to_uint8(im: Image.Image) -> np.ndarray:
    """Scale a 16/32-bit integer or float greyscale image to 8 bits (not clip).

    Integer data within 0..65535 is taken as 16-bit (PNG and TIFF store 16-bit greyscale
    this way); anything else (signed, wider, float) is stretched min..max. Float data
    within 0..1 is taken as normalised.
    """
    arr = np.asarray(im)
    if arr.dtype.kind == "f":
        arr = np.nan_to_num(arr.astype(np.float64))
        lo, hi = float(arr.min()), float(arr.max())
        if lo >= 0.0 and hi <= 1.0:
            return np.round(arr * 255.0).astype(np.uint8)
    else:
        arr = arr.astype(np.int64)
        lo, hi = int(arr.min()), int(arr.max())
        if lo >= 0 and hi <= 65535:
            return ((arr * 255 + 32767) // 65535).astype(np.uint8)
    if hi <= lo:
        return np.zeros(arr.shape, dtype=np.uint8)
    return np.round((arr - lo) * (255.0 / (hi - lo))).astype(np.uint8)
