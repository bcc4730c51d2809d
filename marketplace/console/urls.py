from django.urls import path
from django.views.generic import RedirectView

from . import views

app_name = "console"
urlpatterns = [
    path("", RedirectView.as_view(pattern_name="console:queues"), name="index"),
    path("queues/", views.queues, name="queues"),
    path("queues/<str:name>/pause/", views.queue_pause, name="queue_pause"),
    path("queues/<str:name>/resume/", views.queue_resume, name="queue_resume"),
    path("jobs/<int:job_id>/retry/", views.job_retry, name="job_retry"),
    path("jobs/retry-failed/", views.jobs_retry_failed, name="jobs_retry_failed"),
    path("training/", views.training, name="training"),
    path("training/<int:run_id>/", views.training_run, name="training_run"),
    path("training/<int:run_id>/progress.json", views.training_run_progress, name="training_run_progress"),
    path("training/<int:run_id>/<str:kind>.png", views.training_run_image, name="training_run_image"),
    path("training/<int:run_id>/cancel/", views.training_run_cancel, name="training_run_cancel"),
    path("models/", views.models, name="models"),
    path("models/status.json", views.models_status, name="models_status"),
    path("models/<int:version_id>/activate/", views.model_activate, name="model_activate"),
    path("models/roll-back/", views.model_roll_back, name="model_roll_back"),
    path("reindex/", views.reindex, name="reindex"),
    path("reindex/status.json", views.reindex_status, name="reindex_status"),
]
