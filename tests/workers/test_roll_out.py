"""The roll-out task's end as the console shows it: a version that loads becomes the one active version and its
"queued" mark clears; a broken checkpoint never becomes active and the reason is kept for the operator."""
import pytest
from django.utils import timezone

from marketplace.jobs.model_versions import model_version_ensure_shipped
from marketplace.jobs.models import ModelVersion
from workers.stages.rollout import roll_out_model

pytestmark = pytest.mark.django_db


def test_a_good_checkpoint_becomes_the_one_active_version_and_the_queued_mark_clears():
    shipped = model_version_ensure_shipped()
    copy = ModelVersion.objects.create(label="copy", checkpoint=shipped.checkpoint, rollout_requested_at=timezone.now())
    assert roll_out_model(copy.pk) == "copy"
    copy.refresh_from_db()
    assert copy.is_active and copy.rollout_requested_at is None and copy.rollout_error == ""
    assert list(ModelVersion.objects.filter(is_active=True)) == [copy]


def test_a_broken_checkpoint_is_refused_with_its_reason_and_the_active_version_stays(tmp_path):
    shipped = model_version_ensure_shipped()
    bad_file = tmp_path / "broken.pt"
    bad_file.write_bytes(b"not a checkpoint")
    bad = ModelVersion.objects.create(label="broken", checkpoint=str(bad_file), rollout_requested_at=timezone.now())
    with pytest.raises(Exception):
        roll_out_model(bad.pk)
    bad.refresh_from_db()
    assert not bad.is_active and bad.rollout_requested_at is None and bad.rollout_error
    assert ModelVersion.objects.get(is_active=True) == shipped
