"""The fault drill: photos uploaded through HTTP to a live, supervised stack while its parts fail, one after another:

(a) the gpu worker is killed with SIGKILL mid-job (the supervisor starts it again),
(b) valkey-server is killed and kept down `valkey_down_s` seconds,
(c) the index worker is killed and kept down `index_down_s` seconds.

Then every upload is checked against the database: each accepted upload's job is `done` (none lost), each has one
generated image and one set of results (none duplicated), and no upload got a 5xx. Per fault it reports how long the
pipeline took to recover. `tests/integration/test_faults.py` asserts on the report; `bench/bench_faults.py` prints
it as a table and writes it as JSON.

Why these three: they are the failures of the embedded stack that issue #12 saw lose or stall work, and each
exercises a different part of the job lifecycle (marketplace.jobs.lifecycle): the lease + heartbeat + sweeper (a),
publish-on-commit + the append-only broker + the sweeper's unpublished rule (b), and queued tasks waiting out a
consumer's absence plus a lapsed search-stage lease (c)."""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field

from django.conf import settings

from devtools.processes import wait_for
from marketplace.jobs.models import GeneratedImage, ImageJob
from marketplace.listings.models import Suggestion
from marketplace.shopping.models import Recommendation

ACTIVE = ("preprocessing", "generating")


@dataclass
class UploadRecord:
    kind: str  # "listing_photo" | "search"
    at: float
    status: int  # HTTP status; 0: no answer at all (connection refused, timeout)
    job_id: int | None = None
    error: str = ""
    seconds: float = 0.0


@dataclass
class Fault:
    name: str
    started_at: float = 0.0
    ended_at: float = 0.0  # the part is back (started again)
    recovered_at: float | None = None  # the pipeline moved again: see `what`
    what: str = ""
    detail: dict = field(default_factory=dict)

    def row(self) -> dict:
        rec = None if self.recovered_at is None else round(self.recovered_at - self.started_at, 1)
        back = None if self.recovered_at is None else round(self.recovered_at - self.ended_at, 1)
        return {"fault": self.name, "down_s": round(self.ended_at - self.started_at, 1),
                "recovered_after_fault_s": rec, "recovered_after_restart_s": back, "measured": self.what,
                **self.detail}


def _post(base: str, path: str, token: str, body: bytes, ctype: str, timeout: float = 60) -> tuple[int, object]:
    req = urllib.request.Request(base + path, data=body, method="POST")
    req.add_header("Authorization", f"Token {token}")
    req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        text = err.read()
        try:
            return err.code, json.loads(text or b"null")
        except ValueError:
            return err.code, text[:300].decode(errors="replace")
    except (urllib.error.URLError, OSError) as exc:  # refused, reset, timed out: the web did not answer
        return 0, str(exc)


def _multipart(image: bytes, fields: dict) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="street.jpg"\r\n'
                 f"Content-Type: image/jpeg\r\n\r\n".encode() + image + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Uploader:
    """Uploads in background threads at a steady pace, alternating listing photos and buyers' searches."""

    def __init__(self, base: str, seller_token: str, buyer_token: str, listing_id: int, photos: list,
                 threads: int = 2, interval_s: float = 4.0):
        self.base, self.seller, self.buyer, self.listing_id = base, seller_token, buyer_token, listing_id
        self.photos, self.threads, self.interval_s = photos, threads, interval_s
        self.records: list[UploadRecord] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._n = 0
        self._workers = [threading.Thread(target=self._run, args=(i,), daemon=True, name=f"uploader-{i}")
                         for i in range(threads)]

    def start(self) -> None:
        for t in self._workers:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._workers:
            t.join(timeout=120)

    def _next(self) -> int:
        with self._lock:
            self._n += 1
            return self._n

    def _run(self, i: int) -> None:
        self._stop.wait(i * self.interval_s / self.threads)  # spread the threads over the interval
        while not self._stop.is_set():
            started = time.time()
            n = self._next()
            image, garment = self.photos[n % len(self.photos)]
            if n % 2:
                kind, path, token = "listing_photo", f"/api/listings/{self.listing_id}/photos/", self.seller
            else:
                kind, path, token = "search", "/api/searches/", self.buyer
            body, ctype = _multipart(image, {"garment_type": garment})
            status, data = _post(self.base, path, token, body, ctype)
            rec = UploadRecord(kind, started, status, seconds=round(time.time() - started, 2))
            if status == 202 and isinstance(data, dict):
                rec.job_id = data["job"]["id"]
            else:
                rec.error = str(data)[:300]
            with self._lock:
                self.records.append(rec)
            self._stop.wait(max(0.0, self.interval_s - (time.time() - started)))


def _kill_gpu_mid_job(stack, timeout: float) -> Fault:
    """(a) SIGKILL of the whole gpu worker while it holds a job (of every model worker, when the stack runs several:
    whichever holds it dies); the supervisor starts them again. Recovered: the job it held is claimed again by
    another delivery (resumed), then done."""
    fault = Fault("gpu worker SIGKILL mid-job")
    caught = wait_for(lambda: ImageJob.objects.filter(state__in=ACTIVE).exclude(claimed_by="").values(
        "pk", "claimed_by").first(), timeout, 0.02)
    if caught is None:
        raise RuntimeError("no job reached the gpu worker to be killed mid-way")
    fault.started_at = time.time()
    names = stack.gpu_worker_names()
    for name in names:
        stack.service(name).kill()
    restarted = wait_for(lambda: all(stack.service(name).alive() for name in names), 60, 0.1)
    fault.ended_at = time.time() if restarted else fault.started_at

    def resumed():
        row = ImageJob.objects.filter(pk=caught["pk"]).values("state", "claimed_by").first()
        return row["state"] in ("searching", "done") or (row["claimed_by"] not in ("", caught["claimed_by"]))

    if wait_for(resumed, timeout, 0.1):
        fault.recovered_at = time.time()
    done = wait_for(lambda: ImageJob.objects.filter(pk=caught["pk"], state__in=["done", "failed"]).exists(), timeout, 0.1)
    fault.what = "the killed job claimed again (resumed)"
    fault.detail = {"job": caught["pk"], "job_done_after_fault_s": round(time.time() - fault.started_at, 1) if done
                    else None}
    return fault


def _take_down(stack, name: str, down_s: float, what: str, timeout: float, label: str) -> Fault:
    """(b), (c): kill a part, keep it down `down_s`, start it again. Recovered: the first job that was waiting on
    the part when it came back is done (every such job is checked at the end with the rest)."""
    fault = Fault(label)
    fault.started_at = time.time()
    stack.take_down(name, kill=True)
    time.sleep(down_s)
    waiting_on = set(ImageJob.objects.exclude(state__in=["done", "failed"]).values_list("pk", flat=True))
    stack.bring_up(name)
    wait_for(lambda: stack.service(name).alive(), 60, 0.1)
    fault.ended_at = time.time()
    if waiting_on and wait_for(lambda: ImageJob.objects.filter(pk__in=waiting_on, state="done").exists(), timeout, 0.1):
        fault.recovered_at = time.time()
    fault.what = what
    fault.detail = {"jobs_waiting_when_back": len(waiting_on)}
    return fault


def run(stack, *, seller_token: str, buyer_token: str, listing_id: int, photos: list, valkey_down_s: float = 10,
        index_down_s: float = 60, threads: int = 2, interval_s: float = 4.0, settle_s: float = 5,
        drain_timeout_s: float = 240) -> dict:
    """Run the drill against a running supervised `stack` (devtools.stack.Stack(supervise=True), with the web) whose
    catalogue is indexed. Returns the report (see `check`)."""
    base = stack.service("web").extra["url"]
    uploads = Uploader(base, seller_token, buyer_token, listing_id, photos, threads, interval_s)
    t0 = time.time()
    uploads.start()
    faults = []
    try:
        faults.append(_kill_gpu_mid_job(stack, timeout=90))
        time.sleep(settle_s)
        faults.append(_take_down(stack, "valkey", valkey_down_s, "a job waiting when valkey came back is done",
                                 90, f"valkey down {valkey_down_s:.0f} s (SIGKILL)"))
        time.sleep(settle_s)
        faults.append(_take_down(stack, "index", index_down_s, "a job waiting when the index worker came back is done",
                                 120, f"index worker down {index_down_s:.0f} s (SIGKILL)"))
        time.sleep(settle_s)
    finally:
        uploads.stop()
    load_s = time.time() - t0
    accepted = [r.job_id for r in uploads.records if r.job_id is not None]
    drained = wait_for(lambda: not ImageJob.objects.filter(pk__in=accepted).exclude(state__in=["done", "failed"]).exists(),
                    drain_timeout_s, 0.5)
    report = check(uploads.records)
    report.update(faults=[f.row() for f in faults], load_seconds=round(load_s, 1),
                  drain_seconds=round(time.time() - t0 - load_s, 1), drained=bool(drained),
                  supervisor_restarts=[{k: v for k, v in e.items() if k == "service" or k == "backoff_s"}
                                       for e in (stack.supervisor.events if stack.supervisor else [])])
    return report


def check(records: list[UploadRecord]) -> dict:
    """What happened to every upload, from the database: lost (accepted but not done), duplicated (more than one
    generated image, or results repeated or beyond the per-job limit), 5xx and unanswered uploads."""
    accepted = [r for r in records if r.job_id is not None]
    jobs = {j.pk: j for j in ImageJob.objects.filter(pk__in=[r.job_id for r in accepted])}
    lost, duplicated, failed, attempts = [], [], [], []
    for r in accepted:
        job = jobs.get(r.job_id)
        if job is None or job.state != "done":
            (failed if job is not None and job.state == "failed" else lost).append(
                {"job": r.job_id, "state": getattr(job, "state", None), "error": getattr(job, "error", "")[:200]})
            continue
        attempts.append(job.attempts)
        generated = GeneratedImage.objects.filter(job_id=job.pk).count()
        if job.kind == ImageJob.Kind.LISTING_PHOTO:
            rows = list(Suggestion.objects.filter(photo_id=job.listing_photo_id).values_list("rank", "stock_image_id"))
            limit = settings.SUGGESTIONS_PER_PHOTO
        else:
            rows = list(Recommendation.objects.filter(query_id=job.search_query_id).values_list("rank", "item_id"))
            limit = settings.RECOMMENDATIONS_PER_QUERY
        ranks, targets = [r[0] for r in rows], [r[1] for r in rows]
        if generated != 1 or len(rows) > limit or len(set(ranks)) != len(ranks) or len(set(targets)) != len(targets) \
                or not rows:
            duplicated.append({"job": job.pk, "generated_images": generated, "result_rows": len(rows)})
    return {
        "uploads": len(records), "accepted": len(accepted),
        "status_5xx": sum(r.status >= 500 for r in records),
        "unanswered": sum(r.status == 0 for r in records),
        "other_rejections": [asdict(r) for r in records if r.status not in (0, 202) and r.status < 500],
        "errors": [asdict(r) for r in records if r.status >= 500 or r.status == 0][:10],
        "done": len(accepted) - len(lost) - len(failed), "lost": len(lost), "failed": len(failed),
        "duplicated": len(duplicated), "lost_jobs": lost[:10], "failed_jobs": failed[:10],
        "duplicated_jobs": duplicated[:10], "max_attempts": max(attempts, default=0),
        "upload_seconds_max": max((r.seconds for r in records), default=0.0),
    }


def table(report: dict) -> str:
    lines = [f"{'fault':36}{'down s':>8}{'recovered after fault s':>25}{'after restart s':>17}",
             "-" * 86]
    for f in report["faults"]:
        rec = "-" if f["recovered_after_fault_s"] is None else f"{f['recovered_after_fault_s']:.1f}"
        back = "-" if f["recovered_after_restart_s"] is None else f"{f['recovered_after_restart_s']:.1f}"
        lines.append(f"{f['fault']:36}{f['down_s']:>8.1f}{rec:>25}{back:>17}")
    lines += ["-" * 86,
              f"uploads {report['uploads']}, accepted {report['accepted']}, done {report['done']}, lost "
              f"{report['lost']}, failed {report['failed']}, duplicated {report['duplicated']}, 5xx "
              f"{report['status_5xx']}, unanswered {report['unanswered']}; slowest upload "
              f"{report['upload_seconds_max']:.1f} s; max attempts per job {report['max_attempts']}",
              f"load {report['load_seconds']:.0f} s, drain {report['drain_seconds']:.0f} s"]
    return "\n".join(lines)
