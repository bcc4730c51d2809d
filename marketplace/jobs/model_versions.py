"""Model versions as an operator handles them: the shipped generator as a version like any other, activation through
the roll-out task (a GPU worker checks the checkpoint loads before it becomes active), roll back, and a comparison.

Runs in the web process: nothing here imports torch or imagegen (the shipped checkpoint's path and its evaluation
are read as plain files)."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from . import queue, task_names
from .models import ModelVersion

log = logging.getLogger(__name__)

# The generator that ships with the code (imagegen/checkpoints/README.md): what workers run when no version is active.
SHIPPED_CHECKPOINT_DIR = Path(settings.BASE_DIR) / "imagegen" / "checkpoints"
SHIPPED_LABEL_FALLBACK = "shipped"
# The columns of the console's comparison table: trained runs' validation metrics first, then the evaluation that
# shipped with the default generator (a different split and measure: shown as is, not mixed).
METRIC_COLUMNS = ["val_l2", "val_l1", "val_l2_stage1", "g2_top1", "g2_top5", "g2_ssim", "g2_psnr"]
# The final training losses worth a column (the trainer logs a dozen; these say how close the outputs came).
LOSS_COLUMNS = ["g2_l2", "g1_recon_l1", "g2_total"]


class NothingToRollBackTo(Exception):
    pass


class QueueUnreachable(Exception):
    pass


def _shipped_evaluation() -> dict:
    try:
        return json.loads((SHIPPED_CHECKPOINT_DIR / "default_eval" / "metrics.json").read_text())
    except (OSError, ValueError):
        return {}


def model_version_ensure_shipped() -> ModelVersion | None:
    """The shipped generator as a ModelVersion row (created once; its path corrected if the code moved). When no
    version is active it becomes the active one: it is what the workers already run in that case
    (workers.runtime.active_generator), so activating it changes nothing but makes the truth visible and gives
    roll back a version to return to. Idempotent and safe to call on every console page; None when the
    checkpoint file is missing."""
    path = SHIPPED_CHECKPOINT_DIR / "default.pt"
    if not path.is_file():
        return None
    evaluation = _shipped_evaluation()
    label = (evaluation.get("model") or {}).get("label") or SHIPPED_LABEL_FALLBACK
    metrics = {**evaluation.get("summary", {}), "evaluated_on": f"{evaluation.get('split', '?')} split, "
               f"{evaluation.get('photos', '?')} photos", "shipped": True}
    try:
        with transaction.atomic():
            version, created = ModelVersion.objects.get_or_create(
                label=label, defaults={"checkpoint": str(path), "metrics": metrics})
            if not created and version.checkpoint != str(path) and version.training_run_id is None:
                ModelVersion.objects.filter(pk=version.pk).update(checkpoint=str(path))
    except IntegrityError:  # a concurrent request created it first
        version = ModelVersion.objects.get(label=label)
    if not ModelVersion.objects.filter(is_active=True).exists():
        try:
            with transaction.atomic():
                ModelVersion.objects.filter(pk=version.pk).update(is_active=True, activated_at=timezone.now())
        except IntegrityError:  # another version became active meanwhile: it stays active
            pass
    version.refresh_from_db()
    return version


def model_version_roll_out(version: ModelVersion) -> str | None:
    """Ask a GPU worker to check that the version's checkpoint loads and then make it the active model; returns the
    task id, or None when the broker is unreachable (nothing changed: the operator tries again)."""
    return queue.publish(task_names.ROLL_OUT_MODEL, [version.pk], queue.queue_for(task_names.ROLL_OUT_MODEL))


def model_version_activate(version: ModelVersion) -> str:
    """Queue the roll-out of `version` (the task the API uses); the row says it is queued until a GPU worker has
    checked the checkpoint and made it active (or recorded why not). Raises QueueUnreachable."""
    # Marked before publishing: a fast worker may finish (and clear the mark) before this request writes again.
    ModelVersion.objects.filter(pk=version.pk).update(rollout_requested_at=timezone.now(), rollout_error="")
    task_id = model_version_roll_out(version)
    if task_id is None:
        ModelVersion.objects.filter(pk=version.pk).update(rollout_requested_at=None)
        raise QueueUnreachable("the job queue is unreachable; try again")
    return task_id


def model_version_previous() -> ModelVersion | None:
    """The version that was active before the current one: the most recently activated of the others."""
    active = ModelVersion.objects.filter(is_active=True).first()
    others = ModelVersion.objects.filter(activated_at__isnull=False)
    if active is not None:
        others = others.exclude(pk=active.pk)
    return others.order_by("-activated_at", "-pk").first()


def model_version_roll_back() -> ModelVersion:
    """Roll back: activate again the previously active version, through the same roll-out. Raises
    NothingToRollBackTo or QueueUnreachable."""
    previous = model_version_previous()
    if previous is None:
        raise NothingToRollBackTo("no other version has been active")
    model_version_activate(previous)
    return previous


def rollout_finished(version_id: int, error: str = "") -> None:
    """Called by the roll-out task when it ends: clears the queued mark, keeps a failure's reason."""
    ModelVersion.objects.filter(pk=version_id).update(rollout_requested_at=None, rollout_error=error[:2000])


def model_versions_compare() -> tuple[list[str], list[dict]]:
    """(metric columns, one row per version) for the console's side-by-side table: the known columns that any
    version has, then the main final training losses."""
    versions = list(ModelVersion.objects.select_related("training_run").order_by("-id"))
    present = {k for v in versions for k in (v.metrics or {})}
    columns = [c for c in METRIC_COLUMNS if c in present]
    logged = {k for v in versions for k in ((v.metrics or {}).get("final_losses") or {})}
    loss_keys = [k for k in LOSS_COLUMNS if k in logged]
    columns += [f"loss {k}" for k in loss_keys]
    rows = []
    for v in versions:
        m = v.metrics or {}
        values = [m.get(c) for c in METRIC_COLUMNS if c in present]
        values += [(m.get("final_losses") or {}).get(k) for k in loss_keys]
        rows.append({"version": v, "values": values, "shipped": bool(m.get("shipped")),
                     "note": m.get("evaluated_on", "")})
    return columns, rows


def model_versions_status() -> dict:
    """What the console polls while a roll-out is queued."""
    return {"versions": [
        {"id": v.id, "label": v.label, "is_active": v.is_active,
         "rollout_queued": v.rollout_requested_at is not None, "rollout_error": v.rollout_error,
         "activated_at": v.activated_at.isoformat() if v.activated_at else None}
        for v in ModelVersion.objects.order_by("-id")]}
