"""marketplace.plain_reads: the model worker's per-batch reads by plain SQL must give what the ORM gives, field for
field (datetimes, JSON, booleans, nulls), on this database; this module also runs on PostgreSQL
(tests/integration/test_production_peers.py)."""
from datetime import timedelta

import pytest
from django.forms.models import model_to_dict
from django.utils import timezone

from marketplace.catalogue.models import IndexCollection
from marketplace.jobs.models import ModelVersion
from marketplace.plain_reads import first_where

pytestmark = pytest.mark.django_db


def same(a, b) -> bool:
    return type(a) is type(b) and a.pk == b.pk and model_to_dict(a) == model_to_dict(b) and \
        all(getattr(a, f.attname) == getattr(b, f.attname) for f in type(a)._meta.concrete_fields)


def test_the_active_model_version_reads_as_through_the_orm():
    assert first_where(ModelVersion, is_active=True) is None
    now = timezone.now()
    ModelVersion.objects.create(label="old", checkpoint="/x/old.pt", metrics={"top1": 0.4})
    ModelVersion.objects.create(label="v2", checkpoint="/x/v2.pt", metrics={"top1": 0.52, "per": [1, 2]},
                                is_active=True, activated_at=now - timedelta(microseconds=1))
    got = first_where(ModelVersion, is_active=True)
    assert got.label == "v2" and got.metrics["per"] == [1, 2] and got.activated_at.tzinfo is not None
    assert same(got, ModelVersion.objects.filter(is_active=True).first())


def test_the_live_collection_reads_as_through_the_orm_and_the_first_of_several_by_key():
    for n, state in enumerate(["retired", "live", "building", "retired"]):
        IndexCollection.objects.create(name=f"c{n}", embedder_version="lite0-v2", build=n, state=state, total=n,
                                       finished_at=timezone.now() if state == "live" else None)
    got = first_where(IndexCollection, state=IndexCollection.State.LIVE)
    assert got.name == "c1" and got.finished_at is not None
    assert same(got, IndexCollection.objects.filter(state="live").first())
    assert first_where(IndexCollection, state="retired").name == "c0"  # the lower key, as first()
    assert first_where(IndexCollection, state="retired", build=3).name == "c3"
    assert first_where(IndexCollection, state="failed") is None
