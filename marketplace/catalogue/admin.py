from django.contrib import admin

from marketplace.jobs.models import ReindexRun

from .models import IndexCollection, Item, StockImage
from .services import reindex_start


class StockImageInline(admin.TabularInline):
    model = StockImage
    extra = 0
    readonly_fields = ["index_dirty", "indexed_version"]


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "category", "price", "seller", "in_stock"]
    list_filter = ["category", "in_stock"]
    search_fields = ["title"]
    inlines = [StockImageInline]


@admin.register(StockImage)
class StockImageAdmin(admin.ModelAdmin):
    list_display = ["id", "item", "index_dirty", "indexed_version", "created_at"]
    list_filter = ["index_dirty", "indexed_version"]


@admin.register(IndexCollection)
class IndexCollectionAdmin(admin.ModelAdmin):
    """Read-only: the index worker owns these rows (an operator re-indexes through ReindexRun)."""

    list_display = ["name", "embedder_version", "build", "state", "done", "total", "created_at", "switched_at"]
    list_filter = ["state", "embedder_version"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ReindexRun)
class ReindexRunAdmin(admin.ModelAdmin):
    """Adding a run starts it through `reindex_start` (one at a time: an add while one runs shows that run). Here, not
    in marketplace/jobs/admin.py: a run's size is the catalogue's, which the jobs app does not read."""

    list_display = ["id", "state", "done", "total", "created_at", "finished_at"]

    def get_fields(self, request, obj=None):
        return [] if obj is None else super().get_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else [f.name for f in ReindexRun._meta.fields]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        run = reindex_start(user=request.user)
        obj.pk = run.pk
        obj.refresh_from_db()
        obj._state.adding = False
