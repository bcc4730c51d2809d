"""The Django admin of training runs. It lives here rather than in marketplace/jobs because adding a run validates the
parameters with the API's `TrainingParametersSerializer` (one definition of what is valid) and the jobs app, the
bottom layer, must not import the API. Adding a run starts it through `training_run_start`, like the console and the
API; the record is then read-only (its worker writes it), and cancel is an action."""
from django import forms
from django.contrib import admin

from marketplace.api.serializers import TrainingParametersSerializer
from marketplace.jobs import runs
from marketplace.jobs.models import TrainingRun


class TrainingRunAddForm(forms.ModelForm):
    """Adding a run in the admin starts it like the console and the API do: the parameters are checked by the same
    serializer and the run is created by `training_run_start`, which publishes it."""

    class Meta:
        model = TrainingRun
        fields = ["parameters"]

    def clean_parameters(self):
        value = self.cleaned_data.get("parameters") or {}
        if not isinstance(value, dict):
            raise forms.ValidationError("a JSON object of training parameters, e.g. {\"steps\": 100}")
        serializer = TrainingParametersSerializer(data=value)
        if not serializer.is_valid():
            raise forms.ValidationError([f"{k}: {' '.join(map(str, v))}" for k, v in serializer.errors.items()])
        return dict(serializer.validated_data)


@admin.action(description="Cancel the selected training runs")
def cancel_runs(modeladmin, request, queryset):
    for run in queryset.filter(state__in=[TrainingRun.State.PENDING, TrainingRun.State.RUNNING]):
        runs.training_run_cancel(run)


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["id", "state", "progress", "step", "total_steps", "attempts", "created_at", "finished_at"]
    list_filter = ["state"]
    actions = [cancel_runs]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = TrainingRunAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return ["parameters"] if obj is None else super().get_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        # A run's record is written by its worker; an operator changes it only through actions (cancel).
        return [] if obj is None else [f.name for f in TrainingRun._meta.fields]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        run = runs.training_run_start(user=request.user, parameters=form.cleaned_data["parameters"])
        obj.pk = run.pk
        obj.refresh_from_db()
        obj._state.adding = False
