"""A seller's whole flow in the browser: log in, create a listing, upload a street photo, watch the job finish on
the page without a reload, read labelled suggestions and accept one."""
import re

from tests.browser.flows import create_listing, images_loaded, mark_page, page_was_reloaded, upload_listing_photo, \
    wait_job_finished


def test_seller_uploads_a_photo_watches_it_finish_and_accepts_a_suggestion(page, make_user, log_in,
                                                                          street_photo_file):
    log_in(page, make_user(role="seller"))
    create_listing(page, "Striped summer top")
    upload_listing_photo(page, street_photo_file(3))
    section = page.locator(".photo-section").first
    status = section.locator("[data-job-status]")
    assert status.get_attribute("aria-live") == "polite" and status.get_attribute("role") == "status"
    assert section.get_attribute("data-progress-url"), "the page should show the job still running"
    mark_page(page)
    section.locator("[data-job-status] li.running").wait_for()  # the live region follows the stages
    # A file chosen while the job runs must survive the live updates (the old page reloaded every 2 s).
    page.get_by_label("Photo of the garment being worn").set_input_files(str(street_photo_file(5)))

    assert wait_job_finished(page) == "done"
    assert not page_was_reloaded(page)
    assert page.get_by_label("Photo of the garment being worn").evaluate("el => el.files.length") == 1
    # Stage names with timings, in the live region.
    for stage in ("Reading the photo", "Making the stock image", "Searching the catalogue"):
        assert re.search(stage + r" \d+(\.\d)? m?s", status.inner_text()), status.inner_text()

    cards = section.locator(".suggestions .card")
    assert cards.count() >= 1
    assert images_loaded(page, ".photo-section img") == []
    for text in cards.locator(".score").all_inner_texts():
        assert re.fullmatch(r"\d{1,3}% match", text), text
    assert "[synth-" not in section.inner_text()
    accept = section.get_by_role("button", name=re.compile(r"^Accept "))
    labels = [accept.nth(i).get_attribute("aria-label") for i in range(accept.count())]
    assert len(labels) == cards.count() and len(set(labels)) == len(labels)  # one distinct Accept per suggestion

    first = cards.first
    title = first.locator(".title").inner_text()
    first.get_by_role("button", name=re.compile(r"^Accept ")).click()
    page.wait_for_load_state()
    accepted = page.locator(".photo-section").first.locator(".suggestions .card").first
    assert accepted.locator(".status-word").inner_text() == "Accepted"
    catalogue = page.locator("ul[aria-labelledby=catalogue-images] li")
    assert catalogue.count() == 1 and title in catalogue.first.inner_text()
    assert catalogue.first.locator("img").get_attribute("alt") == f"Catalogue image of {title}"
    assert images_loaded(page, "ul[aria-labelledby=catalogue-images] img") == []
