"""The pages on a 390x844 phone: nothing scrolls sideways and every control is big enough to touch."""
from tests.browser.flows import create_listing, search_by_photo, upload_listing_photo, wait_job_finished

MIN_TOUCH_PX = 40
OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
SMALL_CONTROLS = """(min) => [...document.querySelectorAll(
        'button, input:not([type=hidden]), select, a.button, nav a, .card a.item-link')]
    .filter(el => el.offsetParent !== null)
    .map(el => [el.outerHTML.slice(0, 80), el.getBoundingClientRect().height])
    .filter(([html, h]) => h < min)"""


def _check(page, what: str) -> None:
    assert page.evaluate("() => window.innerWidth") == 390
    assert page.evaluate(OVERFLOW) <= 0, f"{what}: the page scrolls sideways"
    assert page.evaluate(SMALL_CONTROLS, MIN_TOUCH_PX) == [], f"{what}: controls smaller than {MIN_TOUCH_PX}px"


def test_pages_fit_a_phone_and_controls_are_touch_sized(mobile_page, make_user, log_in, street_photo_file):
    page = mobile_page
    page.goto("/")
    _check(page, "home")
    page.goto("/accounts/login/")
    _check(page, "login")
    log_in(page, make_user(role="seller"))
    create_listing(page, "A listing with a rather long title that has to wrap on a narrow phone screen")
    _check(page, "listing")
    upload_listing_photo(page, street_photo_file(4))
    _check(page, "listing with a running job")
    assert wait_job_finished(page) == "done"
    _check(page, "listing with suggestions")
    page.goto("/listings/")
    _check(page, "listings")
    search_by_photo(page, street_photo_file(3))
    assert wait_job_finished(page) == "done"
    _check(page, "search results")
    page.locator(".results .card a").first.click()
    page.wait_for_load_state()
    _check(page, "item page")
