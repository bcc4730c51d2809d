"""The Milvus vector index of catalogue stock images.

One collection per embedder version (`stock_images_<version>`): a new descriptor never mixes with old vectors, and
a re-index fills the new collection while the old one keeps serving. Rows are keyed by the StockImage primary key,
so re-indexing an image is an upsert, never a duplicate.

`uri` is either a file path (milvus-lite, embedded: exactly ONE process may open a given file, so under the embedded
default only the `index` Celery worker, concurrency 1, ever constructs a VectorIndex) or a server URI such as
`http://milvus:19530` (any number of processes).

Measured on milvus-lite 2.5.1 (shared/FACTS.md): inserts run at ~20k vectors/s in calls of 1,000 rows and crawl at
~142/s in calls of 20,000, hence `INSERT_BATCH`; FLAT is exact (recall 1.0) and ~8 ms a query at 100k x 128, which
is ample for a catalogue of this size, and the only other local option is IVF_FLAT.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

INSERT_BATCH = 1000
SEARCH_BATCH = 256
_CATEGORY_MAX = 16


@dataclass(frozen=True)
class Hit:
    id: int  # StockImage primary key
    item_id: int
    score: float  # inner product of unit vectors = cosine similarity


def collection_name(embedder_version: str, prefix: str = "stock_images") -> str:
    """Milvus names allow letters, digits and underscores only."""
    return re.sub(r"[^0-9A-Za-z_]", "_", f"{prefix}_{embedder_version}")


class VectorIndex:
    """A thin, typed wrapper over one Milvus collection (created on first use)."""

    def __init__(self, uri: str, collection: str, dim: int):
        from pymilvus import MilvusClient  # imported here: pymilvus is slow to import and only index workers need it

        self.uri, self.collection, self.dim = uri, collection, dim
        self._client = MilvusClient(uri=uri)
        self._ensure_collection()

    def _ensure_collection(self) -> None:
        from pymilvus import DataType, MilvusClient

        if self._client.has_collection(self.collection):
            self._client.load_collection(self.collection)
            return
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("item_id", DataType.INT64)
        schema.add_field("category", DataType.VARCHAR, max_length=_CATEGORY_MAX)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        index_params = self._client.prepare_index_params()
        index_params.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
        self._client.create_collection(self.collection, schema=schema, index_params=index_params)
        self._client.load_collection(self.collection)

    def upsert(self, ids: Sequence[int], vectors: np.ndarray, item_ids: Sequence[int], categories: Sequence[str]) -> int:
        """Insert or replace rows; returns the number written. Flushes so a following search sees them."""
        vectors = np.asarray(vectors, np.float32)
        if not (len(ids) == len(vectors) == len(item_ids) == len(categories)):
            raise ValueError("ids, vectors, item_ids and categories must have the same length")
        if len(ids) and vectors.shape[1] != self.dim:
            raise ValueError(f"vectors have dimension {vectors.shape[1]}, the collection expects {self.dim}")
        for start in range(0, len(ids), INSERT_BATCH):
            rows = [
                {"id": int(i), "item_id": int(it), "category": str(c)[:_CATEGORY_MAX], "vector": v.tolist()}
                for i, it, c, v in zip(
                    ids[start:start + INSERT_BATCH], item_ids[start:start + INSERT_BATCH],
                    categories[start:start + INSERT_BATCH], vectors[start:start + INSERT_BATCH],
                )
            ]
            self._client.upsert(self.collection, data=rows)
        if len(ids):
            self._client.flush(self.collection)
        return len(ids)

    def search(self, vectors: np.ndarray, k: int, category: str | None = None) -> list[list[Hit]]:
        """The k nearest stock images for each query vector, best first."""
        vectors = np.atleast_2d(np.asarray(vectors, np.float32))
        flt = f'category == "{category}"' if category else ""
        out: list[list[Hit]] = []
        for start in range(0, len(vectors), SEARCH_BATCH):
            res = self._client.search(
                self.collection, data=[v.tolist() for v in vectors[start:start + SEARCH_BATCH]], limit=k,
                filter=flt, output_fields=["item_id"], search_params={"metric_type": "IP"},
            )
            out.extend(
                [Hit(int(h["id"]), int(h["entity"]["item_id"]), float(h["distance"])) for h in hits] for hits in res
            )
        return out

    def delete(self, ids: Sequence[int]) -> None:
        if ids:
            self._client.delete(self.collection, ids=[int(i) for i in ids])
            self._client.flush(self.collection)

    def count(self) -> int:
        res = self._client.query(self.collection, filter="", output_fields=["count(*)"])
        return int(res[0]["count(*)"])

    def drop(self) -> None:
        self._client.drop_collection(self.collection)

    def clear(self) -> None:
        """Remove every row (drop and re-create the collection): the first step of a full rebuild."""
        self.drop()
        self._ensure_collection()

    def close(self) -> None:
        self._client.close()
