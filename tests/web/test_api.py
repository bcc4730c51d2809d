"""The HTTP API without workers: ownership, upload validation, staff-only endpoints, the schema.

These tests use ordinary (rolled-back) transactions, so on-commit publishing never fires: no broker is needed."""
import io

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from marketplace.accounts.roles import role_assign
from marketplace.jobs.models import ImageJob, TrainingRun
from marketplace.listings.models import ListingPhoto
from tests.conftest import image_bytes

pytestmark = pytest.mark.django_db


def client_for(username: str, staff: bool = False, role: str | None = "seller") -> APIClient:
    user = get_user_model().objects.create_user(username=username, password="pw-123456", is_staff=staff)
    if role:
        role_assign(user, role)
    c = APIClient()
    c.force_authenticate(user)
    return c


def upload(c: APIClient, listing_id: int, data: bytes, name: str = "p.jpg"):
    f = io.BytesIO(data)
    f.name = name
    return c.post(f"/api/listings/{listing_id}/photos/", {"image": f}, format="multipart")


@pytest.fixture
def seller(media_root):
    return client_for("alice")


@pytest.fixture
def listing(seller):
    r = seller.post("/api/listings/", {"title": "Red top", "garment_type": "top"}, format="json")
    assert r.status_code == 201
    return r.json()


def test_valid_upload_is_accepted_with_a_job_url(seller, listing):
    r = upload(seller, listing["id"], image_bytes())
    assert r.status_code == 202
    body = r.json()
    assert body["job"]["state"] == "pending"
    assert r["Location"].endswith(f"/api/jobs/{body['job']['id']}/")
    assert ImageJob.objects.get(pk=body["job"]["id"]).listing_photo_id == body["id"]


@pytest.mark.parametrize("data, reason", [
    (b"", "empty"),
    (b"this is not an image at all", "not an image"),
    (image_bytes()[:300], "damaged"),
    (image_bytes(size=(20, 20)), "at least"),
])
def test_bad_upload_is_400_with_reason_and_creates_no_job(seller, listing, data, reason):
    r = upload(seller, listing["id"], data)
    assert r.status_code == 400
    assert reason in str(r.json()).lower()
    assert ImageJob.objects.count() == 0
    assert ListingPhoto.objects.count() == 0


def test_body_larger_than_the_limit_is_refused_before_it_is_read(seller, listing, settings):
    settings.UPLOAD_MAX_BYTES = 1000
    r = seller.post(f"/api/listings/{listing['id']}/photos/", b"x" * 10, content_type="application/octet-stream",
                    CONTENT_LENGTH=str(50 * 1024 * 1024))
    assert r.status_code == 413 and "limited to" in r.json()["detail"]
    assert ImageJob.objects.count() == 0


def test_upload_without_file_is_400(seller, listing):
    r = seller.post(f"/api/listings/{listing['id']}/photos/", {}, format="multipart")
    assert r.status_code == 400
    assert "image" in r.json()


def test_huge_upload_is_413_and_creates_no_job(seller, listing, settings):
    settings.UPLOAD_MAX_PIXELS = 100 * 100
    r = upload(seller, listing["id"], image_bytes("PNG", size=(200, 200)), "big.png")
    assert r.status_code == 413
    assert "megapixels" in r.json()["detail"]
    settings.UPLOAD_MAX_BYTES = 1000
    r = upload(seller, listing["id"], image_bytes("PNG", size=(90, 90)) + b"\0" * 2000, "big2.png")
    assert r.status_code == 413
    assert ImageJob.objects.count() == 0


def test_second_seller_cannot_see_listing_photo_job_or_suggestions(seller, listing):
    job_id = upload(seller, listing["id"], image_bytes()).json()["job"]["id"]
    mallory = client_for("mallory")
    assert mallory.get(f"/api/listings/{listing['id']}/").status_code == 404
    assert mallory.get(f"/api/listings/{listing['id']}/suggestions/").status_code == 404
    assert upload(mallory, listing["id"], image_bytes()).status_code == 404
    assert mallory.get(f"/api/jobs/{job_id}/").status_code == 404
    assert mallory.get("/api/listings/").json()["results"] == []
    assert seller.get(f"/api/jobs/{job_id}/").status_code == 200


def test_anonymous_user_cannot_upload(listing):
    f = io.BytesIO(image_bytes())
    f.name = "p.jpg"
    r = APIClient().post(f"/api/listings/{listing['id']}/photos/", {"image": f}, format="multipart")
    assert r.status_code in (401, 403)


def test_only_staff_reach_admin_endpoints(seller):
    for path in ("/api/admin/training-runs/", "/api/admin/reindex-runs/", "/api/admin/model-versions/",
                 "/api/admin/queues/"):
        assert seller.get(path).status_code == 403, path
    assert seller.post("/api/admin/training-runs/", {"steps": 10}, format="json").status_code == 403
    staff = client_for("ops", staff=True)
    assert staff.get("/api/admin/queues/").status_code == 200
    r = staff.post("/api/admin/training-runs/", {"steps": 10, "image_size": 64}, format="json")
    assert r.status_code == 202 and r.json()["state"] == "pending"
    assert staff.post("/api/admin/training-runs/", {"steps": -1}, format="json").status_code == 400


class _StopTraining(Exception):
    pass


@pytest.fixture
def captured_train_config(monkeypatch, settings, tmp_path):
    """Replace the trainer and the data preparation of ``workers.stages.training`` with stubs: the ``TrainConfig`` a run
    would train with is recorded, then the run stops (as failed) before any data or network is touched. Replaced
    where the stage looks them up: it imports them by name."""
    from workers.stages import training

    class NoData:
        def __init__(self, records, *args, **kwargs):
            self.records = records

        def prepare(self, **kwargs):
            pass

    configs = []

    def fake_train(config, *args, **kwargs):
        configs.append(config)
        raise _StopTraining("stub")

    settings.MODEL_DIR = str(tmp_path / "models")
    monkeypatch.setattr(training, "read_manifest", lambda path: [])
    monkeypatch.setattr(training, "PairDataset", NoData)
    monkeypatch.setattr(training, "train", fake_train)
    return configs


def test_a_v2_training_request_reaches_the_trainer_config(captured_train_config, tmp_path):
    """``arch`` must survive the whole operator path: API validation, the stored run parameters, and the worker's
    hand-over to ``TrainConfig`` (a field left out of any of them silently trains v1). Unknown names are refused."""
    from workers.stages.training import run_training

    staff = client_for("ops", staff=True)
    assert staff.post("/api/admin/training-runs/", {"arch": "v3"}, format="json").status_code == 400
    refused = staff.post("/api/admin/training-runs/", {"fm_weight": -1}, format="json")
    assert refused.status_code == 400 and "fm_weight" in refused.json()
    r = staff.post("/api/admin/training-runs/", {"steps": 3, "arch": "v2", "fm_weight": 10, "include_feedback": False,
                                                 "data": str(tmp_path / "m.jsonl")}, format="json")
    assert r.status_code == 202
    run = TrainingRun.objects.get(pk=r.json()["id"])
    assert run.parameters["arch"] == "v2" and run.parameters["fm_weight"] == 10
    assert run_training(run.pk, "task-1") == "failed"  # the stub trainer stops the run after recording its config
    (config,) = captured_train_config
    assert config.arch == "v2" and config.steps == 3 and config.gan_config().arch == "v2" and config.fm_weight == 10


def test_train_model_command_passes_arch(captured_train_config, tmp_path):
    """``manage.py train_model --arch v2`` builds the same run parameters as the API; without it, v1."""
    from django.core.management import call_command

    call_command("train_model", "--arch", "v2", "--fm-weight", "10", "--steps", "2", "--data",
                 str(tmp_path / "m.jsonl"), stdout=io.StringIO())
    call_command("train_model", "--steps", "2", "--data", str(tmp_path / "m.jsonl"), stdout=io.StringIO())
    assert [(c.arch, c.steps, c.fm_weight) for c in captured_train_config] == [("v2", 2, 10.0), ("v1", 2, 0.0)]
    assert TrainingRun.objects.order_by("pk").first().parameters["arch"] == "v2"


def test_retry_is_refused_for_a_job_that_did_not_fail(seller, listing):
    job_id = upload(seller, listing["id"], image_bytes()).json()["job"]["id"]
    r = seller.post(f"/api/jobs/{job_id}/retry/")
    assert r.status_code == 409
    ImageJob.objects.filter(pk=job_id).update(state="failed", error="boom")
    r = seller.post(f"/api/jobs/{job_id}/retry/")
    assert r.status_code == 202 and r.json()["state"] == "pending" and r.json()["error"] == ""


def test_openapi_schema_lists_the_upload_endpoints(seller):
    r = APIClient().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert r.status_code == 200
    paths = r.json()["paths"] if r["Content-Type"].startswith("application/json") else r.content.decode()
    for p in ("/api/listings/{id}/photos/", "/api/searches/", "/api/jobs/{id}/retry/", "/api/admin/reindex-runs/"):
        assert p in paths


def test_staff_retry_failed_puts_every_failed_job_back_and_counts_show_it(seller, listing):
    ids = [upload(seller, listing["id"], image_bytes()).json()["job"]["id"] for _ in range(3)]
    ImageJob.objects.filter(pk__in=ids[:2]).update(state="failed", error="worker lost")
    staff = client_for("ops", staff=True)
    assert staff.get("/api/admin/queues/").json()["image_jobs"] == {"failed": 2, "pending": 1}
    assert seller.post("/api/admin/queues/retry-failed/").status_code == 403
    r = staff.post("/api/admin/queues/retry-failed/")
    assert r.status_code == 202 and r.json() == {"retried": 2}
    assert staff.get("/api/admin/queues/").json()["image_jobs"] == {"pending": 3}
