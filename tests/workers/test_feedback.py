"""A seller's accepted suggestion becomes a training pair (listing photo -> stock image) that the next training
run's manifest includes."""
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from rest_framework.test import APIClient

from imagegen.offline.data import read_manifest
from marketplace.catalogue.models import Item, StockImage
from marketplace.listings.models import FeedbackPair, Listing, ListingPhoto, Suggestion
from marketplace.listings.services import feedback_export
from tests.conftest import image_bytes
from workers.stages.training import with_feedback

pytestmark = pytest.mark.django_db


@pytest.fixture
def suggestions(media_root):
    seller = get_user_model().objects.create_user("sam")
    shop = get_user_model().objects.create_user("shop")
    listing = Listing.objects.create(seller=seller, title="t", garment_type="top")
    photo = ListingPhoto.objects.create(listing=listing, image=ContentFile(image_bytes(), name="p.jpg"))
    rows = []
    for i in range(2):
        item = Item.objects.create(title=f"i{i}", price=1, seller=shop)
        stock = StockImage.objects.create(item=item, image=ContentFile(image_bytes("PNG"), name="s.png"))
        rows.append(Suggestion.objects.create(photo=photo, stock_image=stock, rank=i + 1, score=0.9 - i / 10))
    c = APIClient()
    c.force_authenticate(seller)
    return c, rows


def test_accept_records_a_pair_reject_withdraws_it_and_the_export_reads_back(suggestions, tmp_path):
    c, (first, second) = suggestions
    assert c.post(f"/api/suggestions/{first.pk}/accept/").status_code == 200
    assert c.post(f"/api/suggestions/{first.pk}/accept/").status_code == 200  # twice: still one pair
    assert c.post(f"/api/suggestions/{second.pk}/accept/").status_code == 200
    assert FeedbackPair.objects.count() == 2
    assert c.post(f"/api/suggestions/{second.pk}/reject/").status_code == 200
    pair = FeedbackPair.objects.get()
    assert (pair.photo_id, pair.stock_image_id, pair.garment_type) == (first.photo_id, first.stock_image_id, "top")

    path = tmp_path / "export" / "feedback.jsonl"
    assert feedback_export(path) == 1
    row = json.loads(path.read_text())
    assert row["photo"].startswith("/") and row["split"] == "train"
    [record] = read_manifest(path)
    assert record.item_id == f"item-{first.stock_image.item_id}" and record.garment == "top"
    assert record.photo.samefile(first.photo.image.path)
    assert record.stock.samefile(first.stock_image.image.path)


def test_the_runs_manifest_merges_feedback_but_keeps_held_out_items_held_out(suggestions, tmp_path):
    c, (first, second) = suggestions
    for s in (first, second):
        c.post(f"/api/suggestions/{s.pk}/accept/")
    data = tmp_path / "data"
    data.mkdir()
    (data / "p.jpg").write_bytes(image_bytes())
    (data / "s.png").write_bytes(image_bytes("PNG"))
    held = f"item-{second.stock_image.item_id}"  # this catalogue item is in the base manifest's validation split
    base = data / "manifest.jsonl"
    base.write_text(json.dumps({"photo": "p.jpg", "stock": "s.png", "item_id": "000001", "garment": "top",
                                "split": "train"}) + "\n" +
                    json.dumps({"photo": "p.jpg", "stock": "s.png", "item_id": held, "garment": "top",
                                "split": "val"}) + "\n")
    run_dir = tmp_path / "run-1"
    run_dir.mkdir()
    merged = with_feedback(base, run_dir)
    assert merged == run_dir / "manifest.jsonl" and (run_dir / "feedback.jsonl").is_file()
    records = read_manifest(merged)
    assert [(r.item_id, r.split) for r in records] == [
        ("000001", "train"), (held, "val"), (f"item-{first.stock_image.item_id}", "train")]

    FeedbackPair.objects.all().delete()
    assert with_feedback(base, tmp_path / "run-2") == base  # nothing to add: the operator's manifest as is
