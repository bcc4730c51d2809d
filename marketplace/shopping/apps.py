from django.apps import AppConfig

from marketplace.jobs import completion


class ShoppingConfig(AppConfig):
    name = "marketplace.shopping"
    label = "shopping"

    def ready(self):
        # A finished search job writes recommendations: registered here so that marketplace.jobs never imports us.
        from marketplace.jobs.models import ImageJob  # lazy: models (and what imports them) once the apps are loaded

        from .services import jobs_results_write

        completion.register(ImageJob.Kind.SEARCH_QUERY, jobs_results_write)
