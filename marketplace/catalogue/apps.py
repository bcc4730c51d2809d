from django.apps import AppConfig


class CatalogueConfig(AppConfig):
    name = "marketplace.catalogue"
    label = "catalogue"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (connects the index-removal signal)
