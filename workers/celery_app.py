"""The workers' Celery app: `celery -A workers.celery_app worker -Q gpu` (see ./dev and docker-compose.yml)."""
import os

import django
from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
django.setup()

app = Celery("marketplace")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.imports = ["workers.tasks"]
