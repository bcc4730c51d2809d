"""WSGI entry point (gunicorn). Marks the process as `web`, so the workers app and its ML imports stay out."""
import os

os.environ.setdefault("MARKETPLACE_PROCESS", "web")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()


def _warm_up_publisher() -> None:
    import threading

    from marketplace.jobs.queue import warm_up

    threading.Thread(target=warm_up, name="publisher-warm-up", daemon=True).start()


_warm_up_publisher()
