"""The API documentation renders from the site's own files: the browser has no internet here, so a CDN asset would
show up as a failed request and fail the test."""


def test_swagger_ui_renders_offline(page):
    page.goto("/api/docs/")
    page.locator(".swagger-ui .opblock").first.wait_for()
    assert page.locator(".swagger-ui .opblock").count() > 10
    assert "Marketplace visual search API" in page.locator(".swagger-ui .info").inner_text()


def test_redoc_renders_offline(page):
    page.goto("/api/redoc/")
    page.get_by_role("heading", name="Marketplace visual search API").first.wait_for()
    assert page.locator("[data-section-id^='operation/']").count() > 10
