from django.core.management.base import BaseCommand

from marketplace.catalogue.services import reindex_start


class Command(BaseCommand):
    help = "Queue a full re-index of the catalogue on the index worker (it owns the Milvus file)."

    def handle(self, **_):
        run = reindex_start(user=None)
        self.stdout.write(f"re-index run {run.pk} queued for {run.total} stock images")
