"""Settings for every process (web, workers, management commands, tests).

Everything that differs between the embedded default and production comes from environment variables:

| variable | embedded default | production |
|---|---|---|
| `DATABASE_URL` | SQLite file `var/db.sqlite3` | `postgres://...` |
| `REDIS_URL` | `redis://127.0.0.1:6390/0` (the valkey-server that `./dev` starts) | `redis://redis:6379/0` |
| `VECTOR_INDEX_URI` | milvus-lite file `var/milvus.db` (one process: the `index` worker) | `http://milvus:19530` |
| `MEDIA_ROOT` | `var/media` | a volume shared by web and workers |
| `MARKETPLACE_PROCESS` | `web` in wsgi.py; anything else elsewhere | |
"""
from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("MARKETPLACE_VAR_DIR", BASE_DIR / "var"))


def _env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).lower() in {"1", "true", "yes", "on"}


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me")
DEBUG = _env_bool("DJANGO_DEBUG", True)
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
    "marketplace.catalogue",
    "marketplace.listings",
    "marketplace.shopping",
    "marketplace.jobs",
    "marketplace.pages",
]
if not IS_WEB_PROCESS:
    INSTALLED_APPS.append("workers")

MIDDLEWARE = [
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
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

# --- Uploads --------------------------------------------------------------------------------------------------
# A phone photo is 2-8 MB; 15 MB leaves room for a RAW-ish PNG while keeping a hostile upload cheap to refuse.
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
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Marketplace visual search API",
    "DESCRIPTION": "Street photo -> stock-quality catalogue image -> suggested catalogue images and recommended items.",
    "VERSION": "0.1.0",
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
# Queue names: production routes and scales them without code changes.
QUEUE_GPU = os.environ.get("QUEUE_GPU", "gpu")  # preprocessing + the two generators + embedding
QUEUE_INDEX = os.environ.get("QUEUE_INDEX", "index")  # everything that opens the Milvus index
QUEUE_TRAIN = os.environ.get("QUEUE_TRAIN", "train")  # long training runs, never behind or in front of photos
CELERY_BEAT_SCHEDULE = {
    "sweep-stuck-jobs": {"task": "workers.sweep_stuck_jobs", "schedule": 30.0, "options": {"queue": QUEUE_INDEX}},
}

# --- Jobs -----------------------------------------------------------------------------------------------------
# A stage claim expires after this long without progress; the sweeper (every 30 s) then publishes it again.
JOB_LEASE_SECONDS = int(os.environ.get("JOB_LEASE_SECONDS", "300"))
# A job still pending this long after its publish is published again (the publish failed: broker down).
JOB_REPUBLISH_AFTER_SECONDS = int(os.environ.get("JOB_REPUBLISH_AFTER_SECONDS", "60"))
JOB_MAX_ATTEMPTS = int(os.environ.get("JOB_MAX_ATTEMPTS", "3"))
TRAINING_LEASE_SECONDS = int(os.environ.get("TRAINING_LEASE_SECONDS", "300"))
SUGGESTIONS_PER_PHOTO = 8
RECOMMENDATIONS_PER_QUERY = 12
# Fault injection for the crash-recovery tests and demos: seconds a generate task sleeps mid-stage. Always 0 in production.
PIPELINE_FAULT_DELAY_S = float(os.environ.get("PIPELINE_FAULT_DELAY_S", "0"))

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
