"""A searching process for the Milvus server tests: what an index worker does for each photo's search, in a loop, in
a process of its own (as a second index worker would), counting what a user would notice during a re-index.

    python -m tests.workers.searcher OUT.json STOP_FILE EXPECTED_ROWS

Each search reads the live row and queries its index (`index_lifecycle.live_search`, the search stage's own call) for
EXPECTED_ROWS hits. A failure is an exception (a dropped collection, a missing alias ...); a partial result is any
answer with other than EXPECTED_ROWS distinct stock images (an empty or half-built collection). It stops when
STOP_FILE exists and writes the counts to OUT.json. Environment: DATABASE_URL (the test database),
VECTOR_INDEX_URI (the server), EMBEDDER_VERSION."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main() -> None:
    out, stop, expected = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
    import django

    django.setup()
    import numpy as np
    from PIL import Image

    from search.embedders import register_embedder
    from tests.workers.test_index_lifecycle import NEW, ProjectedEmbedder
    from workers.stages import index_lifecycle

    register_embedder(NEW, ProjectedEmbedder)  # the tests' second embedder version
    query = Image.new("RGB", (64, 64), (200, 40, 90))
    counts = {"searches": 0, "failures": 0, "partial": 0, "errors": [], "collections": [], "latency_ms": []}
    Path(str(out) + ".ready").write_text("1")
    while not stop.exists():
        t = time.perf_counter()
        try:
            embedder, index = index_lifecycle.live_search()
            hits = index.search(np.asarray(embedder.embed_image(query), np.float32), expected)[0]
        except Exception as exc:
            counts["failures"] += 1
            counts["errors"] = (counts["errors"] + [f"{type(exc).__name__}: {exc}"[:300]])[:5]
            continue
        finally:
            counts["searches"] += 1
            counts["latency_ms"].append(round((time.perf_counter() - t) * 1000, 2))
        if len({h.id for h in hits}) != expected:
            counts["partial"] += 1
            counts["errors"] = (counts["errors"] + [f"{len(hits)} hits from {index.collection}"])[:5]
        seen = f"{embedder.version}:{index.collection}"
        if seen not in counts["collections"]:
            counts["collections"].append(seen)
    out.write_text(json.dumps(counts))


if __name__ == "__main__":
    main()
