from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from marketplace.accounts.views import ThrottledLoginView
from marketplace.media_access import media_file

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("marketplace.api.urls")),
    path("console/", include("marketplace.console.urls")),
    # Before Django's auth URLs: the same name ("login"), with a limit on password guesses.
    path("accounts/login/", ThrottledLoginView.as_view(), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("marketplace.pages.urls")),
    # Every media file goes through the permission check (photos and generated images are private; stock images are
    # public): marketplace/media_access.py. A proxy may send the bytes (MEDIA_ACCEL_REDIRECT_PREFIX), never serve
    # MEDIA_ROOT by itself.
    path(f"{settings.MEDIA_URL.strip('/')}/<path:name>", media_file, name="media"),
]
