"""Staff console pages. Each view checks access, reads through a selector or calls one service, and renders or
redirects (POST-redirect-GET, with a message saying what happened); the JSON endpoints feed the pages' polling."""
from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from marketplace.catalogue import selectors as catalogue_selectors
from marketplace.catalogue.services import reindex_start
from marketplace.jobs import model_versions, photo_jobs, queue_control, training_progress
from marketplace.jobs import runs as job_runs
from marketplace.jobs import selectors as job_selectors
from marketplace.jobs.models import ImageJob, ModelVersion, ReindexRun, TrainingRun

from .access import staff_required
from .forms import TrainingStartForm

FAILED_JOBS_PER_PAGE = 20
RUNS_SHOWN = 30


def _workers_note(replies: int | None) -> str:
    if replies is None:
        return "the broker is unreachable: workers apply it when they reconnect or restart"
    return f"{replies} worker{'s' if replies != 1 else ''} acknowledged"


# --- queues ----------------------------------------------------------------------------------------------------
@staff_required
@require_GET
def queues(request):
    failed = ImageJob.objects.filter(state=ImageJob.State.FAILED).select_related("owner").order_by("-finished_at", "-pk")
    page = Paginator(failed, FAILED_JOBS_PER_PAGE).get_page(request.GET.get("page"))
    photo = {s: ImageJob.objects.filter(state=s).count() for s in (ImageJob.State.DONE, ImageJob.State.FAILED)}
    status = job_selectors.queues_status(stock_images_to_index=catalogue_selectors.stock_images_to_index())
    return render(request, "console/queues.html", {
        "queues": status, "failed_page": page, "photo_totals": photo, "section": "queues"})


def _queue_switch(request, name: str, switch, done: str):
    """Pause or resume queue `name` (`switch`: queue_control.queue_pause or queue_resume) and say what happened:
    `done` is the message, given `{note}` (how many workers acknowledged)."""
    try:
        replies = switch(name, user=request.user)
    except queue_control.UnknownQueue:
        raise Http404("no such queue")
    messages.success(request, done.format(name=name, note=_workers_note(replies)))
    return redirect("console:queues")


@staff_required
@require_POST
def queue_pause(request, name):
    return _queue_switch(request, name, queue_control.queue_pause,
                         "Queue {name} paused ({note}); its messages wait in the broker.")


@staff_required
@require_POST
def queue_resume(request, name):
    return _queue_switch(request, name, queue_control.queue_resume, "Queue {name} resumed ({note}).")


@staff_required
@require_POST
def job_retry(request, job_id):
    job = get_object_or_404(ImageJob, pk=job_id)
    if photo_jobs.job_retry(job):
        messages.success(request, f"Job {job.pk} is queued again.")
    else:
        messages.error(request, f"Job {job.pk} is not failed (it is {job.state}): nothing to retry.")
    return redirect("console:queues")


@staff_required
@require_POST
def jobs_retry_failed(request):
    n = photo_jobs.jobs_retry_failed()
    messages.success(request, f"{n} failed job{'s' if n != 1 else ''} queued again.")
    return redirect("console:queues")


# --- training ----------------------------------------------------------------------------------------------------
@staff_required
@require_http_methods(["GET", "POST"])
def training(request):
    posted = request.method == "POST"
    form = TrainingStartForm(request.POST if posted else None)
    if posted and form.is_valid():
        run = job_runs.training_run_start(user=request.user, parameters=form.parameters)
        messages.success(request, f"Training run {run.pk} queued on the train queue.")
        return redirect("console:training_run", run_id=run.pk)
    runs = TrainingRun.objects.select_related("requested_by")[:RUNS_SHOWN]
    return render(request, "console/training.html",
                  {"form": form, "runs": runs, "section": "training",
                   "train_paused": settings.QUEUE_TRAIN in queue_control.queues_paused()},
                  status=400 if posted else 200)


@staff_required
@require_GET
def training_run(request, run_id):
    run = get_object_or_404(TrainingRun, pk=run_id)
    return render(request, "console/training_run.html",
                  {"run": run, "progress": training_progress.training_run_progress(run), "section": "training"})


@staff_required
@require_GET
def training_run_progress(request, run_id):
    run = get_object_or_404(TrainingRun, pk=run_id)
    return JsonResponse(training_progress.training_run_progress(run))


@staff_required
@require_GET
def training_run_image(request, run_id, kind):
    run = get_object_or_404(TrainingRun, pk=run_id)
    path = training_progress.training_run_image_path(run, kind)
    if path is None:
        raise Http404("no such image yet")
    response = FileResponse(path.open("rb"), content_type="image/png")
    response["Cache-Control"] = "private, no-cache"
    return response


@staff_required
@require_POST
def training_run_cancel(request, run_id):
    run = job_runs.training_run_cancel(get_object_or_404(TrainingRun, pk=run_id))
    if run.state == TrainingRun.State.CANCELLED:
        messages.success(request, f"Training run {run.pk} cancelled.")
    elif run.state == TrainingRun.State.RUNNING:
        messages.success(request, f"Training run {run.pk} will stop at its next progress report.")
    else:
        messages.error(request, f"Training run {run.pk} already ended ({run.state}).")
    return redirect("console:training_run", run_id=run.pk)


# --- model versions ----------------------------------------------------------------------------------------------
@staff_required
@require_GET
def models(request):
    model_versions.model_version_ensure_shipped()
    columns, rows = model_versions.model_versions_compare()
    return render(request, "console/models.html", {
        "columns": columns, "rows": rows, "previous": model_versions.model_version_previous(),
        "gpu_paused": settings.QUEUE_GPU in queue_control.queues_paused(), "section": "models"})


@staff_required
@require_GET
def models_status(request):
    return JsonResponse(model_versions.model_versions_status())


@staff_required
@require_POST
def model_activate(request, version_id):
    version = get_object_or_404(ModelVersion, pk=version_id)
    try:
        model_versions.model_version_activate(version)
    except model_versions.QueueUnreachable as exc:
        messages.error(request, str(exc))
        return redirect("console:models")
    messages.success(request, f"Roll-out of {version.label} queued: a GPU worker checks it loads, then activates it.")
    return redirect("console:models")


@staff_required
@require_POST
def model_roll_back(request):
    try:
        version = model_versions.model_version_roll_back()
    except (model_versions.NothingToRollBackTo, model_versions.QueueUnreachable) as exc:
        messages.error(request, f"Cannot roll back: {exc}.")
        return redirect("console:models")
    messages.success(request, f"Rolling back to {version.label}: roll-out queued.")
    return redirect("console:models")


# --- re-index ----------------------------------------------------------------------------------------------------
@staff_required
@require_http_methods(["GET", "POST"])
def reindex(request):
    if request.method == "POST":
        before = ReindexRun.objects.filter(state__in=[ReindexRun.State.PENDING, ReindexRun.State.RUNNING]).exists()
        run = reindex_start(user=request.user)
        if before:
            messages.info(request, f"Re-index run {run.pk} is already under way; no second one was started.")
        else:
            messages.success(request, f"Re-index run {run.pk} queued.")
        return redirect("console:reindex")
    return render(request, "console/reindex.html", {
        "overview": catalogue_selectors.index_overview(),
        "runs": ReindexRun.objects.select_related("requested_by")[:RUNS_SHOWN], "section": "reindex"})


@staff_required
@require_GET
def reindex_status(request):
    runs = [{"id": r.pk, "state": r.state, "done": r.done, "total": r.total, "error": r.error}
            for r in ReindexRun.objects.all()[:RUNS_SHOWN]]
    return JsonResponse({"overview": catalogue_selectors.index_overview(), "runs": runs})
