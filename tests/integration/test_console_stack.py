"""The staff console against real workers: a training run started from the console's form reaches `done`, its model
is activated and rolled back from the console; a paused queue stays paused across a worker restart and loses
nothing (its messages wait in the broker and run on resume)."""
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from marketplace.jobs.models import ModelVersion, QueuePause, TrainingRun
from marketplace.jobs.queue_control import queue_depths
from tests.conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def stack(stack_factory):
    return stack_factory(train_worker=True)


@pytest.fixture(scope="module")
def tiny_manifest(tmp_path_factory) -> Path:
    from imagegen.offline.synth import generate_dataset

    return generate_dataset(tmp_path_factory.mktemp("data"), items=6, photos_per_item=1, seed=3, workers=1,
                            image_size=256, progress=False, contact_sheet=False)


@pytest.fixture
def staff(stack, broker_settings) -> Client:
    broker_settings(stack.redis_url)
    c = Client()
    c.force_login(get_user_model().objects.create_user("ops", is_staff=True))
    return c


def active_label() -> str | None:
    return ModelVersion.objects.filter(is_active=True).values_list("label", flat=True).first()


def roll_out_settled(version_id: int) -> bool:
    v = ModelVersion.objects.get(pk=version_id)
    return v.rollout_requested_at is None


def test_console_training_run_reaches_done_and_its_model_is_activated_then_rolled_back(stack, staff, tiny_manifest):
    t0 = time.monotonic()
    r = staff.post("/console/training/", {"steps": "3", "batch_size": "2", "image_size": "64",
                                          "data": str(tiny_manifest), "include_feedback": "on"})
    assert r.status_code == 302, r.content.decode()[:3000]
    run = TrainingRun.objects.get()
    assert run.parameters["steps"] == 3 and run.parameters["data"] == str(tiny_manifest)
    wait_until(lambda: staff.get(f"/console/training/{run.pk}/progress.json").json()["finished"], 240, 0.5,
               "training run")
    progress = staff.get(f"/console/training/{run.pk}/progress.json").json()
    assert progress["state"] == "done", progress["error"] + "\n".join(progress["log_tail"])
    assert progress["step"] == 3 and progress["version"] is not None
    assert progress["images"]["samples"] and progress["images"]["loss_plot"] and progress["loss_history"]
    for kind in ("samples", "loss_plot"):
        img = staff.get(f"/console/training/{run.pk}/{kind}.png")
        assert img.status_code == 200 and b"".join(img.streaming_content)[:8] == b"\x89PNG\r\n\x1a\n"
    trained_s = time.monotonic() - t0

    page = staff.get("/console/models/").content.decode()  # lists the shipped generator, active, and the new one
    trained = ModelVersion.objects.get(training_run=run)
    assert active_label() == "shipped-step6000" and trained.label in page

    t1 = time.monotonic()
    r = staff.post(f"/console/models/{trained.pk}/activate/", follow=True)
    assert "roll-out queued" in staff.get("/console/models/").content.decode()
    wait_until(lambda: roll_out_settled(trained.pk), 120, 0.2, "roll-out")
    activate_s = time.monotonic() - t1
    assert active_label() == trained.label, ModelVersion.objects.get(pk=trained.pk).rollout_error

    r = staff.post("/console/models/roll-back/", follow=True)
    assert "Rolling back to shipped-step6000" in r.content.decode()
    wait_until(lambda: active_label() == "shipped-step6000", 120, 0.2, "roll back")
    assert ModelVersion.objects.filter(is_active=True).count() == 1
    print(f"\nconsole training run to done: {trained_s:.1f} s; activation round trip: {activate_s:.1f} s")


def _restart_worker(stack, name: str):
    """Stop a worker (warm shutdown) and start it again; wait for the new process's own ` ready.` line."""
    old = stack.worker(name)
    old.stop()
    offset = old.log_path.stat().st_size
    new = old.respawn()
    stack.stack.services[stack.stack.services.index(old)] = new
    wait_until(lambda: " ready." in new.log_path.read_text(errors="replace")[offset:], 120, 0.5, f"{name} restart")
    return new, offset


def test_paused_queue_stays_paused_across_a_worker_restart_and_loses_nothing(stack, staff):
    from marketplace.jobs.model_versions import model_version_ensure_shipped

    shipped = model_version_ensure_shipped()
    other = ModelVersion.objects.create(label="shipped-copy", checkpoint=shipped.checkpoint)

    r = staff.post("/console/queues/gpu/pause/", follow=True)
    assert "Queue gpu paused (1 worker acknowledged)" in r.content.decode()
    new, offset = _restart_worker(stack, "gpu")
    assert "queue gpu is paused by an operator" in new.log_path.read_text(errors="replace")[offset:]

    staff.post(f"/console/models/{other.pk}/activate/")
    time.sleep(8)  # far longer than a roll-out takes on a consuming worker (about a second)
    assert active_label() == "shipped-step6000" and not roll_out_settled(other.pk)
    assert queue_depths(["gpu"])["gpu"] == 1  # the message waits in the broker, untouched
    page = staff.get("/console/queues/").content.decode()
    assert "Resume gpu" in page and "roll-outs queued</dt><dd>1</dd>" in page

    t0 = time.monotonic()
    r = staff.post("/console/queues/gpu/resume/", follow=True)
    assert "Queue gpu resumed (1 worker acknowledged)" in r.content.decode()
    wait_until(lambda: active_label() == "shipped-copy", 60, 0.2, "the roll-out after resume")
    print(f"\nroll-out ran {time.monotonic() - t0:.1f} s after resume")
    assert not QueuePause.objects.get(queue="gpu").paused and queue_depths(["gpu"])["gpu"] == 0
    # Resuming gave the queue back to its own worker only (Celery's add_consumer broadcast would give it to all).
    from marketplace.jobs.queue import celery_app

    consumed = celery_app().control.inspect(timeout=2).active_queues()
    assert {host.split("@")[0]: sorted(q["name"] for q in qs) for host, qs in consumed.items()} == {
        "gpu": ["gpu"], "index": ["index"], "train": ["train"]}
