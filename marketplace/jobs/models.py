"""Job records. Each row is claimed with a conditional UPDATE (state + claim token + lease), so a duplicate
delivery of the same task does nothing, a crashed worker's task can be claimed again, and results are written
together with the final state in one transaction."""
from django.conf import settings
from django.db import models
from django.db.models import Q

from marketplace.garments import GarmentType
from marketplace.media_names import RandomName


class ModelVersion(models.Model):
    """A generator checkpoint that jobs can run. Exactly one is active; jobs record the version they used."""

    label = models.CharField(max_length=100, unique=True)
    checkpoint = models.CharField(max_length=500, help_text="path of the checkpoint file, readable by GPU workers")
    metrics = models.JSONField(default=dict, blank=True)
    training_run = models.ForeignKey("TrainingRun", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="model_versions")
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    # A roll-out waits in the gpu queue until a worker has checked the checkpoint loads: while it waits the console
    # shows it as queued; a failed check leaves its reason here (marketplace.jobs.model_versions).
    rollout_requested_at = models.DateTimeField(null=True, blank=True)
    rollout_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="one_active_model_version"),
        ]

    def __str__(self) -> str:
        return self.label


class ImageJob(models.Model):
    class State(models.TextChoices):
        # pending -> generating (a model worker decodes, preprocesses, runs G1/G2, embeds and, usually, searches too)
        # -> done or failed. `preprocessing`: only in the separate CPU layout (PREPROCESS_SEPARATE); `searching`: a
        # job handed to the index worker's search (the model worker could not reach the index).
        PENDING = "pending"
        PREPROCESSING = "preprocessing"
        GENERATING = "generating"
        SEARCHING = "searching"
        DONE = "done"
        FAILED = "failed"

    ACTIVE_STATES = (State.PREPROCESSING, State.GENERATING, State.SEARCHING)

    class Kind(models.TextChoices):
        LISTING_PHOTO = "listing_photo"
        SEARCH_QUERY = "search_query"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    listing_photo = models.OneToOneField("listings.ListingPhoto", null=True, blank=True, on_delete=models.CASCADE,
                                         related_name="job")
    search_query = models.OneToOneField("shopping.SearchQuery", null=True, blank=True, on_delete=models.CASCADE,
                                        related_name="job")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="image_jobs")
    garment_type = models.CharField(max_length=16, choices=GarmentType.choices, default=GarmentType.TOP)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING, db_index=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="stage claims so far, retries included")
    # The claim: which task delivery holds the job, and until when. A redelivery of the same message carries the
    # same task id and may take the claim back at once; any other delivery must wait for the lease to lapse.
    claimed_by = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    timings = models.JSONField(default=dict, blank=True, help_text="milliseconds per stage")
    # When each hop of the job happened (Unix seconds, name -> time; marketplace.jobs.hops names them): what
    # bench/bench_pipeline.py turns into per-hop latency. Written with the writes a stage makes anyway (the
    # hand-off and the final commit), never with a round trip of its own.
    marks = models.JSONField(default=dict, blank=True, help_text="Unix time of each hop, for latency accounting")
    # Where the separate preprocessing stage (PREPROCESS_SEPARATE) left what the networks will see, for the batched
    # generator worker to pick up; empty in the default layout (one worker preprocesses and generates). Its folder
    # is served to nobody (marketplace.media_access): the owner sees the same image as GeneratedImage.preprocessed_image.
    preprocessed_input = models.FileField(upload_to=RandomName("pipeline"), blank=True)
    preprocess_method = models.CharField(max_length=32, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="jobs")
    model_label = models.CharField(max_length=100, blank=True, help_text='"untrained-..." when no trained model ran')
    # The search stage's verdict (workers/stages/confidence.py): null until the job is done. A job that is not confident
    # still ends `done`; its results are marked low-confidence and `confidence_note` says why.
    confident = models.BooleanField(null=True, blank=True,
                                    help_text="whether the best match passed the embedder's confidence gate")
    confidence_note = models.CharField(max_length=300, blank=True, help_text="why the results are not confident")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    # imagegen.preprocess: the centre-crop fallback (and only it) means no person was detected in the photo.
    NO_PERSON_METHOD = "centre"
    NO_PERSON_WARNING = "no person detected"
    GARMENT_MISSING_WARNING = "is not in the photo"  # imagegen.preprocess.GARMENT_MISSING

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(listing_photo__isnull=False, search_query__isnull=True)
                           | Q(listing_photo__isnull=True, search_query__isnull=False)),
                name="image_job_has_one_source",
            ),
        ]

    def __str__(self) -> str:
        return f"ImageJob {self.pk} ({self.kind}, {self.state})"

    @property
    def source_image(self):
        return (self.listing_photo or self.search_query).image

    @property
    def found_no_person(self) -> bool:
        """Preprocessing found no person in the photo (it fell back to a centre crop): results are a guess."""
        return self.preprocess_method == self.NO_PERSON_METHOD or any(
            self.NO_PERSON_WARNING in str(w) for w in (self.warnings or []))

    @property
    def garment_not_in_photo(self) -> bool:
        """A person was found, but not the part of the body the requested garment covers (no hips for a bottom, say):
        the generated image is a guess, like one of a photo without a person."""
        return any(self.GARMENT_MISSING_WARNING in str(w) for w in (self.warnings or []))


class GeneratedImage(models.Model):
    """The stock-quality image made for one job, its intermediates, and its search embedding (stored so the
    search stage can be retried without running the generators again)."""

    job = models.OneToOneField(ImageJob, on_delete=models.CASCADE, related_name="generated")
    # Private to the job's owner and staff, under random names; marketplace.media_access finds the row by them.
    image = models.ImageField(upload_to=RandomName("generated"), db_index=True)
    stage1_image = models.ImageField(upload_to=RandomName("generated"), blank=True, db_index=True)
    preprocessed_image = models.ImageField(upload_to=RandomName("generated"), blank=True, db_index=True)
    embedding = models.BinaryField(help_text="float32 vector, little-endian")
    embedder_version = models.CharField(max_length=32)
    model_label = models.CharField(max_length=100)
    trained = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)


class Run(models.Model):
    """What every run an operator starts (training, re-index) records: who asked, why it failed, and the same claim
    as every job row (marketplace.jobs.lifecycle): the delivery that started the run holds it and renews its lease (a
    re-index's: the index worker's build steps); the sweeper publishes a run again when the lease lapses."""

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    claimed_by = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-id"]


class TrainingRun(Run):
    """A training run an operator started. The run acks its Celery message at once and keeps a lease with a
    heartbeat here instead: hours of training must not depend on broker redelivery (docs/FACTS.md)."""

    class State(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        CANCELLED = "cancelled"

    parameters = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING, db_index=True)
    progress = models.FloatField(default=0.0, help_text="0..1")
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    last_losses = models.JSONField(default=dict, blank=True)
    log = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    output_dir = models.CharField(max_length=500, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)


class ReindexRun(Run):
    """An operator's request to rebuild the vector index; progress is counted in stock images."""

    class State(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING, db_index=True)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)


class QueuePause(models.Model):
    """An operator paused this Celery queue: its workers stop taking messages, which wait in the broker. A row,
    not only a broadcast, so that a worker (re)started while the queue is paused stays paused
    (marketplace.jobs.queue_control)."""

    queue = models.CharField(max_length=64, unique=True)
    paused = models.BooleanField(default=False)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    changed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.queue} ({'paused' if self.paused else 'running'})"
