"""Pagination with bounds: `limit` and `offset` out of range answer 400 with a reason.

DRF's LimitOffsetPagination silently falls back on a bad `limit` and passes any `offset` to the database, where
SQLite overflows on 2**63 and the request ends in a 500 (issue #12). Here both are parsed strictly and bounded, and
the bounds are in the OpenAPI schema so clients (and the fuzzer) know them."""
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination

MAX_LIMIT = 200
MAX_OFFSET = 1_000_000_000


def _bounded_int(request, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > len(str(high)) or not low <= int(raw) <= high:
        raise ValidationError({name: [f"must be a whole number from {low} to {high}"]})
    return int(raw)


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = MAX_LIMIT

    def get_limit(self, request):
        return _bounded_int(request, self.limit_query_param, self.default_limit, 1, self.max_limit)

    def get_offset(self, request):
        return _bounded_int(request, self.offset_query_param, 0, 0, MAX_OFFSET)

    def get_schema_operation_parameters(self, view):
        params = super().get_schema_operation_parameters(view)
        bounds = {self.limit_query_param: (1, self.max_limit), self.offset_query_param: (0, MAX_OFFSET)}
        for p in params:
            low, high = bounds[p["name"]]
            p["schema"] = {**p["schema"], "minimum": low, "maximum": high}
        return params
