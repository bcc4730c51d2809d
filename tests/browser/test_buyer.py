"""A buyer searches by photo in the browser, reads results with prices and match percentages, opens an item; a
photo with nobody in it says so."""
import re

from django.conf import settings

from tests.browser.flows import images_loaded, mark_page, no_person_photo, page_was_reloaded, search_by_photo, \
    wait_job_finished


def test_buyer_searches_by_photo_and_opens_a_recommended_item(page, make_user, log_in, street_photo_file):
    log_in(page, make_user(role="buyer"))
    search_by_photo(page, street_photo_file(3))
    mark_page(page)
    assert wait_job_finished(page) == "done"
    assert not page_was_reloaded(page)

    cards = page.locator(".results .card")
    assert cards.count() >= 1
    assert images_loaded(page, ".photo-section img") == []
    symbol = {"EUR": "€", "USD": "$", "GBP": "£"}.get(settings.MARKETPLACE_CURRENCY, settings.MARKETPLACE_CURRENCY)
    for text in cards.locator(".price").all_inner_texts():
        assert symbol in text and re.search(r"\d+\.\d\d", text), text
    for text in cards.locator(".score").all_inner_texts():
        assert re.fullmatch(r"\d{1,3}% match", text), text
    assert "[synth-" not in page.locator(".results").inner_text()
    # Confident and low-confidence results look different, and say which they are.
    for i in range(cards.count()):
        card = cards.nth(i)
        low = "low" in card.get_attribute("class").split()
        assert card.locator(".tag-low" if low else ".tag-ok").count() == 1

    first = cards.first
    title, price = first.locator(".title").inner_text(), first.locator(".price").inner_text()
    assert first.locator("img").get_attribute("alt") == title
    first.get_by_role("link").click()
    page.wait_for_url(re.compile(r"/items/\d+/$"))
    assert page.get_by_role("heading", level=1).inner_text() == title
    assert page.locator(".price").inner_text() == price
    assert images_loaded(page, "main img") == []


def test_a_photo_without_a_person_shows_the_no_person_state(page, make_user, log_in, tmp_path):
    log_in(page, make_user(role="buyer"))
    search_by_photo(page, no_person_photo(tmp_path))
    assert wait_job_finished(page) == "done"
    notice = page.locator(".notice-no-person")
    assert notice.is_visible() and "No person found in the photo" in notice.inner_text()
    assert page.locator(".notice-no-match").is_visible()  # never a confident match without a person
    cards = page.locator(".results .card")
    assert cards.count() == page.locator(".results .card.low").count()
