"""Faults under load, against a live, supervised stack (real valkey, Celery workers, milvus-lite, web over HTTP):
the gpu worker killed with SIGKILL mid-job, valkey down 10 s, the index worker down 60 s (devtools.fault_drill).
Nothing is lost, nothing done twice, no upload gets a 5xx, and the job a crash caught resumes within 20 s.

The broker keeps its production timeouts here (visibility 120 s): recovery must come from the job leases and the
sweeper (marketplace.jobs.lifecycle), not from broker redelivery. About three minutes, most of it the 60 s outage
and the uploads' drain."""
import json
import threading
import time
import urllib.request

import pytest

from tests.conftest import RunningStack, _start_stack
from tests.integration.helpers import seed_and_reindex
from devtools import accounts, demo, fault_drill
from devtools.catalogue_seed import street_photo
from devtools.stack import Supervisor
from devtools.processes import free_port

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

RESUME_WITHIN_S = 20


@pytest.fixture(scope="module")
def stack(tmp_path_factory, media_root, django_db_setup, django_db_blocker):
    tmp = tmp_path_factory.mktemp("faults")
    env = {"CELERY_VISIBILITY_TIMEOUT": "120", "CELERY_UNACKED_RESTORE_INTERVAL": "10"}  # production's
    s = _start_stack(tmp, media_root, env, web_port=free_port())
    s.supervisor = Supervisor(s)  # as `./dev up` runs it (Stack(supervise=True))
    s.__enter__()
    try:
        yield RunningStack(s, s.env()["REDIS_URL"])
    finally:
        s.stop()


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status
    except Exception:
        return 0


def test_no_upload_is_lost_duplicated_or_answered_5xx_while_workers_and_valkey_fail(stack, broker_settings):
    broker_settings(stack.redis_url)
    seed_and_reindex()
    web = stack.worker("web").extra["url"]
    seller = accounts.user_token("drill-seller", staff=True)  # staff may do what a seller does
    buyer = accounts.user_token("drill-buyer")
    status, listing = demo.Api(web, seller).post_json("/api/listings/", {"title": "Drill top", "garment_type": "top"})
    assert status == 201, listing
    photos = [street_photo(i % 12, photo_seed=5000 + i) for i in range(16)]

    report = fault_drill.run(stack.stack, seller_token=seller, buyer_token=buyer, listing_id=listing["id"],
                             photos=photos, valkey_down_s=10, index_down_s=60, threads=2, interval_s=4.0)
    print("\n" + fault_drill.table(report) + "\n" + json.dumps(report, indent=1, default=str))

    assert report["drained"], report
    assert report["accepted"] >= 20 and report["uploads"] == report["accepted"], report["other_rejections"]
    assert report["status_5xx"] == 0 and report["unanswered"] == 0, report["errors"]
    assert report["lost"] == 0 and report["failed"] == 0, (report["lost_jobs"], report["failed_jobs"])
    assert report["duplicated"] == 0, report["duplicated_jobs"]
    gpu, valkey, index = report["faults"]
    assert gpu["recovered_after_fault_s"] is not None and gpu["recovered_after_fault_s"] <= RESUME_WITHIN_S, gpu
    assert gpu["job_done_after_fault_s"] is not None
    assert valkey["recovered_after_fault_s"] is not None and index["recovered_after_fault_s"] is not None
    assert any(e["service"] == "gpu" for e in report["supervisor_restarts"])  # the supervisor, not the test


def test_supervisor_restarts_a_dead_worker_and_valkey_alone_while_the_web_answers(stack):
    web = stack.worker("web").extra["url"]
    web_pid = stack.worker("web").proc.pid
    answers, stop = [], []

    def poll():
        while not stop:
            answers.append(_get(web + "/api/schema/"))
            time.sleep(0.2)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        for name in ("index", "valkey"):
            before = stack.worker(name).proc.pid
            stack.worker(name).kill()  # kill -9 of the whole process group
            deadline = time.time() + 30
            while time.time() < deadline and not (stack.worker(name).alive() and stack.worker(name).proc.pid != before):
                time.sleep(0.1)
            assert stack.worker(name).alive() and stack.worker(name).proc.pid != before, name
    finally:
        stop.append(1)
        poller.join(5)
    assert stack.worker("web").proc.pid == web_pid and stack.worker("web").alive()
    assert answers and set(answers) == {200}, answers
    logged = (stack.stack.log_dir / "supervisor.log").read_text()
    assert "index exited" in logged and "valkey started again" in logged
