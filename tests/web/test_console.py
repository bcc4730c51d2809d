"""The staff console (marketplace/console): who may use it, and what each action does to the database. The broker
is unreachable here on purpose (a closed port): the pages must still work and say so; tests/integration/
test_console_stack.py drives the same actions against real workers."""
import json
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.test import Client

from marketplace.jobs import model_versions
from marketplace.jobs.models import ImageJob, ModelVersion, QueuePause, ReindexRun, TrainingRun
from marketplace.listings.models import Listing, ListingPhoto
from tests.conftest import image_bytes
from devtools.processes import free_port

pytestmark = pytest.mark.django_db

PAGES = ["/console/queues/", "/console/training/", "/console/models/", "/console/reindex/",
         "/console/models/status.json", "/console/reindex/status.json"]
ACTIONS = ["/console/queues/gpu/pause/", "/console/queues/gpu/resume/", "/console/jobs/retry-failed/",
           "/console/training/", "/console/models/roll-back/", "/console/reindex/"]


@pytest.fixture(autouse=True)
def no_broker(broker_settings):
    broker_settings(f"redis://127.0.0.1:{free_port()}/0")


@pytest.fixture
def staff():
    c = Client()
    c.force_login(get_user_model().objects.create_user("ops", password="pw-123456", is_staff=True))
    return c


@pytest.fixture
def customer():
    c = Client()
    c.force_login(get_user_model().objects.create_user("cat", password="pw-123456"))
    return c


def failed_job(owner, reason="preprocess: image is blank"):
    listing = Listing.objects.create(seller=owner, title="t")
    photo = ListingPhoto.objects.create(listing=listing, image=ContentFile(image_bytes(), name="p.jpg"))
    return ImageJob.objects.create(kind="listing_photo", owner=owner, listing_photo=photo, state="failed",
                                   error=reason, attempts=3)


@pytest.mark.parametrize("url", PAGES + ["/console/"])
def test_anonymous_visitor_is_sent_to_log_in(url):
    r = Client().get(url, follow=url == "/console/")
    final = r.redirect_chain[-1][0] if url == "/console/" else r["Location"]
    assert "/accounts/login/" in final


@pytest.mark.parametrize("url", PAGES)
def test_logged_in_non_staff_user_gets_403_on_pages(customer, url):
    assert customer.get(url).status_code == 403


@pytest.mark.parametrize("url", ACTIONS)
def test_logged_in_non_staff_user_gets_403_on_actions_and_nothing_changes(customer, url):
    assert customer.post(url, {"steps": "3"}).status_code == 403
    assert not QueuePause.objects.exists() and not TrainingRun.objects.exists() and not ReindexRun.objects.exists()


def test_actions_refuse_a_post_without_csrf_token():
    c = Client(enforce_csrf_checks=True)
    c.force_login(get_user_model().objects.create_user("ops", is_staff=True))
    assert c.post("/console/queues/gpu/pause/").status_code == 403
    assert c.post("/console/training/", {"steps": "3"}).status_code == 403
    assert not QueuePause.objects.exists() and not TrainingRun.objects.exists()


def test_pages_render_for_staff_with_csrf_tokens_in_forms(staff, media_root):
    failed_job(get_user_model().objects.get(username="ops"))
    for url in PAGES[:4]:
        r = staff.get(url)
        assert r.status_code == 200, url
        if url != "/console/models/":
            assert "csrfmiddlewaretoken" in r.content.decode()


def test_staff_nav_link_only_for_staff(staff, customer):
    assert 'href="/console/"' in staff.get("/console/queues/").content.decode()
    assert 'href="/console/"' not in customer.get("/").content.decode()


def test_get_on_an_action_url_is_refused_not_run(staff):
    assert staff.get("/console/queues/gpu/pause/").status_code == 405
    assert not QueuePause.objects.exists()


# --- queues ----------------------------------------------------------------------------------------------------
def test_queues_page_shows_each_queue_and_failed_jobs_with_reasons(staff, media_root):
    owner = get_user_model().objects.get(username="ops")
    job = failed_job(owner, "generate: CUDA out of memory")
    page = staff.get("/console/queues/").content.decode()
    for name in ("gpu", "index", "train"):
        assert f'data-queue="{name}"' in page
    assert "generate: CUDA out of memory" in page and f'data-job="{job.pk}"' in page
    assert "unknown (broker unreachable)" in page  # the waiting count says it could not be read, no 500


def test_failed_jobs_are_paginated(staff, media_root):
    owner = get_user_model().objects.get(username="ops")
    for i in range(25):
        failed_job(owner, f"reason {i}")
    first = staff.get("/console/queues/").content.decode()
    second = staff.get("/console/queues/?page=2").content.decode()
    assert first.count("data-job=") == 20 and second.count("data-job=") == 5
    assert "Page 2 of 2" in second
    assert staff.get("/console/queues/?page=nonsense").status_code == 200


def test_retry_one_failed_job_puts_it_back_pending(staff, media_root):
    job = failed_job(get_user_model().objects.get(username="ops"))
    r = staff.post(f"/console/jobs/{job.pk}/retry/", follow=True)
    job.refresh_from_db()
    assert job.state == "pending" and job.error == "" and job.attempts == 0
    assert f"Job {job.pk} is queued again" in r.content.decode()
    r = staff.post(f"/console/jobs/{job.pk}/retry/", follow=True)
    assert "nothing to retry" in r.content.decode()
    assert staff.post("/console/jobs/999999/retry/").status_code == 404


def test_retry_all_failed_jobs(staff, media_root):
    owner = get_user_model().objects.get(username="ops")
    jobs = [failed_job(owner) for _ in range(3)]
    r = staff.post("/console/jobs/retry-failed/", follow=True)
    assert "3 failed jobs queued again" in r.content.decode()
    assert all(ImageJob.objects.get(pk=j.pk).state == "pending" for j in jobs)


def test_pause_and_resume_are_recorded_even_when_the_broker_is_down(staff):
    t0 = time.monotonic()
    r = staff.post("/console/queues/gpu/pause/", follow=True)
    assert time.monotonic() - t0 < 10
    assert QueuePause.objects.get(queue="gpu").paused
    page = r.content.decode()
    assert "Queue gpu paused" in page and "broker is unreachable" in page and "Resume gpu" in page
    staff.post("/console/queues/gpu/resume/")
    assert not QueuePause.objects.get(queue="gpu").paused


def test_pausing_an_unknown_queue_is_404(staff):
    assert staff.post("/console/queues/celery/pause/").status_code == 404
    assert not QueuePause.objects.exists()


# --- training ----------------------------------------------------------------------------------------------------
def test_training_form_keeps_typed_values_and_shows_errors_next_to_fields(staff):
    r = staff.post("/console/training/", {"steps": "0", "lr": "0.5", "batch_size": "8", "seed": "abc",
                                          "image_size": "100"})
    assert r.status_code == 400
    page = r.content.decode()
    assert not TrainingRun.objects.exists()
    for name in ("steps", "lr", "seed", "image_size"):
        assert f'id="err_{name}"' in page, name
    assert 'id="err_batch_size"' not in page
    assert 'name="batch_size" id="id_batch_size" value="8"' in page  # the valid value typed stays
    assert 'name="seed" id="id_seed" value="abc"' in page


def test_training_start_keeps_every_typed_parameter(staff):
    r = staff.post("/console/training/", {"steps": "7", "batch_size": "2", "lr": "0.001", "seed": "5",
                                          "image_size": "64", "data": "/data/m.jsonl", "activate": "on",
                                          "arch": "v2"})
    run = TrainingRun.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/console/training/{run.pk}/"
    assert run.parameters == {"steps": 7, "batch_size": 2, "lr": 0.001, "seed": 5, "image_size": 64,
                              "data": "/data/m.jsonl", "activate": True, "include_feedback": False, "arch": "v2"}
    assert run.requested_by.username == "ops" and run.state == "pending"


def test_training_start_with_defaults_keeps_the_serializer_defaults(staff):
    page = staff.get("/console/training/").content.decode()
    assert 'id="id_include_feedback" checked' in page  # the serializer's default (True) is pre-ticked
    staff.post("/console/training/", {"include_feedback": "on"})
    assert TrainingRun.objects.get().parameters == {"include_feedback": True, "activate": False}


def test_run_detail_progress_json_and_images(staff, tmp_path):
    out = tmp_path / "run-1"
    (out / "samples").mkdir(parents=True)
    (out / "losses.jsonl").write_text(json.dumps({"step": 10, "epoch": 0, "d_real": 0.7, "g2_l2": 0.1}) + "\n"
                                      + json.dumps({"step": 20, "epoch": 0, "d_real": 0.6, "g2_l2": 0.08}) + "\n")
    run = TrainingRun.objects.create(state="running", step=20, total_steps=40, progress=0.5, output_dir=str(out))
    assert staff.get(f"/console/training/{run.pk}/samples.png").status_code == 404  # nothing written yet
    (out / "samples" / "step_000020.png").write_bytes(image_bytes("PNG"))
    assert staff.get(f"/console/training/{run.pk}/").status_code == 200
    p = staff.get(f"/console/training/{run.pk}/progress.json").json()
    assert p["state"] == "running" and p["step"] == 20 and not p["finished"]
    assert [r["step"] for r in p["loss_history"]] == [10, 20] and p["log_tail"][-1].startswith("step 20:")
    assert p["images"]["samples"] and p["images"]["loss_plot"] is None
    r = staff.get(f"/console/training/{run.pk}/samples.png")
    assert r.status_code == 200 and r["Content-Type"] == "image/png"
    assert staff.get(f"/console/training/{run.pk}/config.png").status_code == 404
    assert staff.get("/console/training/999/progress.json").status_code == 404


def test_cancel_a_pending_run(staff):
    run = TrainingRun.objects.create(parameters={"steps": 3})
    r = staff.post(f"/console/training/{run.pk}/cancel/", follow=True)
    run.refresh_from_db()
    assert run.state == "cancelled" and run.cancel_requested
    assert "cancelled" in r.content.decode()


# --- model versions ----------------------------------------------------------------------------------------------
def test_models_page_lists_the_shipped_generator_as_the_active_version(staff):
    page = staff.get("/console/models/").content.decode()
    shipped = ModelVersion.objects.get()
    assert shipped.label == "shipped-step6000" and shipped.is_active and Path(shipped.checkpoint).is_file()
    assert "shipped-step6000" in page and "shipped with the code" in page and "g2_top5" in page
    staff.get("/console/models/")
    assert ModelVersion.objects.count() == 1  # idempotent


def test_shipped_version_does_not_take_over_an_active_trained_one(staff):
    trained = ModelVersion.objects.create(label="run1-step3", checkpoint="/x.pt", is_active=True,
                                          metrics={"val_l2": 0.1})
    staff.get("/console/models/")
    trained.refresh_from_db()
    assert trained.is_active and not ModelVersion.objects.get(label="shipped-step6000").is_active


def test_activate_says_when_the_queue_is_unreachable(staff):
    v = ModelVersion.objects.create(label="run1-step3", checkpoint="/x.pt", metrics={"val_l2": 0.1})
    r = staff.post(f"/console/models/{v.pk}/activate/", follow=True)
    assert "unreachable" in r.content.decode()
    v.refresh_from_db()
    assert v.rollout_requested_at is None and not v.is_active
    assert staff.post("/console/models/999/activate/").status_code == 404


def test_roll_back_with_no_previous_version_explains(staff):
    r = staff.post("/console/models/roll-back/", follow=True)
    assert "Cannot roll back" in r.content.decode()


def test_previous_version_is_the_most_recently_activated_other_one():
    from django.utils import timezone

    a = ModelVersion.objects.create(label="a", checkpoint="/a.pt", activated_at=timezone.now())
    b = ModelVersion.objects.create(label="b", checkpoint="/b.pt", activated_at=timezone.now())
    ModelVersion.objects.create(label="c", checkpoint="/c.pt", activated_at=timezone.now(), is_active=True)
    ModelVersion.objects.create(label="never", checkpoint="/n.pt")
    assert model_versions.model_version_previous() == b
    b.delete()
    assert model_versions.model_version_previous() == a


# --- re-index ------------------------------------------------------------------------------------------------------
def test_reindex_start_is_deduplicated(staff):
    staff.post("/console/reindex/")
    r = staff.post("/console/reindex/", follow=True)
    assert ReindexRun.objects.count() == 1
    assert "already under way" in r.content.decode()
    status = staff.get("/console/reindex/status.json").json()
    assert status["runs"][0]["state"] == "pending" and "live" in status["overview"]


# --- Django admin goes through the services ------------------------------------------------------------------------
@pytest.fixture
def admin_client_(db):
    c = Client()
    c.force_login(get_user_model().objects.create_superuser("root", password="pw-123456"))
    return c


def test_admin_add_training_run_starts_it_through_the_service(admin_client_):
    r = admin_client_.post("/admin/jobs/trainingrun/add/", {"parameters": '{"steps": 5, "lr": 0.001}'})
    assert r.status_code == 302, r.content.decode()[:2000]
    run = TrainingRun.objects.get()
    assert run.parameters == {"steps": 5, "lr": 0.001, "include_feedback": True, "activate": False}
    assert run.requested_by.username == "root"


def test_admin_add_training_run_refuses_bad_parameters(admin_client_):
    r = admin_client_.post("/admin/jobs/trainingrun/add/", {"parameters": '{"steps": -1}'})
    assert r.status_code == 200 and "steps" in r.content.decode()
    assert not TrainingRun.objects.exists()


def test_admin_add_reindex_run_goes_through_reindex_start(admin_client_):
    admin_client_.post("/admin/jobs/reindexrun/add/", {})
    admin_client_.post("/admin/jobs/reindexrun/add/", {})
    run = ReindexRun.objects.get()
    assert run.requested_by.username == "root" and run.state == "pending"


def test_admin_activate_action_goes_through_the_roll_out(admin_client_):
    v = ModelVersion.objects.create(label="run1-step3", checkpoint="/x.pt")
    r = admin_client_.post("/admin/jobs/modelversion/", {"action": "activate_versions", "_selected_action": [v.pk]},
                           follow=True)
    assert "unreachable" in r.content.decode()  # it tried to publish the roll-out; it did not tick is_active
    v.refresh_from_db()
    assert not v.is_active


def test_queues_page_shows_the_cpu_and_reindex_queues_where_the_layout_has_them(staff, settings, media_root):
    """The cpu queue exists with PREPROCESS_SEPARATE, the reindex queue with a Milvus server: the console lists and
    pauses them there, and only there."""
    page = staff.get("/console/queues/").content.decode()
    assert 'data-queue="cpu"' not in page and 'data-queue="reindex"' not in page
    assert staff.post("/console/queues/cpu/pause/").status_code == 404

    settings.PREPROCESS_SEPARATE = True
    settings.VECTOR_INDEX_URI = "http://127.0.0.1:1"  # only its form matters here: nothing connects to it
    page = staff.get("/console/queues/").content.decode()
    for name in ("cpu", "gpu", "index", "reindex", "train"):
        assert f'data-queue="{name}"' in page
    assert "preprocessing of photo jobs" in page and "re-index runs and index builds" in page
    staff.post("/console/queues/cpu/pause/")
    assert QueuePause.objects.get(queue="cpu").paused
