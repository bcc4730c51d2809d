"""Every environment variable of every process (web, workers, management commands, the embedded stack), read here
and nowhere else: name, type, default and one line of documentation, once each (the fields of `Config` below, each
with its doc string). `python -m marketplace.config` prints them as a table.

Who reads what:
- `marketplace/settings.py` builds the Django settings from `read()` once, when Django loads them: the web, the
  workers and every management command read those values as `django.conf.settings.X`.
- The workers (`workers.runtime`, `workers.celery_app`) and the embedded stack (`devtools.stack`) read the few values
  that are not Django settings (the torch threads, the embedder's version and device, the warm-up, the stack's sizes)
  through `read()` at the moment they need them, as they read the environment before: a test or a benchmark that
  changes `EMBEDDER_VERSION` or `REINDEX_THREADS` in its own process is seen on the next call.
- The ML packages (`imagegen`, `search`, `backbones`, `offline`) never import this module: they take plain arguments,
  which the workers pass from here.

Library: pydantic-settings (2.x, on pydantic 2), not django-environ. It declares the configuration as one typed class,
so each variable is defined once, with its type, its default and its doc string in one place, and a malformed value
stops the process with the variable's name in the error. django-environ reads a variable where the code asks for it
(`env.int("X", default=...)`), keeps no documentation, and its casts differ from Python's in ways this project's
variables would notice: its float cast drops every character but digits, `,`, `.` and `-` (`1e-3` is read as 13.0),
and a value starting with `$` is taken as a reference to another variable (a secret key may start with one).
The web process pays about 0.1 s once at start for importing pydantic; it imports no ML library through this module.

Parsing is kept exactly as it was when each process read `os.environ` itself (issue #26): names are case-sensitive,
no `.env` file is read, an integer or a float goes through Python's `int()` / `float()` (so ` 60 `, `1_000`, `1e1`
and `inf` mean what they meant), and a switch is on for `1`, `true`, `yes` or `on` in any case and off for anything
else, the empty string included.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, SecretStr
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

BASE_DIR = Path(__file__).resolve().parent.parent
_TRUE = frozenset({"1", "true", "yes", "on"})


def _switch(value: Any) -> bool:
    """On for 1/true/yes/on (any case), off for anything else; a default given as a bool reads as its own name."""
    return str(value).lower() in _TRUE


def _int(value: Any) -> int:
    return int(value)


def _optional_int(value: Any) -> int | None:
    """Unset or empty: None (the reader falls back to its own default); else an integer."""
    return None if value is None or value == "" else int(value)


def _float(value: Any) -> float:
    return float(value)


def _path(value: Any) -> Path:
    return Path(value)


def _comma_list(value: Any) -> list[str]:
    return value.split(",") if isinstance(value, str) else list(value)


Switch = Annotated[bool, BeforeValidator(_switch)]
Int = Annotated[int, BeforeValidator(_int)]
OptionalInt = Annotated[int | None, BeforeValidator(_optional_int)]
Float = Annotated[float, BeforeValidator(_float)]
FsPath = Annotated[Path, BeforeValidator(_path)]
CommaList = Annotated[list[str], NoDecode, BeforeValidator(_comma_list)]


def _under_var(name: str):
    """A default under MARKETPLACE_VAR_DIR (read first: fields are read in order)."""
    return lambda data: data["MARKETPLACE_VAR_DIR"] / name


class Config(BaseSettings):
    """The environment of a process, typed. Field names are the variables' names."""

    model_config = SettingsConfigDict(case_sensitive=True, env_file=None, extra="ignore", frozen=True,
                                      use_attribute_docstrings=True, validate_default=True)

    # --- Where things live --------------------------------------------------------------------------------------
    MARKETPLACE_VAR_DIR: FsPath = BASE_DIR / "var"
    """Folder of everything the embedded default writes (database, media, index, models, logs, secret key)."""
    MARKETPLACE_PROCESS: str = ""
    """`web` in the web process (set by marketplace/wsgi.py): it then never loads the workers' or the tooling's app."""

    # --- Django and the web -------------------------------------------------------------------------------------
    DJANGO_DEBUG: Switch = False
    """Debug pages, for a developer only (they show settings and source to anyone who triggers an error)."""
    DJANGO_ENV: str = ""
    """`production` (any case) declares production; so does a non-SQLite DATABASE_URL."""
    DJANGO_SECRET_KEY: SecretStr = SecretStr("")
    """Required in production; empty elsewhere: a random key made once and kept in MARKETPLACE_VAR_DIR/secret-key."""
    DJANGO_ALLOWED_HOSTS: CommaList = "127.0.0.1,localhost,testserver"
    """Host names the site answers to, comma-separated."""
    SERVER_TIMING: Switch = True
    """A `Server-Timing` header with the phases of each request (marketplace/request_timing.py); 0 turns it off."""
    DATABASE_URL: str = Field(default_factory=lambda d: f"sqlite:///{d['MARKETPLACE_VAR_DIR'] / 'db.sqlite3'}")
    """The database (dj-database-url syntax), e.g. `postgres://...`; default: SQLite MARKETPLACE_VAR_DIR/db.sqlite3."""
    DB_CONN_MAX_AGE: Int = 60
    """Seconds a database connection is kept between requests (a server database; SQLite always closes: 0)."""
    TEST_DATABASE_PATH: str = Field(default_factory=lambda d: str(d["MARKETPLACE_VAR_DIR"] / "test-db.sqlite3"))
    """SQLite file of the test database (a file, not memory: integration tests start real workers on it)."""
    SQLITE_WRITE_GATE: Switch = True
    """Web process on SQLite: its threads queue for the write lock among themselves (marketplace/sqlite_gated)."""
    MEDIA_ROOT: FsPath = Field(default_factory=_under_var("media"))
    """Uploaded and generated images; a volume shared by web and workers in production. Default: VAR_DIR/media."""
    MEDIA_ACCEL_REDIRECT_PREFIX: str = ""
    """An nginx `internal` location (e.g. `/protected-media/`) that sends media after the permission check; empty:
    the web process streams it itself."""
    MARKETPLACE_CURRENCY: str = "EUR"
    """ISO 4217 code of every price in the marketplace."""
    UPLOAD_MAX_BYTES: Int = 15 * 1024 * 1024
    """Largest accepted upload, in bytes (15 MiB)."""
    UPLOAD_MAX_PIXELS: Int = 40_000_000
    """Largest accepted image, in pixels (width x height)."""
    THROTTLE_LOGIN: str = "10/min"
    """Sign-in attempts per username and client address (DRF rate: N/sec, N/min, N/hour, N/day)."""
    THROTTLE_UPLOAD: str = "120/min"
    """Uploads per user, listing photos and searches together (DRF rate)."""
    LOG_LEVEL: str = "INFO"
    """Level of the root logger."""

    # --- Celery and the queues ----------------------------------------------------------------------------------
    REDIS_URL: str = "redis://127.0.0.1:6390/0"
    """The Celery broker: the valkey-server `./dev` starts, or `redis://redis:6379/0` in production."""
    CELERY_RESULT_BACKEND: str = Field(default_factory=lambda d: d["REDIS_URL"])
    """Where task results are kept (a debugging aid only: the database is the record); default: REDIS_URL."""
    CELERY_VISIBILITY_TIMEOUT: Int = 120
    """Seconds before the broker delivers an unacknowledged message again (a killed worker's task)."""
    CELERY_UNACKED_RESTORE_INTERVAL: Int = 10
    """Seconds between the broker's scans for unacknowledged messages to restore."""
    CELERY_DB_REUSE_MAX: Int = 1000
    """Tasks a worker runs on one database connection before it opens a new one; 0: Celery's default (every task)."""
    QUEUE_GPU: str = "gpu"
    """Queue of preprocessing, the two generators and embedding."""
    QUEUE_INDEX: str = "index"
    """Queue of everything that opens the vector index."""
    QUEUE_TRAIN: str = "train"
    """Queue of the long training runs."""
    QUEUE_CPU: str = "cpu"
    """Queue of preprocessing (mediapipe) when PREPROCESS_SEPARATE is on."""
    QUEUE_REINDEX: str = "reindex"
    """Queue of re-index runs and index builds, with a Milvus server (with milvus-lite they stay on QUEUE_INDEX)."""

    # --- Jobs ---------------------------------------------------------------------------------------------------
    JOB_SWEEP_SECONDS: Float = 3
    """Seconds between two runs of the lease sweeper (a crashed job resumes within a lease plus this)."""
    JOB_LEASE_SECONDS: Int = 10
    """A stage's claim lease on a job, renewed by a heartbeat every quarter of it."""
    JOB_REPUBLISH_AFTER_SECONDS: Int = 60
    """A job still pending this long after its publish is published again (the publish failed: broker down)."""
    JOB_MAX_ATTEMPTS: Int = 3
    """Attempts of a job's stage before the job fails."""
    JOB_WAIT_MAX_SECONDS: Float = 20
    """The longest `GET /api/jobs/{id}/?wait=S` holds a web thread waiting for the job to end."""
    TRAINING_LEASE_SECONDS: Int = 300
    """A training run's lease, renewed by its heartbeat."""
    REINDEX_LEASE_SECONDS: Int = 300
    """A re-index run's lease, renewed by each build batch."""
    TRAINING_SYNTH_ITEMS: Int = 120
    """Procedural items made as training data when a run names no `data` manifest."""
    TRAINING_SYNTH_PHOTOS: Int = 3
    """Procedural street photos per item of that data."""

    # --- The photo pipeline -------------------------------------------------------------------------------------
    PIPELINE_FAULT_DELAY_S: Float = 0
    """Fault injection for crash-recovery tests and demos: seconds a generate task sleeps mid-stage (0 in production)."""
    GPU_BATCH_MAX: Int = 16
    """Photos one model worker generates and embeds as one batch."""
    GPU_BATCH_WAIT_MS: Float = 0
    """Longest wait of a batch's first photo for others to arrive; 0: only what is already queued."""
    PREPROCESS_SEPARATE: Switch = False
    """Preprocessing (mediapipe) in its own stage on QUEUE_CPU, feeding a batched model worker (a GPU machine)."""
    SEARCH_IN_MODEL_WORKER: Switch = True
    """A model worker searches right after generating (the index worker does when it cannot); off: always the index
    worker."""

    # --- Machine learning (workers) -----------------------------------------------------------------------------
    VECTOR_INDEX_URI: str = Field(default_factory=lambda d: str(d["MARKETPLACE_VAR_DIR"] / "milvus.db"))
    """The vector index: a milvus-lite file (default VAR_DIR/milvus.db, opened by the index worker only) or a Milvus
    server, `http://milvus:19530`. Not MILVUS_URI: pymilvus reads that itself and rejects a file path."""
    MODEL_DIR: FsPath = Field(default_factory=_under_var("models"))
    """Trained generator checkpoints. Default: VAR_DIR/models."""
    TRAINING_DATA_DIR: FsPath = Field(default_factory=_under_var("training-data"))
    """Training data made or imported for runs. Default: VAR_DIR/training-data."""
    ML_DEVICE: str = "auto"
    """Device of the generators: `auto` (CUDA when there is one), `cpu` or `cuda`."""
    TORCH_THREADS: Int = 0
    """torch's threads in a worker process; 0: torch's default (the embedded stack sets 1: devtools.stack)."""
    EMBEDDER_VERSION: str = ""
    """The search embedder new index collections are built with; empty: the shipped default
    (search.embedders.DEFAULT_VERSION). A change builds a new collection and switches to it (blue/green)."""
    EMBEDDER_DEVICE: str = "cpu"
    """Device of a learned embedder: `cpu` (a query at a time, where a GPU buys nothing), `cuda`, or `auto`."""
    REINDEX_THREADS: Int = 0
    """Decode + embed threads of a re-index (search.parallel_embed); 0: the cores, at most 4."""
    WORKER_WARMUP: str = ""
    """What a worker child loads in the background at start: `generator`, `index`, `preprocess`; empty: nothing."""

    # --- The embedded stack (devtools.stack, `./dev up`) --------------------------------------------------------
    GPU_WORKERS: OptionalInt = None
    """Model worker processes the embedded stack starts (at least 1); unset or empty: the cores, at most 4."""
    WORKER_NICE: Int = 10
    """CPU niceness of the stack's workers, so that web requests are not queued behind generation; 0: none."""
    WEB_SERVER: str = "gunicorn"
    """The stack's web server: `gunicorn` (as production) or `runserver`."""
    WEB_PROCESSES: Int = 2
    """gunicorn processes of the stack's web server."""
    WEB_THREADS: Int = 10
    """Threads per gunicorn process."""
    VALKEY_PORT: Int = 6390
    """Port of the stack's valkey-server (the broker) when the caller names none."""

    # --- Benchmarks -------------------------------------------------------------------------------------------------
    BENCH_PROFILE: str = ""
    """bench/bench_reindex.py: the run (VERSION:THREADS:SOURCE) to profile with cProfile; empty: none."""


class _Given(Config):
    """The configuration of a given mapping only: the one source is the keyword arguments (pydantic-settings'
    `settings_customise_sources`), so the process environment is not consulted."""

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        return (init_settings,)


_last: tuple[tuple, Config] | None = None  # (the environment's values of our variables, what they parsed to)


def read(environ: Mapping[str, str] | None = None) -> Config:
    """The configuration in the process environment now, or in `environ` alone (e.g. a child process's environment).

    The process environment is parsed again only when one of our variables changed since the last call: parsing all
    of them takes ~0.9 ms, and the workers ask per batch (which embedder, which device); the look-up that decides
    takes microseconds, so a test or a benchmark that changes a variable mid-process still sees it at once."""
    global _last
    if environ is None:
        key = tuple(os.environ.get(name) for name in Config.model_fields)
        last = _last
        if last is not None and last[0] == key:
            return last[1]
        parsed = Config()
        _last = (key, parsed)
        return parsed
    return _Given(**{name: environ[name] for name in Config.model_fields if name in environ})


def table() -> str:
    """Every variable as a Markdown table: name, type, default, what it does."""
    rows = ["| variable | type | default | what |", "|---|---|---|---|"]
    for name, field in Config.model_fields.items():
        kind = getattr(field.annotation, "__name__", None) or str(field.annotation)
        if field.default_factory is not None:
            default = "(derived: see the text)"
        elif isinstance(field.default, SecretStr):
            default = "empty"
        elif isinstance(field.default, Path) and field.default.is_relative_to(BASE_DIR):
            default = f"`<checkout>/{field.default.relative_to(BASE_DIR)}`"
        else:
            default = f"`{field.default}`" if field.default not in ("", None) else "empty"
        doc = " ".join((field.description or "").split())
        rows.append(f"| `{name}` | {kind} | {default} | {doc} |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.stdout.write(table() + "\n")
