"""The production peers of the embedded parts, started from Debian's binaries for tests and benchmarks: PostgreSQL 15
(`DATABASE_URL`) and Redis 7 (`REDIS_URL`), each in a temporary folder on a free port, each stopped with its whole
process group. The Stack starts Redis itself (`Stack(broker="redis")`); PostgreSQL is one server for a whole test
or benchmark session, because the Django test database lives in it.

Why from Debian's packages and not containers: the suite must run on a fresh machine with no daemon (`./dev test`
installs `postgresql` and `redis-server` with apt), and what runs here is what docker-compose.yml runs in production,
minus the container.

PostgreSQL refuses to run as root: as root its commands run as the `postgres` user (`runuser`), in a folder under the
system temp dir that this user may enter (pytest's own temp dirs are private to root)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from devtools.processes import Service, free_port, spawn, start_valkey, wait_for_log

PG_BIN_DIRS = [Path(f"/usr/lib/postgresql/{v}/bin") for v in (15, 16, 17)]
REDIS_SERVER = "redis-server"
APT_HINT = "install the production peers with: apt-get install -y postgresql redis-server (./dev test does this)"


class PeersMissing(RuntimeError):
    """A peer's binary is not installed: a failure with the command that fixes it, never a silent skip."""


def pg_bin(name: str) -> str:
    for d in PG_BIN_DIRS:
        if (d / name).exists():
            return str(d / name)
    found = shutil.which(name)
    if found:
        return found
    raise PeersMissing(f"PostgreSQL's {name} was not found in {[str(d) for d in PG_BIN_DIRS]} or PATH; {APT_HINT}")


def redis_server_binary() -> str:
    found = shutil.which(REDIS_SERVER) or (REDIS_SERVER if Path(f"/usr/bin/{REDIS_SERVER}").exists() else None)
    if not found:
        raise PeersMissing(f"{REDIS_SERVER} was not found; {APT_HINT}")
    return found


def start_redis(port: int, data_dir: Path, log_dir: Path, timeout: float = 15.0) -> Service:
    """redis-server with the very settings of the embedded valkey (append-only, fsync every second)."""
    return start_valkey(port, data_dir, log_dir, timeout, binary=redis_server_binary(), name="redis")


def _as_postgres_user() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@dataclass
class Postgres:
    """One PostgreSQL server in a temporary folder: `with Postgres() as pg: pg.url`. `fsync=False` for tests (the
    data is thrown away; a benchmark of the production path keeps the default durability)."""

    fsync: bool = True
    port: int = 0
    database: str = "marketplace"
    service: Service | None = None
    folder: Path | None = None

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{self.database}"

    def start(self) -> Postgres:
        self.port = self.port or free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="marketplace-pg-"))
        data, sock, logs = self.folder / "data", self.folder / "sock", self.folder / "logs"
        for d in (data, sock, logs):
            d.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
            for d in (data, sock):
                shutil.chown(d, "postgres")
        as_pg = _as_postgres_user()
        init = subprocess.run([*as_pg, pg_bin("initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                               "-E", "UTF8", "--no-sync", "--locale=C"], capture_output=True, text=True, check=False)
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{init.stdout}\n{init.stderr}")
        cmd = [*as_pg, pg_bin("postgres"), "-D", str(data), "-p", str(self.port), "-k", str(sock),
               "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200"]
        if not self.fsync:
            cmd += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        base = spawn("postgres", cmd, logs, dict(os.environ))
        # SIGINT is PostgreSQL's fast shutdown (SIGTERM, "smart", waits for every client to leave)
        self.service = Service(base.name, base.proc, base.log_path, stop_signal=signal.SIGINT)
        try:
            wait_for_log(self.service, "database system is ready to accept connections", 60)
            created = subprocess.run([pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                                      self.database], capture_output=True, text=True, check=False)
            if created.returncode != 0:
                raise RuntimeError(f"createdb failed: {created.stderr}")
        except BaseException:
            self.stop()
            raise
        self.service.extra["url"] = self.url
        return self

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()
            self.service = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __enter__(self) -> Postgres:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def peers_env(pg: Postgres, secret_key: str = "test-only-secret-key-not-for-production") -> dict:
    """What a process needs to run on PostgreSQL: a non-SQLite DATABASE_URL marks production, which requires a
    secret key (marketplace/settings.py)."""
    return {"DATABASE_URL": pg.url, "DJANGO_SECRET_KEY": secret_key}
