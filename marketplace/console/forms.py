"""The training start form: the API's `TrainingParametersSerializer` is the one definition of what an operator may
set and what is valid, so the console validates with it (same bounds, same defaults, same messages) instead of a
second copy that would drift. Every typed value is kept: on an error the form shows them again with the reasons."""
from __future__ import annotations

from dataclasses import dataclass, field

from rest_framework import serializers
from rest_framework.fields import empty

from marketplace.api.serializers import TrainingParametersSerializer


LABELS = {"lr": "Learning rate", "data": "Data manifest", "activate": "Activate when done",
          "include_feedback": "Include sellers' feedback", "arch": "Architecture",
          "fm_weight": "Feature-matching weight"}


@dataclass
class FormField:
    name: str
    label: str
    kind: str  # number | select | text | checkbox
    value: object = ""
    help: str = ""
    choices: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    step: str = ""


def _kind(f) -> tuple[str, str]:
    if isinstance(f, serializers.BooleanField):
        return "checkbox", ""
    if isinstance(f, serializers.ChoiceField):
        return "select", ""
    if isinstance(f, serializers.IntegerField):
        return "number", "1"
    if isinstance(f, serializers.FloatField):
        return "number", "any"
    return "text", ""


class TrainingStartForm:
    """Wraps the serializer for a Django template: `fields` (with values and errors), `is_valid()`, `parameters`."""

    def __init__(self, data=None):
        self.data = data
        self.serializer = TrainingParametersSerializer(data=self._payload(data)) if data is not None \
            else TrainingParametersSerializer()
        self._valid = None

    @staticmethod
    def _payload(data) -> dict:
        """The form as the plain values the API receives: a checkbox is explicitly true or false (DRF reads a missing
        HTML checkbox as its default, so an unticked "include feedback" would silently stay on), an empty box is
        left out so the trainer's default applies."""
        payload = {}
        for name, f in TrainingParametersSerializer().fields.items():
            if f.read_only:
                continue
            if _kind(f)[0] == "checkbox":
                payload[name] = name in data
            elif data.get(name, "") != "":
                payload[name] = data.get(name)
        return payload

    def is_valid(self) -> bool:
        self._valid = self.serializer.is_valid()
        return self._valid

    @property
    def parameters(self) -> dict:
        return dict(self.serializer.validated_data)

    @property
    def non_field_errors(self) -> list:
        errors = self.serializer.errors if self._valid is False else {}
        return [str(e) for e in errors.get("non_field_errors", [])]

    @property
    def fields(self) -> list[FormField]:
        errors = self.serializer.errors if self._valid is False else {}
        out = []
        for name, f in self.serializer.fields.items():
            if f.read_only:
                continue
            kind, step = _kind(f)
            if self.data is not None:  # what the operator typed, valid or not
                value = (name in self.data) if kind == "checkbox" else self.data.get(name, "")
            else:
                default = None if f.default is empty else f.default
                value = (default is True) if kind == "checkbox" else ("" if default is None else default)
            out.append(FormField(name=name, label=LABELS.get(name) or (f.label or name.replace("_", " ")).capitalize(),
                                 kind=kind,
                                 value=value, help=str(f.help_text or ""), step=step,
                                 choices=[str(c) for c in getattr(f, "choices", {})] if kind == "select" else [],
                                 errors=[str(e) for e in errors.get(name, [])]))
        return out
