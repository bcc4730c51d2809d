from django.contrib import admin

from .models import IndexCollection, Item, StockImage


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
