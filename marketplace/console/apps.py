from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The staff console: server-rendered pages over the job services (queues, training, model versions, re-index)."""

    name = "marketplace.console"
    label = "console"
