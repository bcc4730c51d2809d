from django.apps import AppConfig


class ListingsConfig(AppConfig):
    name = "marketplace.listings"
    label = "listings"

    def ready(self):
        # A finished listing-photo job writes suggestions: registered here so that marketplace.jobs never imports us.
        from marketplace.jobs import completion
        from marketplace.jobs.models import ImageJob

        from .services import jobs_results_write

        completion.register(ImageJob.Kind.LISTING_PHOTO, jobs_results_write)
