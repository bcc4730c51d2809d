"""Peak web-process memory while validating four 40-megapixel PNGs at once, before and after issue #12.

"before" is the old check (header, then `Image.load()`: every pixel decoded); "after" is
`marketplace.uploads.check_image_upload` as shipped (header, then a bounded-memory decode check). Each mode runs in a
fresh Python process with Django set up in the web role, so the peaks do not mix; four threads validate four
different, highly compressible 40 MP PNGs (about 0.3 MB each: the hostile case, cheap to send) at the same time while
a sampler thread records the process's resident memory every 2 ms.

    .venv/bin/python bench/bench_upload_validation.py [--files 4] [--out bench/results/upload_validation.json]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import django
import psutil
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from marketplace.uploads import check_image_upload  # noqa: E402  (after the sys.path line)

WIDTH, HEIGHT = 8000, 5000  # exactly the 40 MP limit: accepted by the header check, so the decode check runs


def make_pngs(folder: Path, count: int) -> list[Path]:
    # lazy: only the parent draws the PNGs; the child that measures memory must not carry numpy in its baseline
    import numpy as np

    paths = []
    for n in range(count):
        path = folder / f"big-{n}.png"
        if not path.exists():
            y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
            rgb = np.stack([(x // 50 + n * 17) % 256, (y // 40) % 256, ((x + y) // 97) % 256], axis=-1).astype(np.uint8)
            Image.fromarray(rgb, "RGB").save(path, "PNG", optimize=False, compress_level=9)
        paths.append(path)
    return paths


def _legacy_check(upload) -> None:
    """The check before issue #12: header, then every pixel decoded."""
    upload.seek(0)
    with Image.open(upload) as im:
        im.load()


def measure(mode: str, paths: list[str]) -> dict:
    """Runs inside the child process."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
    os.environ["MARKETPLACE_PROCESS"] = "web"
    django.setup()
    check = _legacy_check if mode == "before" else check_image_upload
    uploads = [SimpleUploadedFile(Path(p).name, Path(p).read_bytes(), "image/png") for p in paths]
    proc = psutil.Process()
    baseline = proc.memory_info().rss
    peak, stop = [baseline], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    errors, start = [], threading.Barrier(len(uploads))

    def run(upload):
        start.wait()
        try:
            check(upload)
        except Exception as exc:  # noqa: BLE001 - reported, a benchmark must not hide a rejection
            errors.append(repr(exc))

    t0 = time.perf_counter()
    threads = [threading.Thread(target=run, args=(u,)) for u in uploads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    return {"mode": mode, "files": len(uploads), "file_bytes": [u.size for u in uploads],
            "baseline_rss_mb": baseline / 2**20, "peak_rss_mb": peak[0] / 2**20,
            "added_mb": (peak[0] - baseline) / 2**20, "wall_s": wall, "errors": errors}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--out", default=str(ROOT / "bench/results/upload_validation.json"))
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], args.child[1:])))
        return

    folder = Path(tempfile.gettempdir()) / "bench-upload-validation"
    folder.mkdir(exist_ok=True)
    paths = [str(p) for p in make_pngs(folder, args.files)]
    env = {**os.environ, "MARKETPLACE_VAR_DIR": str(folder / "var")}
    rows = []
    for mode in ("before", "after"):
        out = subprocess.run([sys.executable, __file__, "--child", mode, *paths], cwd=ROOT, env=env,
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))

    print(f"{args.files} x {WIDTH}x{HEIGHT} PNG ({rows[0]['file_bytes'][0] / 1e3:.0f} KB each), validated in parallel")
    print(f"{'mode':<8}{'baseline MB':>13}{'peak MB':>10}{'added MB':>10}{'wall s':>8}  errors")
    for r in rows:
        print(f"{r['mode']:<8}{r['baseline_rss_mb']:>13.0f}{r['peak_rss_mb']:>10.0f}{r['added_mb']:>10.0f}"
              f"{r['wall_s']:>8.2f}  {len(r['errors'])}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"width": WIDTH, "height": HEIGHT, "runs": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
