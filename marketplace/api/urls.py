from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from marketplace.pages.api_docs import redoc_script

from . import views

router = DefaultRouter()
router.register("items", views.ItemViewSet, basename="item")
router.register("listings", views.ListingViewSet, basename="listing")
router.register("suggestions", views.SuggestionViewSet, basename="suggestion")
router.register("jobs", views.JobViewSet, basename="job")
router.register("searches", views.SearchQueryViewSet, basename="search")
router.register("admin/training-runs", views.TrainingRunViewSet, basename="training-run")
router.register("admin/reindex-runs", views.ReindexRunViewSet, basename="reindex-run")
router.register("admin/model-versions", views.ModelVersionViewSet, basename="model-version")

urlpatterns = [
    path("auth/token/", views.TokenLogin.as_view(), name="api-token"),
    path("admin/queues/", views.QueueOverview.as_view(), name="queue-overview"),
    path("admin/queues/retry-failed/", views.RetryFailedJobs.as_view(), name="retry-failed-jobs"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI and Redoc from drf-spectacular-sidecar's static files (settings.SPECTACULAR_SETTINGS): no CDN.
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema", template_name="pages/api_redoc.html"),
         name="api-redoc"),
    path("redoc/redoc.standalone.js", redoc_script, name="api-redoc-script"),
    path("", include(router.urls)),
]
