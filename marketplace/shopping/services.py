"""Buyer use cases: a photo search (which starts a job) and its recommendations."""
from __future__ import annotations

from typing import Callable, Collection, Sequence

from django.conf import settings

from marketplace.catalogue.models import Item
from marketplace.jobs.photo_jobs import SearchHit, job_create
from marketplace.photos import uploaded_photo_store

from .models import Recommendation, SearchQuery


def search_query_create(*, buyer, upload, garment_type: str):
    """Store the search photo and its job in one transaction; the job is published on commit. Raises UploadRejected."""
    return uploaded_photo_store(
        SearchQuery(buyer=buyer, garment_type=garment_type), upload,
        lambda query: job_create(owner_id=buyer.pk, garment_type=garment_type, search_query=query))


def recommendations_replace(results: Sequence[tuple[SearchQuery, list[SearchHit], Callable[[float], bool]]],
                            limit: int, first: Collection[int] = ()) -> list[Recommendation]:
    """Replace each query's recommendations: one row per item (its best-scoring stock image), in-stock items that
    are not the buyer's own. The index already filters both inside the vector query; this is the guard for an index
    one task behind a stock change. `results`: (query, hits, low_confidence), where low_confidence(score) marks rows
    that are not confident matches.

    Call inside the transaction that finishes the jobs, so a re-run never duplicates. All the queries of a batch take
    one delete, one read of the items and one insert; `first`: queries known to have none yet (their job's first
    run: marketplace.jobs.completion), not deleted from."""
    known = [query.pk for query, _, _ in results if query.pk not in first]
    if known:
        Recommendation.objects.filter(query_id__in=known).delete()
    seller_of = dict(Item.objects.filter(pk__in={h.item_id for _, hits, _ in results for h in hits}, in_stock=True)
                     .values_list("pk", "seller_id"))
    rows = []
    for query, hits, low_confidence in results:
        seen: set[int] = set()
        for hit in sorted(hits, key=lambda h: -h.score):
            if hit.item_id in seen or hit.item_id not in seller_of or seller_of[hit.item_id] == query.buyer_id:
                continue
            seen.add(hit.item_id)
            rows.append(Recommendation(query=query, item_id=hit.item_id, rank=len(seen), score=hit.score,
                                       low_confidence=bool(low_confidence(hit.score))))
            if len(seen) == limit:
                break
    return Recommendation.objects.bulk_create(rows)


def jobs_results_write(results, first: Collection[int] = ()) -> None:
    """Finished search jobs' results, (job, hits, low_confidence) each; `first`: ids of jobs on their first run
    (registered with marketplace.jobs.completion in ShoppingConfig.ready)."""
    recommendations_replace([(job.search_query, hits, low) for job, hits, low in results],
                            limit=settings.RECOMMENDATIONS_PER_QUERY,
                            first={job.search_query_id for job, _, _ in results if job.pk in first})
