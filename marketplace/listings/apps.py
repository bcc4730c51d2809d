from django.apps import AppConfig

from marketplace.jobs import completion


class ListingsConfig(AppConfig):
    name = "marketplace.listings"
    label = "listings"

    def ready(self):
        # A finished listing-photo job writes suggestions: registered here so that marketplace.jobs never imports us.
        from marketplace.jobs.models import ImageJob  # lazy: models (and what imports them) once the apps are loaded

        from .services import jobs_results_write

        completion.register(ImageJob.Kind.LISTING_PHOTO, jobs_results_write)
