"""The staff console in a real browser, against the live site plus a `train` worker: queues (pause, resume), a short
training run watched to `done` without a reload, activating its model and rolling back, and a re-index. The `page`
fixture fails a test on any console error, page error, failed request or unexpected error response."""
import re

import pytest

from tests.browser.conftest import ARTIFACTS
from tests.browser.flows import images_loaded, mark_page, page_was_reloaded

TRAINING_TIMEOUT_MS = 240_000
ROLL_OUT_TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def train_worker(live_site):
    """The shared live site runs the gpu and index workers; training needs the train worker too."""
    from devtools.stack import start_worker

    stack = live_site.stack
    worker = start_worker("train", "train", stack.env(), stack.log_dir)
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def tiny_manifest(tmp_path_factory):
    from imagegen.offline.synth import generate_dataset

    return generate_dataset(tmp_path_factory.mktemp("console-data"), items=6, photos_per_item=1, seed=3, workers=1,
                            image_size=256, progress=False, contact_sheet=False)


@pytest.fixture
def staff_page(page, make_user, log_in):
    log_in(page, make_user(role=None, staff=True))
    return page


@pytest.fixture
def shipped_model_stays_active():
    """The other browser tests search with the active model: leave the shipped one active whatever happens here."""
    yield
    from django.utils import timezone

    from marketplace.jobs.models import ModelVersion

    if not ModelVersion.objects.filter(is_active=True, label="shipped-step6000").exists():
        ModelVersion.objects.filter(is_active=True).update(is_active=False)
        ModelVersion.objects.filter(label="shipped-step6000").update(is_active=True, activated_at=timezone.now())


def test_staff_link_leads_to_the_queues_page_where_a_queue_is_paused_and_resumed(staff_page, train_worker):
    page = staff_page
    page.get_by_role("link", name="Staff console").click()
    page.wait_for_url(re.compile(r"/console/queues/$"))
    for name in ("gpu", "index", "train"):
        assert page.locator(f'section[data-queue="{name}"] [data-testid=queue-state]').inner_text() == "running"
    page.get_by_role("button", name="Pause train").click()
    page.wait_for_url(re.compile(r"/console/queues/$"))
    assert page.locator('section[data-queue="train"] [data-testid=queue-state]').inner_text() == "paused"
    assert "Queue train paused (1 worker acknowledged)" in page.locator(".messages").inner_text()
    page.get_by_role("button", name="Resume train").click()
    page.wait_for_url(re.compile(r"/console/queues/$"))
    assert page.locator('section[data-queue="train"] [data-testid=queue-state]').inner_text() == "running"
    assert "Queue train resumed (1 worker acknowledged)" in page.locator(".messages").inner_text()


def test_training_form_shows_errors_next_to_fields_and_keeps_what_was_typed(staff_page):
    page = staff_page
    page.goto("/console/training/")
    page.get_by_label("Steps").fill("0")
    page.get_by_label("Batch size").fill("4")
    page.get_by_role("button", name="Start training").click()
    page.wait_for_load_state()
    assert page.locator("#err_steps").is_visible()
    assert page.get_by_label("Steps").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Batch size").input_value() == "4"


# The form's 400 answer is the expected outcome of the test above, not a problem.
@pytest.fixture(autouse=True)
def _allow_form_errors(request, browser_log):
    if request.node.name.startswith("test_training_form_shows_errors"):
        browser_log.allow(400, "/console/training/")


def test_training_run_started_in_the_console_reaches_done_and_is_activated_then_rolled_back(
        staff_page, train_worker, tiny_manifest, shipped_model_stays_active):
    page = staff_page
    page.goto("/console/training/")
    page.get_by_label("Steps").fill("3")
    page.get_by_label("Batch size").fill("2")
    page.get_by_label("Image size").select_option("64")
    page.get_by_label("Data manifest").fill(str(tiny_manifest))
    page.get_by_label("Include sellers' feedback").uncheck()
    page.get_by_role("button", name="Start training").click()
    page.wait_for_url(re.compile(r"/console/training/\d+/$"))
    run_id = int(re.search(r"/training/(\d+)/", page.url).group(1))

    mark_page(page)
    page.wait_for_function("() => document.querySelector('[data-field=state]').textContent === 'done'",
                           timeout=TRAINING_TIMEOUT_MS)
    assert not page_was_reloaded(page)
    assert page.locator("[data-field=step]").inner_text() == "3"
    page.wait_for_function("() => [...document.querySelectorAll('img[data-kind]')].every(i => !i.hidden)")
    assert images_loaded(page, "img[data-kind]") == []
    assert page.locator("[data-field=loss-svg] > *").count() > 0
    assert page.get_by_role("button", name="Cancel run").count() == 0
    label = f"run{run_id}-step3"
    assert label in page.locator("[data-field=version]").inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "console-training-run-done.png"), full_page=True)

    page.goto("/console/models/")
    shipped_row = page.locator("tr", has=page.get_by_role("rowheader", name="shipped-step6000"))
    assert "active" in shipped_row.get_attribute("class")
    page.get_by_role("button", name=f"Activate {label}").click()
    page.wait_for_url(re.compile(r"/console/models/$"))
    trained_row = page.locator("tr", has=page.get_by_role("rowheader", name=label))
    # Queued, then (the page polls, and shows the outcome when the roll-out ends) active.
    page.wait_for_function(
        "l => [...document.querySelectorAll('tr.active th')].some(th => th.textContent === l)", arg=label,
        timeout=ROLL_OUT_TIMEOUT_MS)
    assert "active" in trained_row.locator("[data-field=status]").inner_text()

    page.get_by_role("button", name="Roll back to shipped-step6000").click()
    page.wait_for_url(re.compile(r"/console/models/$"))
    assert "Rolling back to shipped-step6000" in page.locator(".messages").inner_text()
    page.wait_for_function(
        "() => [...document.querySelectorAll('tr.active th')].some(th => th.textContent === 'shipped-step6000')",
        timeout=ROLL_OUT_TIMEOUT_MS)


def test_reindex_is_started_from_the_console_and_its_progress_shown(staff_page):
    page = staff_page
    page.goto("/console/reindex/")
    assert page.locator("[data-field=live]").inner_text() != "none yet"
    page.get_by_role("button", name="Start a re-index").click()
    page.wait_for_url(re.compile(r"/console/reindex/$"))
    assert re.search(r"Re-index run \d+ (queued|is already under way)", page.locator(".messages").inner_text())
    mark_page(page)
    page.wait_for_function("() => document.querySelector('[data-field=runs] tr .state').textContent === 'done'",
                           timeout=120_000)
    assert not page_was_reloaded(page)
