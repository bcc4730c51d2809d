"""The Milvus vector index of catalogue stock images.

One collection per schema and embedder version (`stock_images_v<SCHEMA_VERSION>_<version>`): a new descriptor never
mixes with old vectors, a file written with an older schema is never reopened with the wrong fields, and a re-index
fills the new collection while the old one keeps serving. Rows are keyed by the StockImage primary key, so
re-indexing an image is an upsert, never a duplicate.

Scalar fields beside the vector (`item_id`, `category`, `in_stock`) let a search filter *inside* the vector query
(`category == "top" and in_stock == true and item_id not in [...]`), so the k hits asked for are k usable hits
rather than k hits of which the caller throws some away.

`uri` is either a file path (milvus-lite, embedded: exactly ONE process may open a given file, so under the embedded
default only the `index` Celery worker, concurrency 1, ever constructs a VectorIndex) or a server URI such as
`http://milvus:19530` (any number of processes).

Measured on milvus-lite 2.5.1 (docs/FACTS.md): inserts crawl at ~142/s in calls of 20,000 rows, hence calls of
`INSERT_BATCH`; requests built column-wise with the vectors as raw bytes (`_request`), two in flight, insert 204-d
vectors at ~45k/s into milvus-lite and ~35k/s into a server at 1M rows, against 13k/s through MilvusClient's row
dicts (bench/bench_search.py); FLAT is exact (recall 1.0) and ~8 ms a query at 100k x 128, and the
only other local option is IVF_FLAT, used once a collection is created for LITE_IVF_MIN_ROWS or more (`index_spec`).

On a Milvus server (`bench/bench_search.py`): HNSW; Session consistency, so that the writing process sees its own
writes without a flush (a flush costs seconds there: only a finished build flushes, to seal and index its segments
before it goes live) while searches never wait for a time tick; aliases (`point_alias`) for the blue/green switch.
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

INSERT_BATCH = 1000
WRITES_IN_FLIGHT = 2  # write calls sent before the first is waited for (bench/bench_search.py measured 1-2)
SEARCH_BATCH = 256
# Index types (bench/bench_search.py measured them): a server builds HNSW, whose recall@10 ef sets at search time;
# milvus-lite offers FLAT (exact) and IVF_FLAT, which scans NPROBE of NLIST clusters.
HNSW_BUILD = {"M": 16, "efConstruction": 200}
HNSW_EF = 96
LITE_IVF_MIN_ROWS = 200_000
IVF_NPROBE = 32
_CATEGORY_MAX = 16
# Bump when the collection's fields change: the version is part of the collection name (see collection_name).
SCHEMA_VERSION = 2
log = logging.getLogger(__name__)


# A search the server's proxy could not route (its shard leaders were being refreshed: an alias moved) is sent
# again after each of these pauses (seconds): see VectorIndex._search_once.
SEARCH_RETRY_PAUSES = (0.05, 0.2, 0.5)
_ROUTING_ERRORS = ("failed to get delegator", "can not find client of node", "shard leader")


def is_routing_error(exc: BaseException) -> bool:
    """True for a server's answer that it could not route a request to a query node this instant (a proxy between
    shard leaders), which says nothing about the collection: worth sending again. (By the class's name: pymilvus is
    only imported where an index is opened.)"""
    text = str(exc).lower()
    return type(exc).__name__ == "MilvusException" and any(marker in text for marker in _ROUTING_ERRORS)


@dataclass(frozen=True)
class Hit:
    id: int  # StockImage primary key
    item_id: int
    score: float  # inner product of unit vectors = cosine similarity


def collection_name(embedder_version: str, prefix: str = "stock_images", build: int | None = None) -> str:
    """`stock_images_v<SCHEMA_VERSION>_<embedder version>`; Milvus names allow letters, digits and underscores only.
    `build` (the IndexCollection build number, blue/green re-indexing) appends `_b<build>`."""
    name = f"{prefix}_v{SCHEMA_VERSION}_{embedder_version}" + (f"_b{int(build)}" if build is not None else "")
    return re.sub(r"[^0-9A-Za-z_]", "_", name)


def search_filter(category: str | None = None, in_stock_only: bool = False,
                  exclude_item_ids: Sequence[int] | None = None) -> str:
    """The Milvus boolean expression for a search ("" = no filter). An empty exclusion list adds no clause
    (milvus-lite 2.5.1 fails on `item_id not in []`)."""
    clauses = []
    if category:
        if not re.fullmatch(r"[0-9A-Za-z_+-]+", category):
            raise ValueError(f"invalid category {category!r}")
        clauses.append(f'category == "{category}"')
    if in_stock_only:
        clauses.append("in_stock == true")
    excluded = sorted({int(i) for i in exclude_item_ids or ()})
    if excluded:
        clauses.append(f"item_id not in [{', '.join(map(str, excluded))}]")
    return " and ".join(clauses)


def is_server(uri: str) -> bool:
    """A Milvus server URI (`http://host:19530`) rather than a milvus-lite file path."""
    return "://" in uri


def index_spec(uri: str, expected_rows: int = 0) -> tuple[str, dict, dict]:
    """(index type, build parameters, search parameters) for a collection on `uri` expected to hold `expected_rows`.

    Server: HNSW (approximate, sub-millisecond at 1M where an exact scan takes tens of ms; ef=HNSW_EF keeps
    recall@10 >= 0.95 on clustered catalogue vectors). milvus-lite: FLAT (exact) until LITE_IVF_MIN_ROWS, then IVF_FLAT
    with nlist ~ 4 sqrt(n): below that size an exact scan is already fast enough and recall 1.0 costs nothing."""
    if is_server(uri):
        return "HNSW", dict(HNSW_BUILD), {"ef": HNSW_EF}
    if expected_rows >= LITE_IVF_MIN_ROWS:
        nlist = int(min(16384, 4 * expected_rows ** 0.5))
        return "IVF_FLAT", {"nlist": nlist}, {"nprobe": IVF_NPROBE}
    return "FLAT", {}, {}


class VectorIndex:
    """A thin, typed wrapper over one Milvus collection (created on first use)."""

    def __init__(self, uri: str, collection: str, dim: int, *, client=None, expected_rows: int = 0,
                 create: bool = True, timeout: int | None = None):
        """`client`: share the connection of another VectorIndex (`open`); only the one that made it closes it.
        `expected_rows`: the size a new collection is built for (picks its index type: `index_spec`). `create=False`:
        never create `collection` (an alias: searching through a name that is not there must fail, not make an empty
        collection of that name). `timeout`: whole seconds that connecting, and each search, may take (pymilvus
        otherwise retries an unreachable server for a long while): for a reader that has somewhere else to go."""
        milvus = _pymilvus()
        self.uri, self.collection, self.dim, self.timeout = uri, collection, dim, timeout
        self.server = is_server(uri)
        self._owns_client = client is None
        timeout_kw = {} if timeout is None else {"timeout": timeout}
        self._client = milvus.MilvusClient(uri=uri, **timeout_kw) if client is None else client
        self._search_params: dict | None = None
        if create:
            self._ensure_collection(expected_rows)

    def open(self, collection: str, dim: int, expected_rows: int = 0, create: bool = True) -> "VectorIndex":
        """Another collection (created when missing) through this index's connection: milvus-lite allows one process
        per file, and one client per process is enough for any number of collections."""
        return VectorIndex(self.uri, collection, dim, client=self._client, expected_rows=expected_rows, create=create,
                           timeout=self.timeout)

    # --- aliases (Milvus server only: milvus-lite 2.5.1 answers UNIMPLEMENTED) ------------------------------------
    def point_alias(self, alias: str, collection: str) -> None:
        """Make `alias` name `collection` (created, or moved in one server-side step: a search through the alias
        sees the old collection or the new one, never neither)."""
        current = self.alias_target(alias)
        if current == collection:
            return
        if current is None:
            self._client.create_alias(collection, alias)
        else:
            self._client.alter_alias(collection, alias)

    def alias_target(self, alias: str) -> str | None:
        """The collection `alias` names; None when it is no alias (describe_collection resolves an alias to its
        collection; describe_alias would log an error for every name that is none)."""
        if not self.server or not self._client.has_collection(alias):
            return None
        target = self._client.describe_collection(alias).get("collection_name")
        return target if target and target != alias else None

    def aliases_of(self, collection: str) -> list[str]:
        return list(self._client.list_aliases(collection).get("aliases", [])) if self.server else []

    def collections(self, prefix: str = "") -> list[str]:
        """Names of the collections in the store that start with `prefix`."""
        return sorted(n for n in self._client.list_collections() if n.startswith(prefix))

    def drop_collection(self, name: str) -> bool:
        """Drop the collection `name` if it exists (any collection of the store, not only this one)."""
        if not self._client.has_collection(name) or name in self._alias_names(name):
            return False
        for alias in self.aliases_of(name):  # Milvus 2.4+ refuses to drop a collection that an alias names
            self._client.drop_alias(alias)
        self._client.drop_collection(name)
        return True

    def _alias_names(self, name: str) -> set[str]:
        """{name} when `name` is an alias on the server (has_collection answers True for an alias too)."""
        return {name} if self.server and self.alias_target(name) is not None else set()

    def _ensure_collection(self, expected_rows: int = 0) -> None:
        milvus = _pymilvus()
        DataType = milvus.DataType
        if self._client.has_collection(self.collection):
            self._client.load_collection(self.collection)
            return
        schema = milvus.MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("item_id", DataType.INT64)
        schema.add_field("category", DataType.VARCHAR, max_length=_CATEGORY_MAX)
        schema.add_field("in_stock", DataType.BOOL)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        kind, build, _ = index_spec(self.uri, expected_rows)
        index_params = self._client.prepare_index_params()
        index_params.add_index(field_name="vector", index_type=kind, metric_type="IP", params=build)
        # Session: a process reads its own writes; a pure reader does not wait. Strong made every server search wait
        # ~200-400 ms for the next time tick (measured); a finished build makes its rows visible to all with
        # `count(strong=True)` before it goes live.
        extra = {"consistency_level": "Session"} if self.server else {}
        self._client.create_collection(self.collection, schema=schema, index_params=index_params, **extra)
        self._client.load_collection(self.collection)

    def index_type(self) -> str:
        """The vector index type of this collection (or of the collection an alias names), as the store reports."""
        limit = {"timeout": self.timeout} if self.timeout is not None else {}
        info = self._client.describe_index(self.collection, index_name="vector", **limit) if self.server else \
            self._client.describe_index(self.collection, self._client.list_indexes(self.collection, **limit)[0],
                                        **limit)
        return str(info.get("index_type", ""))

    def search_params(self) -> dict:
        """Search parameters for this collection's index type (read once: an alias may name a collection created
        by another process)."""
        if self._search_params is None:
            kind = self.index_type()
            params = {"HNSW": {"ef": HNSW_EF}, "IVF_FLAT": {"nprobe": IVF_NPROBE}}.get(kind, {})
            self._search_params = {"metric_type": "IP", "params": params}
        return self._search_params

    def _write(self, method: str, ids, vectors, item_ids, categories, in_stock) -> int:
        """Validate, then send rows in calls of INSERT_BATCH through `method` ("upsert" or "insert"), WRITES_IN_FLIGHT
        calls at a time; flush at the end (milvus-lite) so a following search sees them.

        The request is built column by column (`_request`), not from row dicts through MilvusClient: pymilvus packs a
        row's vector float by float (measured: 40 % of an insert's wall time at 204-d), while a packed float field
        is raw little-endian float32 bytes on the wire, so it is handed over in one copy. Two calls in flight let the
        next request be built while the store works on the last one."""
        vectors = np.asarray(vectors, np.float32)
        if not (len(ids) == len(vectors) == len(item_ids) == len(categories) == len(in_stock)):
            raise ValueError("ids, vectors, item_ids, categories and in_stock must have the same length")
        if len(ids) and (vectors.ndim != 2 or vectors.shape[1] != self.dim):
            raise ValueError(f"vectors have dimension {vectors.shape[-1]}, the collection expects {self.dim}")
        if len(ids) and not np.isfinite(vectors).all():
            raise ValueError("vectors must be finite")
        handler = self._client._get_connection()
        send = handler.upsert if method == "upsert" else handler.batch_insert
        pending: list = []
        for start in range(0, len(ids), INSERT_BATCH):
            end = start + INSERT_BATCH
            request = _request(method, self.collection, ids[start:end], vectors[start:end], item_ids[start:end],
                               categories[start:end], in_stock[start:end])
            # `schema` only keeps pymilvus from describing the collection before every call: a prebuilt request
            # does not need the schema.
            pending.append(send(self.collection, [], **{f"{method}_param": request}, schema=_PREBUILT, _async=True))
            if len(pending) >= WRITES_IN_FLIGHT:
                _settle(pending.pop(0))
        for future in pending:
            _settle(future)
        if len(ids) and not self.server:  # a server collection is Strong: writes are visible without a flush
            self._client.flush(self.collection)
        return len(ids)

    def seal(self) -> None:
        """Flush (a server seals the collection's growing segments and builds their index: a finished build calls
        it before it goes live, so its first searches do not scan unindexed rows)."""
        self._client.flush(self.collection)

    def upsert(self, ids: Sequence[int], vectors: np.ndarray, item_ids: Sequence[int], categories: Sequence[str],
               in_stock: Sequence[bool]) -> int:
        """Insert or replace rows; returns the number written. Flushes so a following search sees them.
        `in_stock` is the item's stock state: re-upsert an item's rows when it changes."""
        return self._write("upsert", ids, vectors, item_ids, categories, in_stock)

    def search(self, vectors: np.ndarray, k: int, category: str | None = None, in_stock_only: bool = False,
               exclude_item_ids: Sequence[int] | None = None) -> list[list[Hit]]:
        """The k nearest stock images for each query vector, best first, among rows of `category` (all when None),
        of in-stock items only when `in_stock_only`, and never of an item in `exclude_item_ids`. The filter runs
        inside the vector query, so up to k hits come back even when most of the catalogue is filtered out."""
        vectors = np.atleast_2d(np.asarray(vectors, np.float32))
        flt = search_filter(category, in_stock_only, exclude_item_ids)
        limit = {"timeout": self.timeout} if self.timeout is not None else {}
        out: list[list[Hit]] = []
        for start in range(0, len(vectors), SEARCH_BATCH):
            res = self._search_once(
                data=[v.tolist() for v in vectors[start:start + SEARCH_BATCH]], limit=k,
                filter=flt, output_fields=["item_id"], search_params=self.search_params(), **limit,
            )
            out.extend(
                [Hit(int(h["id"]), int(h["entity"]["item_id"]), float(h["distance"])) for h in hits] for hits in res
            )
        return out

    def _search_once(self, **kwargs) -> list:
        """One search call; on a server, a search that meets the server between shard leaders is sent again.

        While an alias moves to another collection (a re-index going live) the server's proxy refreshes its shard
        leaders, and a search landing in that moment can fail with "failed to get delegator -1 for channel ...: can
        not find client of node -1" although both collections are loaded and whole (seen in CI on the `milvus` 2.3.5
        standalone server, tests/workers/test_milvus_server.py). Such an answer is about routing, never about the
        data, so it is retried after a short pause, SEARCH_RETRY_PAUSES in all; any other error goes to the caller
        at once."""
        for pause in SEARCH_RETRY_PAUSES if self.server else ():
            try:
                return self._client.search(self.collection, **kwargs)
            except Exception as exc:
                if not is_routing_error(exc):
                    raise
                log.warning("search of %s between shard leaders, sent again in %.2f s: %s", self.collection, pause,
                            str(exc)[:200])
                time.sleep(pause)
        return self._client.search(self.collection, **kwargs)

    def insert(self, ids: Sequence[int], vectors: np.ndarray, item_ids: Sequence[int], categories: Sequence[str],
               in_stock: Sequence[bool]) -> int:
        """Append rows (a fresh collection being built: faster than upsert, but an id inserted twice is stored twice,
        so the caller makes sure it is not: see `delete_above`). Calls of INSERT_BATCH rows; flushes at the end."""
        return self._write("insert", ids, vectors, item_ids, categories, in_stock)

    def delete_above(self, id_: int) -> None:
        """Remove every row whose id is greater than `id_` (what a crashed build batch left past its cursor)."""
        self._client.delete(self.collection, filter=f"id > {int(id_)}")
        if not self.server:
            self._client.flush(self.collection)

    def delete(self, ids: Sequence[int]) -> None:
        if ids:
            self._client.delete(self.collection, ids=[int(i) for i in ids])
            if not self.server:
                self._client.flush(self.collection)

    def count(self, strong: bool = False) -> int:
        """Rows in the collection. `strong` (server): wait until every write acknowledged so far is visible, to this
        and to every other process's searches (they go through the same query nodes)."""
        extra = {"consistency_level": "Strong"} if strong and self.server else {}
        res = self._client.query(self.collection, filter="", output_fields=["count(*)"], **extra)
        return int(res[0]["count(*)"])

    def drop(self) -> None:
        self._client.drop_collection(self.collection)

    def clear(self, expected_rows: int = 0) -> None:
        """Remove every row (drop and re-create the collection): the first step of a full rebuild."""
        self.drop()
        self._search_params = None
        self._ensure_collection(expected_rows)

    def close(self) -> None:
        if self._owns_client:
            self._client.close()


_PREBUILT = {"fields": []}


def _pymilvus():
    """The pymilvus package (with its generated protobuf requests), imported when this process first opens an index."""
    # the rest of this module (collection_name, index_spec, is_routing_error) is used by processes that open no index:
    # lazy: pymilvus (grpc, protobuf: ~1 s to import) loads only in a process that opens one
    import pymilvus.grpc_gen.milvus_pb2

    return pymilvus


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if not n:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def _request(method: str, collection: str, ids, vectors: np.ndarray, item_ids, categories, in_stock):
    """An InsertRequest / UpsertRequest for the collection's fields (see `_ensure_collection`), built column-wise.
    The vector column is parsed from its wire form (field 1 of FloatArray, packed: tag 0x0a, length, the bytes),
    which is exactly what the protobuf runtime would have produced from a list of floats, at memcpy speed."""
    milvus = _pymilvus()
    DataType, milvus_pb2 = milvus.DataType, milvus.grpc_gen.milvus_pb2
    kind = milvus_pb2.UpsertRequest if method == "upsert" else milvus_pb2.InsertRequest
    request = kind(collection_name=collection, num_rows=len(ids))
    columns = (("id", DataType.INT64, [int(i) for i in ids]), ("item_id", DataType.INT64, [int(i) for i in item_ids]),
               ("category", DataType.VARCHAR, [str(c)[:_CATEGORY_MAX] for c in categories]),
               ("in_stock", DataType.BOOL, [bool(b) for b in in_stock]))
    for name, dtype, values in columns:
        field = request.fields_data.add()
        field.field_name, field.type = name, dtype
        scalars = field.scalars
        {DataType.INT64: scalars.long_data, DataType.VARCHAR: scalars.string_data,
         DataType.BOOL: scalars.bool_data}[dtype].data.extend(values)
    field = request.fields_data.add()
    field.field_name, field.type = "vector", DataType.FLOAT_VECTOR
    field.vectors.dim = vectors.shape[1]
    raw = np.ascontiguousarray(vectors, dtype="<f4").tobytes()
    field.vectors.float_vector.MergeFromString(b"\x0a" + _varint(len(raw)) + raw)
    return request


def _settle(future) -> None:
    """Wait for one write; a failed one raises (MutationFuture.result raises the store's error)."""
    future.result()

