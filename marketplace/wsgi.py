"""WSGI entry point (gunicorn). Marks the process as `web`, so the workers app and its ML imports stay out."""
import os

os.environ.setdefault("MARKETPLACE_PROCESS", "web")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
