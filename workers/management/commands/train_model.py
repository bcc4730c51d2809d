import uuid

from django.core.management.base import BaseCommand

from marketplace.jobs.models import TrainingRun
from workers.stages.training import run_training


class Command(BaseCommand):
    help = "Train the two-stage generator in this process (the same function the train_model task runs)."

    def add_arguments(self, parser):
        parser.add_argument("--data", help="manifest path (default: procedural data under TRAINING_DATA_DIR)")
        parser.add_argument("--steps", type=int)
        parser.add_argument("--image-size", type=int, choices=[64, 128, 256])
        parser.add_argument("--batch-size", type=int)
        parser.add_argument("--seed", type=int)
        parser.add_argument("--arch", choices=["v1", "v2"], help="network architecture (default: v1, the shipped one)")
        parser.add_argument("--fm-weight", type=float, help="feature-matching loss weight (default 0; pix2pixHD: 10)")
        parser.add_argument("--activate", action="store_true", help="roll the new model out when done")

    def handle(self, **opts):
        params = {k: opts[k] for k in ("data", "steps", "image_size", "batch_size", "seed", "arch", "fm_weight") if opts.get(k) is not None}
        params["activate"] = opts["activate"]
        run = TrainingRun.objects.create(parameters=params)
        outcome = run_training(run.pk, f"cli-{uuid.uuid4()}")
        run.refresh_from_db()
        self.stdout.write(f"training run {run.pk}: {outcome} ({run.error or run.log})")
