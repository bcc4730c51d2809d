"""WSGI entry point (gunicorn). Marks the process as `web`, so the workers app and its ML imports stay out."""
import os
import threading

os.environ.setdefault("MARKETPLACE_PROCESS", "web")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

from marketplace.jobs.queue import warm_up  # noqa: E402

application = get_wsgi_application()
# The publisher's first broker connection, made now rather than in the first upload (marketplace.jobs.queue.warm_up).
threading.Thread(target=warm_up, name="publisher-warm-up", daemon=True).start()
