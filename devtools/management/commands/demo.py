"""`./dev demo`: start the embedded stack, seed and index a catalogue, then act as a seller and a buyer through
the HTTP API and print what the workers produced."""
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from marketplace.catalogue.models import IndexCollection, Item, StockImage
from devtools import accounts, demo
from devtools.catalogue_seed import seed_catalogue, street_photo
from devtools.stack import Stack


class Command(BaseCommand):
    help = "Run the end-to-end demo on the embedded stack and print suggestions and recommendations."

    def add_arguments(self, parser):
        parser.add_argument("--items", type=int, default=80, help="catalogue size to seed")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--uploads", type=int, default=1, help="seller uploads to time (p50 needs >= 20)")
        parser.add_argument("--keep", action="store_true", help="leave the stack running after the demo")
        parser.add_argument("--no-stack", action="store_true", help="use a stack already running (./dev up)")

    def handle(self, items, port, uploads, keep, no_stack, **_):
        if no_stack:
            return self.run_demo(f"http://127.0.0.1:{port}", items, uploads)
        with Stack(settings.VAR_DIR, web_port=port) as stack:
            self.stdout.write(f"stack up (logs: {stack.log_dir})")
            self.run_demo(stack.service("web").extra["url"], items, uploads)
            if keep:
                self.stdout.write(f"stack left running on http://127.0.0.1:{port}/ ; Ctrl-C stops it")
                try:
                    while True:
                        time.sleep(1)
                except KeyboardInterrupt:
                    pass

    def run_demo(self, base: str, items: int, uploads: int) -> None:
        out = self.stdout.write
        t0 = time.perf_counter()
        created = seed_catalogue(items, seed=0)
        out(f"catalogue: {Item.objects.count()} items ({len(created)} new) in {time.perf_counter() - t0:.1f}s")
        deadline = time.time() + 180
        # Indexed: nothing dirty, and the live collection has covered the whole catalogue (a first fill clears the
        # dirty flags batch by batch before it embeds them).
        live_filled = IndexCollection.objects.filter(state=IndexCollection.State.LIVE, finished_at__isnull=False)
        while StockImage.objects.filter(index_dirty=True).exists() or not live_filled.exists():
            if time.time() > deadline:
                raise CommandError("the index worker did not index the catalogue in 180 s: see var/logs/index.log")
            time.sleep(0.2)
        out(f"indexed {StockImage.objects.count()} stock images in Milvus ({settings.VECTOR_INDEX_URI})")

        seller = demo.Api(base, accounts.user_token("demo-seller", role="seller"))
        buyer = demo.Api(base, accounts.user_token("demo-buyer", role="buyer"))
        target = 3  # the catalogue item the people in the demo photos wear (a photo the catalogue never saw)
        target_item = Item.objects.order_by("pk")[target] if Item.objects.count() > target else None
        image, garment = street_photo(target, seed=0)

        latencies = []
        for n in range(max(uploads, 1)):
            image_n, garment_n = (image, garment) if n == 0 else street_photo(n % items, seed=0, photo_seed=2000 + n)
            up = demo.seller_upload(seller, image_n, garment_n, title=f"Demo listing {n}")
            latencies.append(up.latency_s)
            if n == 0:
                first = up
        job = first.job
        out(f"\nSELLER upload -> job {job['id']} {job['state']} in {first.latency_s * 1000:.0f} ms "
            f"(model: {job['model_label']}{'' if job['trained_model'] else ', UNTRAINED'}; "
            f"crop: {job['preprocess_method']}; stages ms: {job['timings']})")
        if job["error"]:
            out(f"  error: {job['error']}")
        out(f"  confident match: {job['confident']}" + (f" ({job['confidence_note']})" if job["confidence_note"] else ""))
        out(f"  generated stock image: {job['generated_image']}")
        out("  suggested catalogue images:")
        for s in first.results:
            mark = "  <- the photographed item" if target_item and s["stock_image"]["item"] == target_item.pk else ""
            mark += "  (low confidence)" if s["low_confidence"] else ""
            out(f"   #{s['rank']:<2} score {s['score']:.3f}  stock image {s['stock_image']['id']:<4} {s['item_title']}{mark}")

        search = demo.buyer_search(buyer, image, garment)
        job = search.job
        out(f"\nBUYER search -> job {job['id']} {job['state']} in {search.latency_s * 1000:.0f} ms (stages ms: {job['timings']})")
        out(f"  confident match: {job['confident']}" + (f" ({job['confidence_note']})" if job["confidence_note"] else ""))
        out("  recommended items:")
        for r in search.results:
            mark = "  <- the photographed item" if target_item and r["item"]["id"] == target_item.pk else ""
            mark += "  (low confidence)" if r["low_confidence"] else ""
            out(f"   #{r['rank']:<2} score {r['score']:.3f}  item {r['item']['id']:<4} {r['item']['title']} "
                f"({r['item']['price']}){mark}")
        if len(latencies) > 1:
            out(f"\nupload -> done latency over {len(latencies)} seller uploads: p50 {demo.percentile(latencies, 50) * 1000:.0f} ms, "
                f"p95 {demo.percentile(latencies, 95) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms")
