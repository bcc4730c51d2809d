from django.apps import AppConfig


class ShoppingConfig(AppConfig):
    name = "marketplace.shopping"
    label = "shopping"
