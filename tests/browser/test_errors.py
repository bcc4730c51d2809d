"""What a person sees when something is wrong: a file that is not an image, a file over the upload limit, and
where logging out lands."""
import re

from django.conf import settings

from marketplace.uploads import upload_limit_text
from tests.browser.flows import create_listing


def test_a_file_that_is_not_an_image_is_refused_with_a_reason(page, make_user, log_in, tmp_path):
    log_in(page, make_user(role="seller"))
    create_listing(page, "Linen shirt")
    bogus = tmp_path / "notes.jpg"
    bogus.write_text("this is a text file, not a photo\n" * 20)
    page.get_by_label("Photo of the garment being worn").set_input_files(str(bogus))
    page.get_by_role("button", name="Upload the photo").click()
    alert = page.get_by_role("alert")
    assert "upload refused" in alert.inner_text() and "not an image" in alert.inner_text()
    assert page.locator(".photo-section").count() == 0


def test_an_upload_over_the_limit_gets_the_sites_own_page(page, make_user, log_in, tmp_path, browser_log):
    browser_log.allow(413, "/listings/")
    log_in(page, make_user(role="seller"))
    create_listing(page, "Heavy coat")
    listing_url = page.url
    big = tmp_path / "huge.jpg"
    big.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * (settings.UPLOAD_MAX_BYTES + 15 * 1024 * 1024))
    page.get_by_label("Photo of the garment being worn").set_input_files(str(big))
    with page.expect_response(lambda r: r.status == 413):
        page.get_by_role("button", name="Upload the photo").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == "That file is too large"
    assert upload_limit_text() in page.locator("main").inner_text()
    assert page.locator("nav.site-nav").is_visible()  # in the site's layout, not a bare error
    page.get_by_role("link", name=re.compile("Go back")).click()
    page.wait_for_url(listing_url)


def test_logging_out_returns_to_the_site(page, make_user, log_in):
    user = make_user(role="buyer")
    log_in(page, user)
    page.get_by_role("button", name=f"Log out {user.username}").click()
    page.wait_for_url(re.compile(r"/$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Visual search marketplace"
    assert page.get_by_role("link", name="Log in").is_visible()
