from django.apps import AppConfig


class ShoppingConfig(AppConfig):
    name = "marketplace.shopping"
    label = "shopping"

    def ready(self):
        # A finished search job writes recommendations: registered here so that marketplace.jobs never imports us.
        from marketplace.jobs import completion
        from marketplace.jobs.models import ImageJob

        from .services import jobs_results_write

        completion.register(ImageJob.Kind.SEARCH_QUERY, jobs_results_write)
