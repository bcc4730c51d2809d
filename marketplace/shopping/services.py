"""Buyer use cases: a photo search (which starts a job) and its recommendations."""
from __future__ import annotations

from typing import Callable, Collection, Sequence

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
                job = job_create(owner_id=buyer.pk, garment_type=garment_type, search_query=query)
    except BaseException:
        query.image.delete(save=False)
        raise
    return query, job


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
    from django.conf import settings

    recommendations_replace([(job.search_query, hits, low) for job, hits, low in results],
                            limit=settings.RECOMMENDATIONS_PER_QUERY,
                            first={job.search_query_id for job, _, _ in results if job.pk in first})
