import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from devtools.stack import Stack


class Command(BaseCommand):
    help = ("Run the embedded stack (valkey-server, gpu/index/train workers, web on 127.0.0.1:8000) until Ctrl-C; "
            "a part that dies is started again on its own.")

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, port, **_):
        stop = []
        signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
        # Supervised: a worker or valkey that dies is started again alone, and the web keeps serving meanwhile.
        with Stack(settings.VAR_DIR, web_port=port, supervise=True, on_event=self.stderr.write) as stack:
            self.stdout.write(f"stack up: web http://127.0.0.1:{port}/ (API docs /api/docs/, admin /admin/), "
                              f"logs in {stack.log_dir}. Ctrl-C stops it.")
            try:
                while not stop:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
        self.stdout.write("stack stopped")
