"""Steps the browser tests share, done the way a person does them: through labelled form fields and buttons."""
from __future__ import annotations

import io
import re
from pathlib import Path

from PIL import Image

JOB_TIMEOUT_MS = 120_000


def create_listing(page, title: str, garment: str = "Top") -> None:
    page.goto("/listings/")
    page.get_by_label("Title").fill(title)
    page.get_by_label("Garment type").select_option(label=garment)
    page.get_by_role("button", name="Create listing").click()
    page.wait_for_url(re.compile(r"/listings/\d+/$"))


def upload_listing_photo(page, path: Path) -> None:
    page.get_by_label("Photo of the garment being worn").set_input_files(str(path))
    page.get_by_role("button", name="Upload the photo").click()
    page.wait_for_load_state()


def search_by_photo(page, path: Path, garment: str = "Top") -> None:
    page.goto("/search/")
    page.get_by_label("Photo of someone wearing the garment").set_input_files(str(path))
    page.get_by_label("Garment type").select_option(label=garment)
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"/search/\d+/$"))


def wait_job_finished(page, section: str = ".photo-section", timeout_ms: int = JOB_TIMEOUT_MS) -> str:
    """Wait until the page's script shows the (first) job finished; returns its state. No reload happens here: the
    caller can check that with `mark_page` / `page_was_reloaded`."""
    page.wait_for_function(
        """(sel) => { const s = document.querySelector(sel);
                      return s && ["done", "failed"].includes(s.getAttribute("data-state")); }""",
        arg=section, timeout=timeout_ms)
    return page.locator(section).first.get_attribute("data-state")


def mark_page(page) -> None:
    """Leave a mark in the page's JavaScript state: a reload would erase it."""
    page.evaluate("window.__notReloaded = true")


def page_was_reloaded(page) -> bool:
    return not page.evaluate("window.__notReloaded === true")


def images_loaded(page, selector: str) -> list[str]:
    """`src` of the images under `selector` that did not load (empty when all did); waits for those still loading
    (the live update inserts new images just before the job is shown finished)."""
    page.wait_for_function("sel => [...document.querySelectorAll(sel)].every(i => i.complete)", arg=selector)
    return page.eval_on_selector_all(
        selector, "els => els.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")


def no_person_photo(tmp_path: Path) -> Path:
    """A photo of an empty sky-to-grass landscape: nothing a person detector can find."""
    im = Image.new("RGB", (384, 384))
    for y in range(384):
        colour = (110, 160, 230) if y < 230 else (70, 140, 60)
        for x in range(0, 384, 64):
            im.paste(tuple(max(0, c - (y // 12)) for c in colour), (x, y, x + 64, y + 1))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=90)
    path = tmp_path / "landscape.jpg"
    path.write_bytes(buf.getvalue())
    return path
