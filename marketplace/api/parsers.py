"""A JSON parser that refuses deep nesting with a 400.

No request body of this API nests more than a few levels, but Python's json module recurses once per level, so a
body nested a thousand deep raised RecursionError and a 500 (issue #12). Depth is checked on the raw text first
(one linear pass, before json builds anything), so a hostile body costs no more than reading it."""
import io
import re

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 32
# The largest JSON body any endpoint needs is a few hundred bytes (training parameters).
MAX_JSON_BYTES = 256 * 1024
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)


def json_depth(raw: bytes) -> int:
    """Deepest [ / { nesting in JSON text, ignoring brackets inside strings."""
    text = _STRING.sub(b'""', raw)
    depth = deepest = 0
    for ch in re.findall(rb"[\[\]{}]", text):
        depth += 1 if ch in (b"[", b"{") else -1
        deepest = max(deepest, depth)
    return deepest


class DepthLimitedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read(MAX_JSON_BYTES + 1) if stream is not None else b""
        if len(raw) > MAX_JSON_BYTES:
            raise ParseError(f"JSON bodies are limited to {MAX_JSON_BYTES // 1024} KB")
        if json_depth(raw) > MAX_DEPTH:
            raise ParseError(f"JSON nested deeper than {MAX_DEPTH} levels is refused")
        try:
            return super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError:  # belt and braces: the pre-check should make this unreachable
            raise ParseError(f"JSON nested deeper than {MAX_DEPTH} levels is refused") from None
