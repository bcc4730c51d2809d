"""Buyer use cases: a photo search (which starts a job) and its recommendations."""
from __future__ import annotations

from typing import Callable

from django.db import transaction

from marketplace.catalogue.models import Item
from marketplace.jobs.services import SearchHit, job_create
from marketplace.media_names import stored_upload_name
from marketplace.request_timing import timed_phase
from marketplace.uploads import check_image_upload

from .models import Recommendation, SearchQuery


def search_query_create(*, buyer, upload, garment_type: str):
    with timed_phase("validate"):
        checked = check_image_upload(upload)
    upload.name = stored_upload_name(checked.format)  # the client's name and extension are never stored
    query = SearchQuery(buyer=buyer, garment_type=garment_type, width=checked.width, height=checked.height)
    # As for a listing photo (marketplace.listings.services): the file before the transaction, the two rows in it.
    with timed_phase("file"):
        query.image.save(upload.name, upload, save=False)
    try:
        with timed_phase("db"), transaction.atomic():
            with timed_phase("insert"):
                query.save()
                job = job_create(owner=buyer, garment_type=garment_type, search_query=query)
    except BaseException:
        query.image.delete(save=False)
        raise
    return query, job


def recommendations_replace(query: SearchQuery, hits: list[SearchHit], limit: int,
                            low_confidence: Callable[[float], bool] = lambda score: False) -> list[Recommendation]:
    """Replace the query's recommendations: one row per item (its best-scoring stock image), in-stock items that
    are not the buyer's own. The index already filters both inside the vector query; this is the guard for an index
    one task behind a stock change. `low_confidence(score)` marks rows that are not confident matches.

    Call inside the transaction that finishes the job, so a re-run never duplicates."""
    query.recommendations.all().delete()
    in_stock = set(Item.objects.filter(pk__in={h.item_id for h in hits}, in_stock=True)
                   .exclude(seller_id=query.buyer_id).values_list("pk", flat=True))
    seen, rows = set(), []
    for hit in sorted(hits, key=lambda h: -h.score):
        if hit.item_id in seen or hit.item_id not in in_stock:
            continue
        seen.add(hit.item_id)
        rows.append(Recommendation(query=query, item_id=hit.item_id, rank=len(rows) + 1, score=hit.score,
                                   low_confidence=bool(low_confidence(hit.score))))
        if len(rows) == limit:
            break
    return Recommendation.objects.bulk_create(rows)


def job_results_write(job, hits: list[SearchHit], low_confidence: Callable[[float], bool]) -> None:
    """A finished search job's results (registered with marketplace.jobs.completion in ShoppingConfig.ready)."""
    from django.conf import settings

    recommendations_replace(job.search_query, hits, limit=settings.RECOMMENDATIONS_PER_QUERY,
                            low_confidence=low_confidence)
