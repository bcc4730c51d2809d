"""Settings for every process (web, workers, management commands, tests).

Everything that differs between the embedded default and production comes from environment variables:

| variable | embedded default | production |
|---|---|---|
| `DATABASE_URL` | SQLite file `var/db.sqlite3` | `postgres://...` |
| `REDIS_URL` | `redis://127.0.0.1:6390/0` (the valkey-server that `./dev` starts) | `redis://redis:6379/0` |
| `VECTOR_INDEX_URI` | milvus-lite file `var/milvus.db` (one process: the `index` worker) | `http://milvus:19530` |
| `MEDIA_ROOT` | `var/media` | a volume shared by web and workers |
| `MEDIA_ACCEL_REDIRECT_PREFIX` | empty: the web process streams media after the check | an nginx internal location, e.g. `/protected-media/` |
| `MARKETPLACE_PROCESS` | `web` in wsgi.py; anything else elsewhere | |
| `DJANGO_DEBUG` | off (`1` turns debug pages on, for a developer) | off |
| `DJANGO_ENV` | unset | `production` (implied by a non-SQLite `DATABASE_URL`) |
| `DJANGO_SECRET_KEY` | random, made once in `var/secret-key` | required: the process refuses to start without it |
| `THROTTLE_LOGIN`, `THROTTLE_UPLOAD` | `10/min`, `120/min` | DRF rates (`N/sec|min|hour|day`) |
| `JOB_WAIT_MAX_SECONDS` | `20`: the longest `GET /api/jobs/{id}/?wait=` holds a web thread | the same |
| `REINDEX_THREADS` | the cores, at most 4: decode + embed threads of a re-index | the index worker's cores |
| `GPU_WORKERS` | the cores, at most 4: model workers the embedded stack starts (workers.stack) | one per GPU |
| `GPU_BATCH_MAX` | `16`: photos one model worker generates and embeds as one batch | the same |
| `SEARCH_IN_MODEL_WORKER` | on: a model worker searches right after generating (the index worker when it cannot) | on |
"""
from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("MARKETPLACE_VAR_DIR", BASE_DIR / "var"))


def _env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).lower() in {"1", "true", "yes", "on"}


def _is_production() -> bool:
    """Production is declared (`DJANGO_ENV=production`) or implied by a database server instead of the embedded
    SQLite file: either way a forgotten secret key must stop the process, not fall back to something guessable."""
    if os.environ.get("DJANGO_ENV", "").lower() == "production":
        return True
    url = os.environ.get("DATABASE_URL", "")
    return bool(url) and not url.startswith("sqlite")


def _secret_key(var_dir: Path, production: bool) -> str:
    """`DJANGO_SECRET_KEY`, required in production. The embedded default gets a random key made once and kept in
    `var/secret-key` (sessions survive restarts, and no two installs share a key)."""
    key = os.environ.get("DJANGO_SECRET_KEY", "")
    if key:
        return key
    if production:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set in production (DJANGO_ENV=production or a "
                                   "non-SQLite DATABASE_URL); refusing to start with a made-up key")
    path = var_dir / "secret-key"
    try:
        return path.read_text().strip() or _secret_key_write(path)
    except FileNotFoundError:
        return _secret_key_write(path)


def _secret_key_write(path: Path) -> str:
    import secrets

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(50))
    try:  # link() is atomic and never replaces: when web and workers start together, the first key wins
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()


# Debug pages show settings and source to anyone who triggers an error: only a developer turns them on.
DEBUG = _env_bool("DJANGO_DEBUG", False)
IS_PRODUCTION = _is_production()
SECRET_KEY = _secret_key(VAR_DIR, IS_PRODUCTION)
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")

# The web process must not even import the workers app (it pulls in torch and milvus through its tasks):
# wsgi.py sets MARKETPLACE_PROCESS=web. Workers and management commands get the app and its commands.
IS_WEB_PROCESS = os.environ.get("MARKETPLACE_PROCESS") == "web"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc files served from here: /api/docs/ works offline
    "marketplace.accounts",
    "marketplace.catalogue",
    "marketplace.listings",
    "marketplace.shopping",
    "marketplace.jobs",
    "marketplace.pages",
    "marketplace.console",
]
if not IS_WEB_PROCESS:
    INSTALLED_APPS.append("workers")

MIDDLEWARE = [
    # Outermost: a `Server-Timing` header with the phases of the request (marketplace/request_timing.py).
    "marketplace.request_timing.ServerTiming",
    "marketplace.middleware.RejectOversizedBody",
    "django.middleware.security.SecurityMiddleware",
    # Static files (admin, API docs) from the web process itself, also with DEBUG off under gunicorn.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Per-phase timings of each request in a `Server-Timing` header (milliseconds only; `0` turns it off).
SERVER_TIMING = _env_bool("SERVER_TIMING", True)

ROOT_URLCONF = "marketplace.urls"
WSGI_APPLICATION = "marketplace.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------------
# SQLite is shared by the web process and two worker processes: WAL lets readers run beside the one writer, and
# IMMEDIATE transactions plus a busy timeout make writers queue instead of failing with "database is locked".
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}", conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60"))
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Integration tests run real worker processes against the test database, so it must be a file, not memory.
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_DATABASE_PATH", str(VAR_DIR / "test-db.sqlite3"))}
    if IS_WEB_PROCESS and _env_bool("SQLITE_WRITE_GATE", True):
        # The web's threads queue for the write lock among themselves instead of in SQLite's sleeping busy handler
        # (the upload tail of issue #12: marketplace/sqlite_gated/base.py).
        DATABASES["default"]["ENGINE"] = "marketplace.sqlite_gated"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise expects it; filled by collectstatic in the image
WHITENOISE_USE_FINDERS = True  # serve app static files without collectstatic in the embedded default
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
# Media is served only through the permission-checked view (marketplace/media_access.py). Set to an nginx
# `internal` location (e.g. /protected-media/) to let the proxy send the bytes after the check (X-Accel-Redirect).
MEDIA_ACCEL_REDIRECT_PREFIX = os.environ.get("MEDIA_ACCEL_REDIRECT_PREFIX", "")
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"
# ISO 4217 code of every price in the marketplace; shown by marketplace.catalogue.display.price_text.
MARKETPLACE_CURRENCY = os.environ.get("MARKETPLACE_CURRENCY", "EUR")

# --- Uploads --------------------------------------------------------------------------------------------------
# A phone photo is 2-8 MB; 15 MiB (shown to people as "15.7 MB", marketplace.uploads.upload_limit_text) leaves room
# for a RAW-ish PNG while keeping a hostile upload cheap to refuse.
UPLOAD_MAX_BYTES = int(os.environ.get("UPLOAD_MAX_BYTES", 15 * 1024 * 1024))
UPLOAD_MAX_PIXELS = int(os.environ.get("UPLOAD_MAX_PIXELS", 40_000_000))
UPLOAD_MIN_SIDE = 32
DATA_UPLOAD_MAX_MEMORY_SIZE = UPLOAD_MAX_BYTES + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- REST framework -------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "marketplace.api.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 50,
    # JSON nested deeper than a few levels is refused with 400 (marketplace/api/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "marketplace.api.parsers.DepthLimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}
# Read at request time by marketplace/api/throttling.py (DRF rate syntax: N/sec, N/min, N/hour, N/day).
THROTTLE_RATES = {
    "login": os.environ.get("THROTTLE_LOGIN", "10/min"),  # per username and client address
    "upload": os.environ.get("THROTTLE_UPLOAD", "120/min"),  # per user: listing photos and searches together
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Marketplace visual search API",
    "DESCRIPTION": "Street photo -> stock-quality catalogue image -> suggested catalogue images and recommended items.",
    "VERSION": "0.1.0",
    # Swagger UI and Redoc from drf-spectacular-sidecar's static files, not a CDN; no online validator badge.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

# --- Celery (read by both the web publisher and the workers' app) ----------------------------------------------
CELERY_BROKER_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6390/0")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", CELERY_BROKER_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The database is the record of every job; task results in the backend are only an operator's debugging aid.
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Measured (docs/FACTS.md): a killed worker's message returns only after visibility_timeout plus a restore scan,
# and a task running longer than visibility_timeout is delivered again while still running. Pipeline tasks take
# seconds, so 120 s is far above them and recovery takes about two minutes. Training does NOT rely on redelivery
# (it acks early and holds a database lease with a heartbeat instead).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "120")),
    "unacked_restore_interval": int(os.environ.get("CELERY_UNACKED_RESTORE_INTERVAL", "10")),
    "unacked_restore_throttle": 1,
}
CELERY_TASK_DEFAULT_QUEUE = "default"
# Without it Celery's Django fixup closes the worker's database connection before and after EVERY task, so each
# stage of each photo opens a new one (SQLite: a cold page cache; PostgreSQL: a new backend). Measured on the
# embedded default (bench/bench_pipeline.py, 30 uploads): the two claims 4.9 -> 3.8 ms and 2.8 -> 1.9 ms, upload ->
# done 1.67x -> 1.54x the compute. Workers still drop a connection that errored and no longer answers before each
# task (workers/celery_app.py).
CELERY_DB_REUSE_MAX = int(os.environ.get("CELERY_DB_REUSE_MAX", "1000")) or None
# Queue names: production routes and scales them without code changes.
QUEUE_GPU = os.environ.get("QUEUE_GPU", "gpu")  # preprocessing + the two generators + embedding
QUEUE_INDEX = os.environ.get("QUEUE_INDEX", "index")  # everything that opens the Milvus index
QUEUE_TRAIN = os.environ.get("QUEUE_TRAIN", "train")  # long training runs, never behind or in front of photos
QUEUE_CPU = os.environ.get("QUEUE_CPU", "cpu")  # preprocessing (mediapipe) when PREPROCESS_SEPARATE is on
# Re-index runs and the build of a new index collection, on a queue of their own so that photo searches never wait
# behind a build. Used only with a Milvus server (VECTOR_INDEX_URI http://...): with milvus-lite only the index worker
# may open the file, so builds stay on QUEUE_INDEX there, in bounded batches between searches (jobs.queue.queue_for).
QUEUE_REINDEX = os.environ.get("QUEUE_REINDEX", "reindex")
# The lease sweeper (marketplace.jobs.lifecycle) runs every few seconds, so a job caught by a crash resumes within
# a lease plus one sweep; the index checks stay on the 30 s sweep.
JOB_SWEEP_SECONDS = float(os.environ.get("JOB_SWEEP_SECONDS", "3"))
CELERY_BEAT_SCHEDULE = {
    # `expires`: while the index queue is paused (staff console) the beat's messages must not pile up.
    "sweep-stuck-jobs": {"task": "workers.sweep_stuck_jobs", "schedule": 30.0,
                         "options": {"queue": QUEUE_INDEX, "expires": 25.0}},
    "sweep-job-leases": {"task": "workers.sweep_job_leases", "schedule": JOB_SWEEP_SECONDS,
                         "options": {"queue": QUEUE_INDEX, "expires": 10 * JOB_SWEEP_SECONDS}},
}

# --- Jobs -----------------------------------------------------------------------------------------------------
# A stage's claim lease. Short, because a heartbeat thread renews it every quarter while the stage runs: a killed
# worker's job is published again by the sweeper within this plus JOB_SWEEP_SECONDS, not after the broker's
# visibility timeout (minutes).
JOB_LEASE_SECONDS = int(os.environ.get("JOB_LEASE_SECONDS", "10"))
# A job still pending this long after its publish is published again (the publish failed: broker down).
JOB_REPUBLISH_AFTER_SECONDS = int(os.environ.get("JOB_REPUBLISH_AFTER_SECONDS", "60"))
JOB_MAX_ATTEMPTS = int(os.environ.get("JOB_MAX_ATTEMPTS", "3"))
# The longest `GET /api/jobs/{id}/?wait=S` may hold a web thread waiting for the job to end (jobs.job_events).
JOB_WAIT_MAX_SECONDS = float(os.environ.get("JOB_WAIT_MAX_SECONDS", "20"))
TRAINING_LEASE_SECONDS = int(os.environ.get("TRAINING_LEASE_SECONDS", "300"))
# A re-index run's lease, renewed by each build batch (a batch of 1,000 stock images takes seconds to a minute).
REINDEX_LEASE_SECONDS = int(os.environ.get("REINDEX_LEASE_SECONDS", "300"))
# Procedural training data made when a run names no `data` manifest (workers.training.default_manifest).
TRAINING_SYNTH_ITEMS = int(os.environ.get("TRAINING_SYNTH_ITEMS", "120"))
TRAINING_SYNTH_PHOTOS = int(os.environ.get("TRAINING_SYNTH_PHOTOS", "3"))
SUGGESTIONS_PER_PHOTO = 8
RECOMMENDATIONS_PER_QUERY = 12
# Fault injection for the crash-recovery tests and demos: seconds a generate task sleeps mid-stage. Always 0 in production.
PIPELINE_FAULT_DELAY_S = float(os.environ.get("PIPELINE_FAULT_DELAY_S", "0"))
# Micro-batching in the generate stage (workers.batching): a worker takes up to GPU_BATCH_MAX waiting photo jobs at
# once and runs the generators and the embedding on them as one batch (12 ms an image at batch 1, 3.8 ms at 16 on
# CPU; on a GPU batching is where throughput comes from; with two model workers on 2 cores, 20 concurrent uploads
# went through at 83 % of cores / per-photo compute with batches of 8 and 87 % with 16, bench/bench_pipeline.py).
# GPU_BATCH_WAIT_MS caps how long the batch's first photo waits for others to arrive: 0 takes only what is already
# queued, so a photo alone is never held back.
GPU_BATCH_MAX = int(os.environ.get("GPU_BATCH_MAX", "16"))
GPU_BATCH_WAIT_MS = float(os.environ.get("GPU_BATCH_WAIT_MS", "0"))
# Preprocessing (mediapipe, CPU only) in its own stage on QUEUE_CPU, so that on a GPU machine several CPU worker
# processes feed one batched generator worker. Off in the embedded default: one worker does both, no extra hop.
PREPROCESS_SEPARATE = os.environ.get("PREPROCESS_SEPARATE", "0").lower() in ("1", "true", "yes")
# The model worker searches the catalogue itself, right after generating (workers.pipeline.find_in_place), through
# the Milvus server or, embedded, the index worker's milvus-lite server (workers.index_endpoint); only when it cannot
# does it hand the jobs to the index worker by a second task. Off: every search goes through the index worker.
SEARCH_IN_MODEL_WORKER = _env_bool("SEARCH_IN_MODEL_WORKER", True)

# --- Machine learning (read by workers only) ------------------------------------------------------------------
# Not named MILVUS_URI: pymilvus reads that variable itself at import and rejects a milvus-lite file path.
VECTOR_INDEX_URI = os.environ.get("VECTOR_INDEX_URI", str(VAR_DIR / "milvus.db"))
MODEL_DIR = Path(os.environ.get("MODEL_DIR", VAR_DIR / "models"))
TRAINING_DATA_DIR = Path(os.environ.get("TRAINING_DATA_DIR", VAR_DIR / "training-data"))
ML_DEVICE = os.environ.get("ML_DEVICE", "auto")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
