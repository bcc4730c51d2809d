from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("listings/", views.listings, name="listings-page"),
    path("listings/<int:pk>/", views.listing_detail, name="listing-page"),
    path("suggestions/<int:pk>/<str:decision>/", views.suggestion_decide, name="suggestion-decide"),
    path("search/", views.search, name="search-page"),
    path("search/<int:pk>/", views.search_detail, name="search-page"),
]
