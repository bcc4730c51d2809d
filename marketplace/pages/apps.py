from django.apps import AppConfig


class PagesConfig(AppConfig):
    name = "marketplace.pages"
    label = "pages"
