"""Settings for every process (web, workers, management commands, tests).

Everything that differs between the embedded default and production comes from environment variables, and every
one of them is defined, typed and documented once, in `marketplace/config.py` (`python -m marketplace.config` lists
them). This module reads them from there (`env` below) and builds Django's settings; nothing here reads
`os.environ`. In short: `DATABASE_URL` (a `postgres://...` server instead of the SQLite file), `REDIS_URL` (Redis
instead of the valkey-server `./dev` starts), `VECTOR_INDEX_URI` (a Milvus server instead of the milvus-lite file),
`MEDIA_ROOT` (a volume shared by web and workers) switch an embedded part to its production peer; production is
`DJANGO_ENV=production` or a non-SQLite `DATABASE_URL`, and there `DJANGO_SECRET_KEY` is required.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from marketplace import config

env = config.read()  # every environment variable, typed (marketplace/config.py documents each)

BASE_DIR = config.BASE_DIR
VAR_DIR = env.MARKETPLACE_VAR_DIR


def _is_production(env: config.Config) -> bool:
    """Production is declared (`DJANGO_ENV=production`) or implied by a database server instead of the embedded
    SQLite file: either way a forgotten secret key must stop the process, not fall back to something guessable."""
    if env.DJANGO_ENV.lower() == "production":
        return True
    return bool(env.DATABASE_URL) and not env.DATABASE_URL.startswith("sqlite")


def _secret_key(key: str, var_dir: Path, production: bool) -> str:
    """`DJANGO_SECRET_KEY`, required in production. The embedded default gets a random key made once and kept in
    `var/secret-key` (sessions survive restarts, and no two installs share a key)."""
    if key:
        return key
    if production:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set in production (DJANGO_ENV=production or a "
                                   "non-SQLite DATABASE_URL); refusing to start with a made-up key")
    path = var_dir / "secret-key"
    try:
        return path.read_text().strip() or _secret_key_write(path)
    except FileNotFoundError:
        return _secret_key_write(path)


def _secret_key_write(path: Path) -> str:
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
DEBUG = env.DJANGO_DEBUG
IS_PRODUCTION = _is_production(env)
SECRET_KEY = _secret_key(env.DJANGO_SECRET_KEY.get_secret_value(), VAR_DIR, IS_PRODUCTION)
ALLOWED_HOSTS = env.DJANGO_ALLOWED_HOSTS

# The web process must not even import the workers app (it pulls in torch and milvus through its tasks):
# wsgi.py sets MARKETPLACE_PROCESS=web. Workers and management commands get the app and its commands.
IS_WEB_PROCESS = env.MARKETPLACE_PROCESS == "web"

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
if not IS_WEB_PROCESS:  # the workers' app and the tooling's management commands (runstack, demo, seed_catalogue)
    INSTALLED_APPS += ["workers", "devtools"]

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
SERVER_TIMING = env.SERVER_TIMING

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
DATABASES = {  # an empty DATABASE_URL leaves no database, as dj_database_url.config does
    "default": dj_database_url.parse(env.DATABASE_URL, conn_max_age=env.DB_CONN_MAX_AGE) if env.DATABASE_URL else {}
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
    DATABASES["default"]["TEST"] = {"NAME": env.TEST_DATABASE_PATH}
    if IS_WEB_PROCESS and env.SQLITE_WRITE_GATE:
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
MEDIA_ROOT = env.MEDIA_ROOT
# Media is served only through the permission-checked view (marketplace/media_access.py). Set to an nginx
# `internal` location (e.g. /protected-media/) to let the proxy send the bytes after the check (X-Accel-Redirect).
MEDIA_ACCEL_REDIRECT_PREFIX = env.MEDIA_ACCEL_REDIRECT_PREFIX
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"
# ISO 4217 code of every price in the marketplace; shown by marketplace.catalogue.display.price_text.
MARKETPLACE_CURRENCY = env.MARKETPLACE_CURRENCY

# --- Uploads --------------------------------------------------------------------------------------------------
# A phone photo is 2-8 MB; 15 MiB (shown to people as "15.7 MB", marketplace.uploads.upload_limit_text) leaves room
# for a RAW-ish PNG while keeping a hostile upload cheap to refuse.
UPLOAD_MAX_BYTES = env.UPLOAD_MAX_BYTES
UPLOAD_MAX_PIXELS = env.UPLOAD_MAX_PIXELS
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
    "login": env.THROTTLE_LOGIN,  # per username and client address
    "upload": env.THROTTLE_UPLOAD,  # per user: listing photos and searches together
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
CELERY_BROKER_URL = env.REDIS_URL
CELERY_RESULT_BACKEND = env.CELERY_RESULT_BACKEND
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
    "visibility_timeout": env.CELERY_VISIBILITY_TIMEOUT,
    "unacked_restore_interval": env.CELERY_UNACKED_RESTORE_INTERVAL,
    "unacked_restore_throttle": 1,
}
CELERY_TASK_DEFAULT_QUEUE = "default"
# Without it Celery's Django fixup closes the worker's database connection before and after EVERY task, so each
# stage of each photo opens a new one (SQLite: a cold page cache; PostgreSQL: a new backend). Measured on the
# embedded default (bench/bench_pipeline.py, 30 uploads): the two claims 4.9 -> 3.8 ms and 2.8 -> 1.9 ms, upload ->
# done 1.67x -> 1.54x the compute. Workers still drop a connection that errored and no longer answers before each
# task (workers/celery_app.py).
CELERY_DB_REUSE_MAX = env.CELERY_DB_REUSE_MAX or None
# Queue names: production routes and scales them without code changes.
QUEUE_GPU = env.QUEUE_GPU  # preprocessing + the two generators + embedding
QUEUE_INDEX = env.QUEUE_INDEX  # everything that opens the Milvus index
QUEUE_TRAIN = env.QUEUE_TRAIN  # long training runs, never behind or in front of photos
QUEUE_CPU = env.QUEUE_CPU  # preprocessing (mediapipe) when PREPROCESS_SEPARATE is on
# Re-index runs and the build of a new index collection, on a queue of their own so that photo searches never wait
# behind a build. Used only with a Milvus server (VECTOR_INDEX_URI http://...): with milvus-lite only the index worker
# may open the file, so builds stay on QUEUE_INDEX there, in bounded batches between searches (jobs.queue.queue_for).
QUEUE_REINDEX = env.QUEUE_REINDEX
# The lease sweeper (marketplace.jobs.lifecycle) runs every few seconds, so a job caught by a crash resumes within
# a lease plus one sweep; the index checks stay on the 30 s sweep.
JOB_SWEEP_SECONDS = env.JOB_SWEEP_SECONDS
CELERY_BEAT_SCHEDULE = {
    # `expires`: while the index queue is paused (staff console) the beat's messages must not pile up.
    "sweep-stuck-jobs": {"task": "workers.sweep_stuck_jobs", "schedule": 30.0,
                         "options": {"queue": QUEUE_INDEX, "expires": 25.0}},
    "sweep-job-leases": {"task": "workers.sweep_job_leases", "schedule": JOB_SWEEP_SECONDS,
                         "options": {"queue": QUEUE_INDEX, "expires": 10 * JOB_SWEEP_SECONDS}},
}

# --- Jobs, the photo pipeline, machine learning (the last read by workers only) -------------------------------
# The configuration's values as they are: each is documented once, in marketplace/config.py.
PASSED_THROUGH = (
    "JOB_LEASE_SECONDS", "JOB_REPUBLISH_AFTER_SECONDS", "JOB_MAX_ATTEMPTS", "JOB_WAIT_MAX_SECONDS",
    "TRAINING_LEASE_SECONDS", "REINDEX_LEASE_SECONDS", "TRAINING_SYNTH_ITEMS", "TRAINING_SYNTH_PHOTOS",
    "PIPELINE_FAULT_DELAY_S", "GPU_BATCH_MAX", "GPU_BATCH_WAIT_MS", "PREPROCESS_SEPARATE",
    "SEARCH_IN_MODEL_WORKER", "VECTOR_INDEX_URI", "MODEL_DIR", "TRAINING_DATA_DIR",
    "ML_DEVICE",
)
globals().update({name: getattr(env, name) for name in PASSED_THROUGH})
SUGGESTIONS_PER_PHOTO = 8
RECOMMENDATIONS_PER_QUERY = 12

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
