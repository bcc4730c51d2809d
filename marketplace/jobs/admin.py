from django.contrib import admin

from . import services
from .models import GeneratedImage, ImageJob, ModelVersion, ReindexRun, TrainingRun


@admin.action(description="Retry the selected failed jobs")
def retry_jobs(modeladmin, request, queryset):
    for job in queryset.filter(state=ImageJob.State.FAILED):
        services.job_retry(job)


@admin.register(ImageJob)
class ImageJobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "owner", "state", "confident", "attempts", "model_label", "preprocess_method",
                    "created_at"]
    list_filter = ["state", "kind", "confident", "preprocess_method"]
    readonly_fields = ["claimed_by", "lease_expires_at", "published_at", "timings", "warnings", "error"]
    actions = [retry_jobs]


@admin.register(GeneratedImage)
class GeneratedImageAdmin(admin.ModelAdmin):
    list_display = ["id", "job", "model_label", "trained", "embedder_version", "created_at"]
    exclude = ["embedding"]


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["id", "label", "is_active", "created_at", "activated_at"]


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["id", "state", "progress", "step", "total_steps", "attempts", "created_at", "finished_at"]
    list_filter = ["state"]


@admin.register(ReindexRun)
class ReindexRunAdmin(admin.ModelAdmin):
    list_display = ["id", "state", "done", "total", "created_at", "finished_at"]
