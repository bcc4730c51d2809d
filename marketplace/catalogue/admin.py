from django.contrib import admin

from .models import Item, StockImage


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
