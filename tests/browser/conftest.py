"""Browser tests: Debian's Chromium, driven by Playwright, against the product's real servers.

One live site per test session (valkey, the gpu and index Celery workers, and the web server as its own process on
a free port, all on the test database and the test MEDIA_ROOT), with a small catalogue seeded and indexed. Starting
it costs about 12-15 s on two cores, so every browser test module shares it; it is stopped right after the last
browser test, so its workers never run under the test modules that follow.

Fixtures for test writers:

- `live_site`   session: `.url` (base URL), `.items` (the seeded catalogue `Item`s), `.stack` (devtools.stack.Stack,
                `.stack.service("web").log_tail()` helps when a page fails), `.redis_url`. Photo jobs take
                JOB_DELAY_S longer than usual, so a page shows them running before they finish.
- `page`        a desktop (1280x900) Playwright page on a fresh browser context whose base URL is the live site, so
                `page.goto("/listings/")` works. It records console errors, uncaught page errors, failed requests and
                4xx/5xx responses; any of them fails the test at teardown. A screenshot of the final state is kept
                in `var/test-artifacts/screenshots/<test>.png` (the folder is printed at the end of the run).
- `mobile_page` the same on a 390x844 touch phone (screenshot `<test>-mobile.png`).
- `browser_log` the recorder behind both: `browser_log.allow(413, "/listings/")` declares a response status (and the
                console line Chromium prints for it) expected for URLs containing the given text.
- `make_user`   `make_user(role="seller"|"buyer"|None, staff=False)` -> a new user with a unique name whose password
                is `PASSWORD`.
- `log_in`      `log_in(page, user)` logs in through the site's login form and waits to leave it.
- `street_photo_file` `street_photo_file(index)` -> path of a JPEG street photo of catalogue item `index`.

The tests use the ORM directly (create users, read jobs) without `django_db` markers: the database access fixture
here unblocks it, and nothing is flushed between tests, because a flush would delete the seeded catalogue under the
running workers. Tests must therefore not use `pytest.mark.django_db` (the harness refuses it) and should create
their own users instead of relying on an empty database. Stopping the site flushes the database once, so later
test modules start from an empty database as usual. Shared page steps (create a listing, upload, search, wait for a
job on the page) are in tests/browser/flows.py.
"""
from __future__ import annotations

import itertools
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

from tests.conftest import _start_stack
from devtools.processes import ROOT, free_port

# Playwright's sync API runs an asyncio event loop in the test's thread; Django then sees "an event loop is running"
# and refuses every ORM call with SynchronousOnlyOperation. The loop is only Playwright's (no coroutine of ours ever
# touches a connection concurrently), so the ORM is safe here and the check is switched off for this process.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = ROOT / "var" / "test-artifacts" / "screenshots"
PASSWORD = "browser-test-pw-1"
CATALOGUE_ITEMS = 12
# Every photo job here takes about 0.3 s, often less than the redirect to its page: the page would only ever show it
# finished. The generate stage waits this long (the pipeline's fault-injection delay) so that a test sees the job
# running and then watches the page's script bring it to done.
JOB_DELAY_S = 1.5
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True}


def pytest_collection_modifyitems(items):
    for item in items:
        if _is_browser_test(item):
            item.add_marker(pytest.mark.integration)


def pytest_terminal_summary(terminalreporter):
    if ARTIFACTS.exists() and any(ARTIFACTS.iterdir()):
        terminalreporter.write_line(f"browser screenshots: {ARTIFACTS}")


@dataclass
class LiveSite:
    url: str
    redis_url: str
    stack: object
    items: list = field(default_factory=list)
    close: object = None  # stops the servers and empties the database; idempotent


_open_sites: list[LiveSite] = []


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    """Stop the live site right after the last browser test, not at the end of the whole session: its workers (and
    the index worker's sweeper) would otherwise keep running on the shared test database under the tests that
    follow, and take their jobs."""
    if _is_browser_test(item) and (nextitem is None or not _is_browser_test(nextitem)):
        while _open_sites:
            _open_sites.pop().close()


def _is_browser_test(item) -> bool:
    return Path(str(item.fspath)).resolve().parent == Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def live_site(tmp_path_factory, media_root, django_db_setup, django_db_blocker):
    from django.core.management import call_command

    from marketplace.jobs import queue
    from tests.integration.helpers import seed_and_reindex

    own_databases = _ensure_test_database(django_db_blocker)
    tmp = tmp_path_factory.mktemp("browser-stack")
    stack = _start_stack(tmp, media_root, web_port=free_port(), extra_env={"PIPELINE_FAULT_DELAY_S": str(JOB_DELAY_S)})
    redis_url = stack.env()["REDIS_URL"]
    broker = override_settings(CELERY_BROKER_URL=redis_url, CELERY_RESULT_BACKEND=redis_url)
    broker.enable()
    closed = []

    def close() -> None:
        if closed:
            return
        closed.append(True)
        stack.stop()
        broker.disable()
        queue._app = None
        with django_db_blocker.unblock():  # leave an empty database for the test modules that run after these
            call_command("flush", interactive=False, verbosity=0)
            if own_databases is not None:
                from django.test.utils import teardown_databases

                teardown_databases(own_databases, verbosity=0)

    try:
        stack.__enter__()
        queue._app = None  # this process publishes the seed's index task to the test broker
        with django_db_blocker.unblock():
            items = seed_and_reindex(CATALOGUE_ITEMS)
        site = LiveSite(stack.service("web").extra["url"], redis_url, stack, items, close)
        _open_sites.append(site)
        yield site
    finally:
        close()


def _ensure_test_database(django_db_blocker):
    """pytest-django creates the test database only for sessions that collected a `django_db` test; a run of the
    browser tests alone would otherwise seed, and finally flush, the developer's own database. Create it here when
    nothing else did (returned for teardown), and refuse to go on unless the connection is the test database."""
    from django.db import connection
    from django.test.utils import setup_databases

    test_name = (connection.settings_dict.get("TEST") or {}).get("NAME")
    created = None
    if connection.settings_dict["NAME"] != test_name:
        with django_db_blocker.unblock():
            created = setup_databases(verbosity=0, interactive=False, aliases={"default"})
    if connection.settings_dict["NAME"] != test_name or settings.DATABASES["default"]["NAME"] != test_name:
        raise RuntimeError(f"the browser tests must run on the test database {test_name}, "
                           f"not {connection.settings_dict['NAME']}")
    return created


@pytest.fixture(autouse=True)
def _orm_without_flush(request, django_db_blocker):
    if request.node.get_closest_marker("django_db"):
        pytest.fail("browser tests share one seeded live site: do not mark them django_db (a flush would delete "
                    "the catalogue under the running workers); the harness already allows ORM access")
    with django_db_blocker.unblock():
        yield


@pytest.fixture(scope="session")
def _playwright():
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    yield pw
    pw.stop()


@pytest.fixture(scope="session")
def browser(_playwright):
    if not os.access(CHROMIUM, os.X_OK):
        raise RuntimeError(f"Chromium not found at {CHROMIUM}: the browser tests never skip. Install it with "
                           f"`apt-get install chromium` (./dev test does this) or set CHROMIUM_PATH.")
    b = _playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    yield b
    b.close()


class BrowserLog:
    """What went wrong in the browser during one test: console errors, page errors, failed requests and error
    responses. `allow(status, url_part)` declares an expected error response."""

    def __init__(self):
        self.problems: list[str] = []
        self.allowed: list[tuple[int, str]] = []

    def allow(self, status: int, url_part: str = "") -> None:
        self.allowed.append((status, url_part))

    def _is_allowed(self, status: int, url: str) -> bool:
        return any(status == s and part in url for s, part in self.allowed)

    def on_console(self, msg) -> None:
        if msg.type != "error":
            return
        # Chromium also prints every error response as a console line; an allowed response allows its line.
        m = re.search(r"status of (\d{3})", msg.text)
        if m and self._is_allowed(int(m.group(1)), (msg.location or {}).get("url", "")):
            return
        self.problems.append(f"console error: {msg.text} ({(msg.location or {}).get('url', '')})")

    def on_page_error(self, exc) -> None:
        self.problems.append(f"page error: {exc}")

    def on_request_failed(self, request) -> None:
        failure = request.failure or ""
        # ERR_ABORTED is Chromium cancelling a request because the page navigated away (a poll or an image still
        # loading when a form is submitted); a broken resource shows up as an error response or another net error.
        if "ERR_ABORTED" in failure:
            return
        self.problems.append(f"request failed: {request.method} {request.url}: {failure}")

    def on_response(self, response) -> None:
        if response.status >= 400 and not self._is_allowed(response.status, response.url):
            self.problems.append(f"HTTP {response.status}: {response.request.method} {response.url}")


@pytest.fixture
def browser_log() -> BrowserLog:
    return BrowserLog()


def _screenshot_name(request, suffix: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    return f"{name}{suffix}.png"


def _open_page(request, browser, live_site, log: BrowserLog, options: dict, suffix: str):
    if live_site not in _open_sites:
        raise RuntimeError("the live site was stopped after the last browser test: run the browser tests together "
                           "(pytest keeps a directory's tests together unless told otherwise)")
    context = browser.new_context(base_url=live_site.url, **options)
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.on("console", log.on_console)
    page.on("pageerror", log.on_page_error)
    page.on("requestfailed", log.on_request_failed)
    page.on("response", log.on_response)
    return context, page


def _finish_page(request, context, page, log: BrowserLog, suffix: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(ARTIFACTS / _screenshot_name(request, suffix)), full_page=True)
    except Exception as exc:  # a crashed page: the problems list says why
        log.problems.append(f"screenshot failed: {exc}")
    context.close()
    if log.problems:
        pytest.fail("the browser reported problems:\n  " + "\n  ".join(log.problems), pytrace=False)


@pytest.fixture
def page(request, browser, live_site, browser_log):
    context, pg = _open_page(request, browser, live_site, browser_log, DESKTOP, "")
    yield pg
    _finish_page(request, context, pg, browser_log, "")


@pytest.fixture
def mobile_page(request, browser, live_site, browser_log):
    context, pg = _open_page(request, browser, live_site, browser_log, PHONE, "-mobile")
    yield pg
    _finish_page(request, context, pg, browser_log, "-mobile")


_user_numbers = itertools.count(1)


@pytest.fixture
def make_user(live_site):
    from django.contrib.auth import get_user_model

    def make(role: str | None = "seller", staff: bool = False, username: str | None = None):
        name = username or f"{role or 'user'}{next(_user_numbers)}-{uuid.uuid4().hex[:6]}"
        user = get_user_model().objects.create_user(name, password=PASSWORD, is_staff=staff)
        if role:
            from marketplace.accounts.roles import role_assign

            role_assign(user, role)
        return user

    return make


def log_in_through_form(page, user, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


@pytest.fixture
def log_in():
    return log_in_through_form


@pytest.fixture
def street_photo_file(tmp_path):
    from devtools.catalogue_seed import street_photo

    def make(index: int = 3) -> Path:
        data, _garment = street_photo(index, seed=0)
        path = tmp_path / f"street-{index}.jpg"
        path.write_bytes(data)
        return path

    return make
