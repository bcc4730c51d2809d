from django.core.management.base import BaseCommand

from marketplace.media_rename import media_rename_legacy


class Command(BaseCommand):
    help = ("Give photos and generated images stored before random names (job13_input.png, a client's own file "
            "name) a random name with their sniffed extension. Run once after upgrading, with no training running.")

    def handle(self, **_):
        counts = media_rename_legacy()
        self.stdout.write(f"renamed {counts['renamed']} files; skipped {counts['skipped']} (missing or not an image: "
                          f"see the log); files of unfinished jobs wait for the next run")
