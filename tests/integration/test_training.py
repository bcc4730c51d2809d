"""An operator trains a model through the API, it is rolled out, and the next photo job runs on it."""
from pathlib import Path

import pytest

from marketplace.jobs.models import ModelVersion, TrainingRun
from tests.conftest import wait_until
from tests.integration.helpers import client_for, seed_and_reindex, upload_listing_photo, wait_job

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def stack(stack_factory):
    # A run without a `data` manifest draws its own procedural set: keep it tiny here.
    return stack_factory({"TRAINING_SYNTH_ITEMS": "8", "TRAINING_SYNTH_PHOTOS": "1"}, train_worker=True)


@pytest.fixture(scope="module")
def tiny_manifest(tmp_path_factory) -> Path:
    from imagegen.offline.synth import generate_dataset

    return generate_dataset(tmp_path_factory.mktemp("data"), items=6, photos_per_item=1, seed=3, workers=1,
                            image_size=256, progress=False, contact_sheet=False)


def test_training_run_registers_a_version_that_rolls_out_to_the_next_job(stack, broker_settings, tiny_manifest):
    broker_settings(stack.redis_url)
    staff = client_for("ops", staff=True)
    r = staff.post("/api/admin/training-runs/", {"steps": 3, "batch_size": 2, "image_size": 64,
                                                 "data": str(tiny_manifest), "activate": True}, format="json")
    assert r.status_code == 202, r.content
    run_id = r.json()["id"]
    wait_until(lambda: TrainingRun.objects.get(pk=run_id).state in ("done", "failed"), 240, 0.5, "training")
    run = staff.get(f"/api/admin/training-runs/{run_id}/").json()
    assert run["state"] == "done", run["error"] + run["log"]
    assert run["step"] == 3 and run["progress"] == pytest.approx(1.0) and run["attempts"] == 1

    version = ModelVersion.objects.get(training_run_id=run_id)
    assert version.is_active and Path(version.checkpoint).is_file()
    assert (Path(run["output_dir"]) / "samples.png").is_file() and (Path(run["output_dir"]) / "loss_plot.png").is_file()

    seed_and_reindex(6)
    _, accepted = upload_listing_photo(client_for("erin"))
    job = wait_job(accepted["job"]["id"])
    assert job.state == "done", job.error
    assert job.model_version_id == version.pk
    assert client_for("erin").get(f"/api/jobs/{job.pk}/").json()["trained_model"] is True


def test_training_run_without_a_manifest_draws_its_own_data_and_finishes(stack, broker_settings):
    """The default data set is drawn inside the train worker's pool child, a daemonic process that may not start
    children: no multiprocessing pool and no DataLoader workers there (it used to fail with "daemonic processes are
    not allowed to have children")."""
    broker_settings(stack.redis_url)
    staff = client_for("ops", staff=True)
    r = staff.post("/api/admin/training-runs/", {"steps": 2, "batch_size": 2, "image_size": 64,
                                                 "include_feedback": False}, format="json")
    assert r.status_code == 202, r.content
    run_id = r.json()["id"]
    wait_until(lambda: TrainingRun.objects.get(pk=run_id).state in ("done", "failed"), 300, 0.5, "training")
    run = TrainingRun.objects.get(pk=run_id)
    assert run.state == "done", run.error + run.log
    assert run.step == 2 and run.attempts == 1 and run.claimed_by == "" and run.lease_expires_at is None
    assert ModelVersion.objects.filter(training_run_id=run_id).exists()
    data_dir = Path(stack.stack.var_dir) / "training-data"
    assert (data_dir / "manifest.jsonl").is_file()
