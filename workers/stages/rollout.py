"""Rolling out a generator: a checkpoint becomes the one active ModelVersion only once it loads; workers pick it up
on their next task (`workers.runtime.active_generator` reads the active version per batch)."""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from imagegen.generator import StockImageGenerator
from marketplace.jobs.model_versions import rollout_finished
from marketplace.jobs.models import ModelVersion


# --- model roll-out --------------------------------------------------------------------------------------------
def roll_out_model(version_id: int) -> str:
    """Check that the checkpoint loads (a broken file must never become active), then make it the one active
    version. Workers pick it up on their next task."""
    version = ModelVersion.objects.get(pk=version_id)
    try:
        StockImageGenerator.from_checkpoint(version.checkpoint, device="cpu")  # raises CheckpointError on a bad file
    except Exception as exc:  # the operator sees why in the console; the task still fails
        rollout_finished(version_id, error=f"{type(exc).__name__}: {exc}")
        raise
    with transaction.atomic():
        ModelVersion.objects.filter(is_active=True).exclude(pk=version_id).update(is_active=False)
        ModelVersion.objects.filter(pk=version_id).update(is_active=True, activated_at=timezone.now())
        rollout_finished(version_id)
    return version.label
