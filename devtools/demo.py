"""The demo as a user sees it: a seller and a buyer talk to the HTTP API; the workers do the rest.

Used by `./dev demo` (manage.py demo) and by bench/bench_upload_latency.py."""
from __future__ import annotations

import json
import statistics
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass


class Api:
    """A tiny JSON + multipart HTTP client (urllib: no extra dependency) authenticated by a DRF token."""

    def __init__(self, base: str, token: str | None = None):
        self.base, self.token = base.rstrip("/"), token

    def _req(self, method: str, path: str, body: bytes | None = None, ctype: str | None = None):
        url = path if path.startswith("http") else self.base + path
        req = urllib.request.Request(url, data=body, method=method)
        if self.token:
            req.add_header("Authorization", f"Token {self.token}")
        if ctype:
            req.add_header("Content-Type", ctype)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def get(self, path):
        return self._req("GET", path)

    def post_json(self, path, data: dict):
        return self._req("POST", path, json.dumps(data).encode(), "application/json")

    def post_image(self, path, image: bytes, filename: str = "photo.jpg", fields: dict | None = None):
        boundary = uuid.uuid4().hex
        parts = []
        for k, v in (fields or {}).items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{filename}"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + image + b"\r\n")
        parts.append(f"--{boundary}--\r\n".encode())
        return self._req("POST", path, b"".join(parts), f"multipart/form-data; boundary={boundary}")

    def wait_job(self, job_url: str, timeout: float = 120.0, poll: float | None = None) -> dict:
        """The job once it is done or failed. By default a long poll (`?wait=`: the answer comes the moment the job
        ends); with `poll` seconds, plain polling at that interval instead."""
        deadline = time.time() + timeout
        job: dict = {}
        while time.time() < deadline:
            url = job_url if poll else f"{job_url}?wait={min(20.0, max(0.1, deadline - time.time())):.1f}"
            status, job = self.get(url)
            if status == 200 and job["state"] in ("done", "failed"):
                return job
            if poll:
                time.sleep(poll)
        raise TimeoutError(f"job {job_url} not finished after {timeout:.0f}s (last state {job.get('state')})")


@dataclass
class Upload:
    kind: str
    latency_s: float
    job: dict
    results: list


def seller_upload(api: Api, image: bytes, garment: str, title: str = "Demo listing") -> Upload:
    status, listing = api.post_json("/api/listings/", {"title": title, "garment_type": garment})
    assert status == 201, listing
    t0 = time.perf_counter()
    status, accepted = api.post_image(f"/api/listings/{listing['id']}/photos/", image)
    assert status == 202, accepted
    job = api.wait_job(accepted["job"]["url"])
    latency = time.perf_counter() - t0
    _, suggestions = api.get(f"/api/listings/{listing['id']}/suggestions/")
    return Upload("seller", latency, job, suggestions)


def buyer_search(api: Api, image: bytes, garment: str) -> Upload:
    t0 = time.perf_counter()
    status, accepted = api.post_image("/api/searches/", image, fields={"garment_type": garment})
    assert status == 202, accepted
    job = api.wait_job(accepted["job"]["url"])
    latency = time.perf_counter() - t0
    _, recs = api.get(f"/api/searches/{accepted['id']}/recommendations/")
    return Upload("buyer", latency, job, recs)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]
