from django.templatetags.static import static
from django.urls import path
from django.views.generic import RedirectView

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("listings/", views.listings, name="listings-page"),
    path("listings/<int:pk>/", views.listing_detail, name="listing-page"),
    path("suggestions/<int:pk>/<str:decision>/", views.suggestion_decide, name="suggestion-decide"),
    path("search/", views.search, name="search-page"),
    path("search/<int:pk>/", views.search_detail, name="search-page"),
    path("jobs/<int:pk>/progress/", views.job_progress_json, name="job-progress"),
    path("items/<int:pk>/", views.item_detail, name="item-page"),
    # Browsers ask for /favicon.ico on every page that names none (the admin, the API browser): answer it.
    path("favicon.ico", RedirectView.as_view(url=static("pages/favicon.svg"), permanent=True)),
]
