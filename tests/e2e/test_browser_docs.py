"""The API docs page in a real browser: Swagger UI runs under the strict CSP and tries calls."""

import json

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def open_docs(page, server):
    """Load ``/docs`` and wait for Swagger UI to draw the operations; returns the response."""
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    response = page.goto(server.url + "/docs")
    expect(page.locator(".opblock").first).to_be_visible()
    assert errors == []
    return response


def test_docs_show_every_operation_of_the_document(page, luffy_server, screenshot):
    response = open_docs(page, luffy_server)
    assert "script-src 'self'" in response.headers["content-security-policy"]
    spec = page.evaluate("fetch('/openapi.json').then((r) => r.json())")
    shown = page.locator(".opblock").evaluate_all(
        """blocks => blocks.map(b => [
            b.querySelector('.opblock-summary-method').textContent.toLowerCase(),
            b.querySelector('.opblock-summary-path').dataset.path])""")
    expected = [[method, path] for path, methods in spec["paths"].items() for method in methods]
    assert sorted(shown) == sorted(expected)
    expect(page.locator(".info .title")).to_contain_text(spec["info"]["title"])
    screenshot()


def test_try_it_out_calls_the_api_and_shows_the_answer(page, luffy_server, screenshot):
    open_docs(page, luffy_server)
    operation = page.locator(".opblock-get").filter(
        has=page.locator('.opblock-summary-path[data-path="/healthz"]'))
    operation.locator(".opblock-summary-control").click()
    operation.get_by_role("button", name="Try it out").click()
    with page.expect_response(luffy_server.url + "/healthz") as answer:
        operation.get_by_role("button", name="Execute").click()
    assert answer.value.status == 200

    live = operation.locator(".live-responses-table")
    expect(live.locator("tr.response .response-col_status")).to_have_text("200")
    body = live.locator("tr.response .response-col_description pre").first
    expect(body).to_contain_text('"status"')
    assert json.loads(body.inner_text()) == {"status": "ok"}
    screenshot()
