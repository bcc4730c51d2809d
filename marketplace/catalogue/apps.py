from django.apps import AppConfig


class CatalogueConfig(AppConfig):
    name = "marketplace.catalogue"
    label = "catalogue"

    def ready(self) -> None:
        from . import signals  # noqa: F401  lazy: connects the index signals; it imports the models, only once loaded
