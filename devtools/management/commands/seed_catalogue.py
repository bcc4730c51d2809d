from django.core.management.base import BaseCommand

from devtools.catalogue_seed import seed_catalogue


class Command(BaseCommand):
    help = "Create catalogue items with procedural stock images and queue them for indexing."

    def add_arguments(self, parser):
        parser.add_argument("--items", type=int, default=60)
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, items, seed, **_):
        created = seed_catalogue(items, seed)
        self.stdout.write(f"created {len(created)} items (seed {seed}); indexing is queued on the index worker")
