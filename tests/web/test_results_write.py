"""The results of a batch of jobs are written together (one read, one delete, one insert for all of them): each
photo's and each query's rows must still be exactly what writing them one by one gave."""
import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from marketplace.catalogue.models import Item, StockImage
from marketplace.jobs import photo_jobs
from marketplace.jobs.models import ImageJob
from marketplace.jobs.photo_jobs import Completion, SearchHit
from marketplace.listings.models import Listing, ListingPhoto, Suggestion
from marketplace.listings.services import suggestions_replace
from marketplace.shopping.models import Recommendation, SearchQuery
from marketplace.shopping.services import recommendations_replace
from tests.conftest import image_bytes

pytestmark = pytest.mark.django_db
S = ImageJob.State


def user(name: str):
    return get_user_model().objects.create(username=name)


@pytest.fixture
def shop(media_root):
    """Four items of a shop, one stock image each; the third is out of stock."""
    owner = user("shop")
    items = [Item.objects.create(title=f"i{n}", price=1, seller=owner, in_stock=n != 2) for n in range(4)]
    stock = [StockImage.objects.create(item=it, image=ContentFile(image_bytes(), name="s.jpg")) for it in items]
    return owner, stock


def hits_of(stock, scores) -> list[SearchHit]:
    return [SearchHit(s.pk, s.item_id, score) for s, score in zip(stock, scores)]


def photo_of(seller) -> ListingPhoto:
    listing = Listing.objects.create(seller=seller, title="t")
    return ListingPhoto.objects.create(listing=listing, image=ContentFile(image_bytes(), name="p.jpg"))


def test_suggestions_of_several_photos_keep_each_sellers_decisions(shop):
    _, stock = shop
    sue = user("sue")
    decided, fresh = photo_of(sue), photo_of(sue)
    Suggestion.objects.create(photo=decided, stock_image=stock[1], rank=1, score=0.5, status=Suggestion.Status.ACCEPTED)
    Suggestion.objects.create(photo=decided, stock_image=stock[3], rank=2, score=0.4, status=Suggestion.Status.PROPOSED)
    hits = hits_of(stock, [0.9, 0.8, 0.7, 0.6]) + [SearchHit(stock[0].pk, stock[0].item_id, 0.1)]  # a duplicate
    suggestions_replace([(decided, hits, lambda score: score < 0.75), (fresh, hits[:2], lambda score: False)],
                        limit=3)
    rows = {(r.photo_id, r.rank): (r.stock_image_id, r.status, r.low_confidence) for r in Suggestion.objects.all()}
    assert rows == {
        (decided.pk, 1): (stock[0].pk, "proposed", False),
        (decided.pk, 2): (stock[1].pk, "accepted", False),  # the seller's accept survives the re-run
        (decided.pk, 3): (stock[2].pk, "proposed", True),  # limit 3: stock[3] is gone
        (fresh.pk, 1): (stock[0].pk, "proposed", False),
        (fresh.pk, 2): (stock[1].pk, "proposed", False),  # the other photo's accept is not this one's
    }


def test_recommendations_of_several_buyers_leave_out_each_buyers_own_items(shop):
    owner, stock = shop
    mine = SearchQuery.objects.create(buyer=owner, image=ContentFile(image_bytes(), name="q.jpg"))
    theirs = SearchQuery.objects.create(buyer=user("bob"), image=ContentFile(image_bytes(), name="q.jpg"))
    Recommendation.objects.create(query=theirs, item=stock[3].item, rank=1, score=0.2)  # an earlier run's row
    hits = hits_of(stock, [0.6, 0.9, 0.8, 0.7])
    recommendations_replace([(mine, hits, lambda score: False), (theirs, hits, lambda score: score < 0.65)], limit=2)
    assert not Recommendation.objects.filter(query=mine).exists()  # every item is the shop's own
    rows = list(Recommendation.objects.filter(query=theirs).order_by("rank")
                .values_list("item_id", "rank", "low_confidence"))
    # best first, out-of-stock stock[2] left out, two at most; the earlier row replaced
    assert rows == [(stock[1].item_id, 1, False), (stock[3].item_id, 2, False)]


def test_a_batch_ends_only_the_jobs_it_still_holds_and_writes_only_their_results(shop):
    _, stock = shop
    sue = user("sue")
    jobs = [ImageJob.objects.create(kind="listing_photo", owner=sue, listing_photo=photo_of(sue),
                                    state=S.GENERATING, claimed_by="batch") for _ in range(3)]
    ImageJob.objects.filter(pk=jobs[1].pk).update(claimed_by="another")  # its lease lapsed and another took it
    ending = [(job, Completion(job.pk, hits_of(stock, [0.9, 0.8]), {"search": 1.0}, confident=True,
                               confidence_threshold=0.85, fields={"timings": {"stage1": 5.0}, "model_label": "v"}))
              for job in jobs]
    with transaction.atomic():
        done = photo_jobs.jobs_complete_held(ending, "batch", S.GENERATING)
    assert done == [jobs[0].pk, jobs[2].pk]
    for job in (jobs[0], jobs[2]):
        row = ImageJob.objects.get(pk=job.pk)
        assert (row.state, row.claimed_by, row.model_label) == (S.DONE, "", "v")
        assert row.timings == {"stage1": 5.0, "search": 1.0}
        assert list(Suggestion.objects.filter(photo=job.listing_photo).order_by("rank")
                    .values_list("stock_image_id", "low_confidence")) == [(stock[0].pk, False), (stock[1].pk, True)]
    lost = ImageJob.objects.get(pk=jobs[1].pk)
    assert (lost.state, lost.claimed_by) == (S.GENERATING, "another")
    assert not Suggestion.objects.filter(photo=jobs[1].listing_photo).exists()


def test_a_first_run_is_not_read_for_earlier_suggestions_and_cannot_duplicate_them(shop, django_assert_num_queries):
    """A job on its first run (no generated image when claimed) has no results: its photo is not read for them.
    Were it wrong, the unique constraints fail the insert (the caller's commit is rolled back) rather than add a
    second set."""
    _, stock = shop
    photo = photo_of(user("sue"))
    hits = hits_of(stock, [0.9, 0.8])
    with django_assert_num_queries(1):  # the insert alone
        suggestions_replace([(photo, hits, lambda score: False)], limit=8, first={photo.pk})
    with pytest.raises(IntegrityError), transaction.atomic():
        suggestions_replace([(photo, hits, lambda score: False)], limit=8, first={photo.pk})
    suggestions_replace([(photo, hits[::-1], lambda score: False)], limit=8)  # not a first run: replaced
    assert list(Suggestion.objects.filter(photo=photo).order_by("rank").values_list("stock_image_id", flat=True)) \
        == [stock[1].pk, stock[0].pk]
