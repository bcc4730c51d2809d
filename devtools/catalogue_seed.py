"""Seeding a catalogue from the procedural street-to-shop generator (`imagegen.offline.synth`): items with stock images
for the index, and street photos of some of them for the demo's uploads."""
from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import transaction

from imagegen.offline.synth import make_item, render_stock, render_street_photo
from marketplace.catalogue.models import Item, StockImage
from marketplace.jobs import queue, task_names

STOCK_SIZE = 256


def _png(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def seed_catalogue(items: int, seed: int = 0, seller_name: str = "catalogue") -> list[Item]:
    """Create `items` catalogue items with one stock image each (idempotent per seed: existing titles+seed skip).
    Publishes one index task; the index worker embeds and inserts them in bounded batches."""
    seller, _ = get_user_model().objects.get_or_create(username=seller_name)
    created = []
    for index in range(items):
        spec = make_item(seed, index)
        sku = f"synth-{seed}-{index}"
        if Item.objects.filter(seller=seller, title__endswith=f"[{sku}]").exists():
            continue
        with transaction.atomic():
            price = Decimal(10 + (index * 7919) % 90) + Decimal("0.99")
            item = Item.objects.create(title=f"{spec.title} [{sku}]", category=spec.garment, price=price, seller=seller)
            StockImage.objects.create(item=item, image=ContentFile(_png(render_stock(spec, STOCK_SIZE)),
                                                                   name=f"{sku}.png"))
        created.append(item)
    transaction.on_commit(lambda: queue.publish(task_names.INDEX_STOCK_IMAGES, [],
                                                queue.queue_for(task_names.INDEX_STOCK_IMAGES)))
    return created


def street_photo(index: int, seed: int = 0, photo_seed: int = 1000, size: int = 384) -> tuple[bytes, str]:
    """A JPEG street photo of catalogue item `index` (a photo seed the catalogue never used); returns (bytes, garment)."""
    spec = make_item(seed, index)
    image, _mask, _kp = render_street_photo(spec, (seed, index, photo_seed), size)
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=90)
    return buf.getvalue(), spec.garment


def write_demo_photos(out_dir: Path, indices: list[int], seed: int = 0) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in indices:
        data, _ = street_photo(i, seed)
        path = out_dir / f"street-{seed}-{i}.jpg"
        path.write_bytes(data)
        paths.append(path)
    return paths
