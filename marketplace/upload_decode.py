"""Proving an uploaded image decodes, without holding its decoded pixels.

`Image.load()` on a 40-megapixel PNG allocates the whole bitmap (120-160 MB) in the web process just to learn that
the file is intact; four such uploads at once took the process to 911 MB (issue #12). The header has already been
checked (size, format, pixel count) when these run; what is left is "is the compressed data complete and sound?":

- PNG: walk the chunks (CRC of each), inflate the IDAT stream in 1 MB pieces and check that it holds exactly the
  bytes the header promises, with a valid filter byte on every row. Memory: one piece, whatever the image size.
- JPEG: decode at 1/8 scale (`Image.draft`): libjpeg still reads every entropy-coded block, so truncation and
  corruption fail here, while the bitmap is 64 times smaller.
- Other formats (WebP, GIF, BMP, TIFF): a full decode, but at most `FULL_DECODES_AT_ONCE` at a time in this
  process, so their memory is bounded by that count times the pixel limit.
"""
from __future__ import annotations

import struct
import threading
import zlib

from PIL import Image

FULL_DECODES_AT_ONCE = 2
_full_decode_slots = threading.BoundedSemaphore(FULL_DECODES_AT_ONCE)
_INFLATE_PIECE = 1 << 20
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # PNG colour type -> samples per pixel
_ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


class DecodeError(ValueError):
    """The image data is damaged; the message says how."""


def decode_check(im: Image.Image, fh) -> None:
    """Raise DecodeError (or Pillow's OSError) if `im`, opened from the binary file `fh`, does not decode."""
    if im.format == "PNG":
        fh.seek(0)
        png_stream_check(fh)
    elif im.format in ("JPEG", "MPO"):
        im.draft("RGB", (max(1, im.width // 8), max(1, im.height // 8)))
        im.load()
    else:
        with _full_decode_slots:
            im.load()


def _png_raw_size(width: int, height: int, bit_depth: int, colour: int, interlaced: bool) -> tuple[int, int]:
    """(bytes of filtered scanlines the IDAT stream must inflate to, row stride or 0 when interlaced)."""
    if colour not in _CHANNELS:
        raise DecodeError(f"PNG colour type {colour} does not exist")
    bits = bit_depth * _CHANNELS[colour]

    def rows(w: int, h: int) -> int:
        return h * (1 + (w * bits + 7) // 8) if w and h else 0

    if not interlaced:
        return rows(width, height), 1 + (width * bits + 7) // 8
    total = 0
    for x0, y0, dx, dy in _ADAM7:
        total += rows((width - x0 + dx - 1) // dx if width > x0 else 0, (height - y0 + dy - 1) // dy if height > y0 else 0)
    return total, 0


def png_stream_check(fh) -> None:
    """Walk a PNG file chunk by chunk in bounded memory; raise DecodeError at the first defect."""
    if fh.read(8) != _PNG_SIGNATURE:
        raise DecodeError("not a PNG signature")
    inflate = zlib.decompressobj()
    expected = stride = produced = 0
    seen_header = seen_data = False
    while True:
        head = fh.read(8)
        if len(head) < 8:
            raise DecodeError("the file ends before the PNG end marker (truncated)")
        length, ctype = struct.unpack(">I4s", head)
        if length > 0x7FFFFFFF:
            raise DecodeError("a PNG chunk declares an impossible length")
        crc = zlib.crc32(ctype)
        remaining = length
        while remaining:
            piece = fh.read(min(remaining, _INFLATE_PIECE))
            if not piece:
                raise DecodeError("the file ends inside a PNG chunk (truncated)")
            remaining -= len(piece)
            crc = zlib.crc32(piece, crc)
            if ctype == b"IHDR":
                if len(piece) != 13:
                    raise DecodeError("the PNG header chunk is malformed")
                w, h, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", piece)
                expected, stride = _png_raw_size(w, h, depth, colour, interlace == 1)
                seen_header = True
            elif ctype == b"IDAT":
                if not seen_header:
                    raise DecodeError("PNG image data comes before its header")
                seen_data = True
                produced = _inflate(inflate, piece, produced, expected, stride)
        stored = fh.read(4)
        if len(stored) < 4 or struct.unpack(">I", stored)[0] != crc & 0xFFFFFFFF:
            raise DecodeError(f"the PNG {ctype.decode('latin-1')} chunk is corrupt (checksum mismatch)")
        if ctype == b"IEND":
            break
    if not seen_data:
        raise DecodeError("the PNG has no image data")
    try:
        produced = _account(inflate.flush(), produced, expected, stride)
    except zlib.error as exc:
        raise DecodeError(f"the PNG image data is corrupt ({exc})") from None
    if not inflate.eof or produced != expected:
        raise DecodeError(f"the PNG image data is incomplete ({produced} of {expected} bytes)")


def _inflate(inflate, data: bytes, produced: int, expected: int, stride: int) -> int:
    try:
        while data:
            out = inflate.decompress(data, _INFLATE_PIECE)
            data = inflate.unconsumed_tail
            produced = _account(out, produced, expected, stride)
            if not out:
                break
    except zlib.error as exc:
        raise DecodeError(f"the PNG image data is corrupt ({exc})") from None
    return produced


def _account(out: bytes, produced: int, expected: int, stride: int) -> int:
    """Count inflated bytes; in a non-interlaced image every row starts with a filter byte 0..4."""
    if stride and out:
        filters = out[(-produced) % stride::stride]
        if filters and max(filters) > 4:
            raise DecodeError("the PNG image data is corrupt (bad row filter)")
    produced += len(out)
    if produced > expected:
        raise DecodeError("the PNG image data is longer than its header says")
    return produced
