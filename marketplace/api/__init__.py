"""The REST API (Django REST framework). Views validate input and call one service or selector; the rules live
in the apps' services."""
