"""Read-only views of the catalogue's vector index, for the staff console and the API's queue overview."""
from __future__ import annotations

from .models import IndexCollection, StockImage


def _collection(row: IndexCollection | None) -> dict | None:
    return None if row is None else {
        "name": row.name, "embedder_version": row.embedder_version, "build": row.build, "state": row.state,
        "done": row.done, "total": row.total, "progress": round(row.progress, 3), "reason": row.reason,
        "filling": row.finished_at is None, "error": row.error}


def stock_images_to_index() -> int:
    """Stock images the vector index has not caught up with (new or changed: `StockImage.index_dirty`)."""
    return StockImage.objects.filter(index_dirty=True).count()


def index_overview() -> dict:
    """The live vector-index collection and any build in progress (workers.stages.index_lifecycle keeps these rows)."""
    S = IndexCollection.State
    return {"live": _collection(IndexCollection.objects.filter(state=S.LIVE).first()),
            "building": _collection(IndexCollection.objects.filter(state=S.BUILDING).first()),
            "dirty_stock_images": stock_images_to_index()}
