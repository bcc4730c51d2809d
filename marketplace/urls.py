from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.static import serve

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("marketplace.api.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("marketplace.pages.urls")),
    # Media through Django in the embedded default; production serves MEDIA_ROOT from the proxy or object storage.
    path(f"{settings.MEDIA_URL.strip('/')}/<path:path>", serve, {"document_root": settings.MEDIA_ROOT}),
]
