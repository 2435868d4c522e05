"""CORS in a real browser: a listed origin may call the API with credentials, others may not."""

import pytest

from tests.e2e.accounts import ALICE

pytestmark = pytest.mark.e2e

CROSS_ORIGIN_LOGIN = """async ([url, username, password]) => {
    try {
        const r = await fetch(url, {
            method: "POST", credentials: "include",
            headers: {"Content-Type": "application/json"},
            body: JSON.stringify({username, password}),
        });
        return {status: r.status, body: await r.json()};
    } catch (e) {
        return {error: e.name};
    }
}"""


def cross_origin_login(page, site, server):
    """Open ``site`` and, from there, POST alice's login to the luffy server."""
    page.goto(site.origin + "/index.html")
    return page.evaluate(CROSS_ORIGIN_LOGIN,
                         [server.url + "/users/login/", ALICE["username"], ALICE["password"]])


def test_an_allowed_origin_can_log_in(page, luffy_server, static_sites, screenshot):
    answer = cross_origin_login(page, static_sites["allowed"], luffy_server)
    assert answer.get("status") == 200, answer
    assert set(answer["body"]) == {"token", "refresh", "cart_total"}
    screenshot()


def test_another_origin_is_blocked(page, luffy_server, static_sites):
    answer = cross_origin_login(page, static_sites["other"], luffy_server)
    assert answer == {"error": "TypeError"}
