from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter

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
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("admin/queues/", views.QueueOverview.as_view(), name="queue-overview"),
    path("admin/queues/retry-failed/", views.RetryFailedJobs.as_view(), name="retry-failed-jobs"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("", include(router.urls)),
]
