from django.contrib import admin, messages

from . import photo_jobs
from .model_versions import QueueUnreachable, model_version_activate
from .models import GeneratedImage, ImageJob, ModelVersion


@admin.action(description="Retry the selected failed jobs")
def retry_jobs(modeladmin, request, queryset):
    for job in queryset.filter(state=ImageJob.State.FAILED):
        photo_jobs.job_retry(job)


@admin.register(ImageJob)
class ImageJobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "owner", "state", "confident", "attempts", "model_label", "preprocess_method",
                    "created_at"]
    list_filter = ["state", "kind", "confident", "preprocess_method"]
    readonly_fields = ["claimed_by", "lease_expires_at", "published_at", "timings", "marks", "preprocessed_input",
                       "warnings", "error"]
    actions = [retry_jobs]


@admin.register(GeneratedImage)
class GeneratedImageAdmin(admin.ModelAdmin):
    list_display = ["id", "job", "model_label", "trained", "embedder_version", "created_at"]
    exclude = ["embedding"]


@admin.action(description="Activate (roll out through a GPU worker)")
def activate_versions(modeladmin, request, queryset):
    """The same roll-out as the console and the API: a worker checks the checkpoint loads before it goes live.
    One version: several would race to be the one active."""
    if queryset.count() != 1:
        modeladmin.message_user(request, "Select exactly one version to activate.", messages.ERROR)
        return
    version = queryset.get()
    try:
        model_version_activate(version)
    except QueueUnreachable as exc:
        modeladmin.message_user(request, str(exc), messages.ERROR)
        return
    modeladmin.message_user(request, f"Roll-out of {version.label} queued.", messages.SUCCESS)


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    """Activation goes through the roll-out (action), never through ticking "is active" in the form."""

    list_display = ["id", "label", "is_active", "rollout_requested_at", "created_at", "activated_at"]
    readonly_fields = ["is_active", "activated_at", "rollout_requested_at", "rollout_error"]
    actions = [activate_versions]


# TrainingRun's admin lives in marketplace/console/admin.py: it validates parameters with the API's serializer, and
# ReindexRun's in marketplace/catalogue/admin.py: a run covers the catalogue's stock images. This bottom-layer app
# imports neither.
