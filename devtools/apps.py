from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    """Listed in INSTALLED_APPS outside the web process only, for its management commands (`./dev up`, `./dev demo`)."""

    name = "devtools"
    label = "devtools"
