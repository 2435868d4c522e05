"""New-device alerts (luffy/core/devices.py): a login from a device the account has not
used for 90 days is a ``new_device`` event and one notice, queued, to the confirmed email
else by SMS; a browser is known by its signed device cookie, other clients by user agent
and network. (The testing configuration runs tasks in-process with the log backends: the
notices are read from the log, ``outbox``.)"""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from luffy.core import codes
from luffy.core.models import Device, Event, User, utcnow
from luffy.extensions import db
from tests.accounts import STRONG, register, send_sms
from tests.accounts import PASSWORD

MOBILE = "13800000001"
FIREFOX = ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0")
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36")


def log_in(client, agent=FIREFOX, address="10.7.1.5", username="alice", **body):
    response = client.post("/users/login", json={"username": username, "password": PASSWORD, **body},
                           headers={"User-Agent": agent}, environ_overrides={"REMOTE_ADDR": address})
    assert response.status_code == 200, response.get_json()
    return response


def new_device_events(app, user_id):
    with app.app_context():
        return db.session.scalars(select(Event).where(Event.account_id == user_id,
                                                      Event.type == "new_device")).all()


def device_cookie(response):
    (header,) = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("luffy_device=")]
    return header


@pytest.fixture
def browser(app):
    """A client that keeps cookies, as a browser does."""
    return app.test_client()


@pytest.fixture
def curl(app):
    """A client that keeps no cookie."""
    return app.test_client(use_cookies=False)


def test_an_accounts_first_device_is_recorded_quietly(app, browser, user, outbox):
    response = log_in(browser)
    header = device_cookie(response)
    assert "HttpOnly" in header and "Path=/users" in header and "SameSite=Lax" in header
    assert "Max-Age=34560000" in header  # 400 days
    assert outbox.messages() == []
    assert new_device_events(app, user.id) == []
    log_in(browser)
    assert outbox.messages() == []


def test_a_new_device_is_told_once_by_sms_without_a_confirmed_email(app, browser, user, outbox):
    log_in(browser)
    other = app.test_client()
    response = log_in(other, agent=CHROME, address="203.0.113.9")
    (notice,) = outbox.to(MOBILE)
    assert "203.0.113.9" in notice and "Chrome" in notice and "Windows" in notice
    assert "/users/sessions" in notice and "password" in notice
    token, refresh = response.get_json()["token"], response.get_json()["refresh"]
    assert token not in notice and refresh not in notice
    assert outbox.to("alice@example.com") == []  # not confirmed
    (event,) = new_device_events(app, user.id)
    assert event.ip == "203.0.113.9" and event.user_agent == CHROME
    # The same browser again (its cookie), from another network: known.
    log_in(other, agent=CHROME, address="198.51.100.7")
    log_in(browser)
    assert len(outbox.messages()) == 1 and len(new_device_events(app, user.id)) == 1


def test_a_confirmed_email_is_told_rather_than_the_mobile(app, browser, user, outbox):
    with app.app_context():
        db.session.execute(update(User).values(email_verified=True))
        db.session.commit()
    log_in(browser)
    log_in(app.test_client(), agent=CHROME)
    (notice,) = outbox.to("alice@example.com")
    assert "New sign-in to your luffy account" in [r.args[1] for r in outbox.caplog.records
                                                   if r.name == "luffy.core.senders"]
    assert "Chrome" in notice and "10.7.1.5" in notice
    assert outbox.to(MOBILE) == []


def test_a_client_without_cookies_is_known_by_user_agent_and_network(app, curl, user, outbox):
    log_in(curl, agent="curl/8.5.0", address="10.7.1.5")
    log_in(curl, agent="curl/8.5.0", address="10.7.1.200")  # the same /24
    assert outbox.messages() == []
    log_in(curl, agent="curl/8.6.0", address="10.7.1.5")  # another user agent: new
    log_in(curl, agent="curl/8.5.0", address="10.7.2.5")  # another network: new
    assert len(outbox.to(MOBILE)) == 2
    log_in(curl, agent="curl/8.5.0", address="2001:db8:1:2::1")
    log_in(curl, agent="curl/8.5.0", address="2001:db8:1:2:ffff::9")  # the same /64
    assert len(outbox.to(MOBILE)) == 3
    assert len(new_device_events(app, user.id)) == 3


def test_a_device_unused_for_90_days_is_new_again(app, browser, user, outbox):
    log_in(browser)
    log_in(app.test_client(), agent=CHROME)
    assert len(outbox.to(MOBILE)) == 1
    with app.app_context():
        db.session.execute(update(Device).values(last_seen=utcnow() - timedelta(days=89)))
        db.session.commit()
    log_in(browser)
    assert len(outbox.to(MOBILE)) == 1
    with app.app_context():  # that login wrote last_seen (a day old or more)
        assert min(db.session.scalars(select(Device.last_seen))) < utcnow() - timedelta(days=88)
        assert max(db.session.scalars(select(Device.last_seen))) > utcnow() - timedelta(minutes=1)
        db.session.execute(update(Device).values(last_seen=utcnow() - timedelta(days=91)))
        db.session.commit()
    log_in(browser)
    assert len(outbox.to(MOBILE)) == 2
    assert len(new_device_events(app, user.id)) == 2


def test_a_forged_device_cookie_counts_as_none(app, curl, user, outbox):
    log_in(curl)
    response = curl.post("/users/login", json={"username": "alice", "password": PASSWORD},
                         headers={"User-Agent": FIREFOX, "Cookie": "luffy_device=made.up"},
                         environ_overrides={"REMOTE_ADDR": "10.7.1.5"})
    assert response.status_code == 200
    assert outbox.messages() == []  # known by user agent and network
    assert "made.up" not in device_cookie(response)


def test_cookie_mode_sets_the_device_cookie_too(app, browser, user, outbox):
    response = log_in(browser, cookies=True)
    assert device_cookie(response)
    log_in(browser, agent=CHROME, address="198.51.100.7", cookies=True)  # its cookie: known
    assert outbox.messages() == []


def test_a_new_accounts_sign_up_and_first_login_send_no_notice(app, browser, outbox):
    assert send_sms(browser, "13900000002").status_code == 202
    response = register(browser, "13900000002", outbox.code("13900000002"), username="neo")
    assert response.status_code == 201, response.get_json()
    assert device_cookie(response)
    sent = len(outbox.messages())
    with app.app_context():
        codes.clear(codes.sms("13900000002"))
    response = browser.post("/users/login", json={"username": "neo", "password": STRONG},
                            headers={"User-Agent": FIREFOX})
    assert response.status_code == 200
    assert len(outbox.messages()) == sent
    response = app.test_client().post("/users/login", json={"username": "neo", "password": STRONG},
                                      headers={"User-Agent": CHROME})
    assert response.status_code == 200
    assert len(outbox.to("13900000002")) == 2  # its sign-up code, then the notice


def test_alerts_can_be_turned_off(make_app, outbox):
    app = make_app(NEW_DEVICE_ALERTS=False)
    from tests.accounts import add_user

    add_user(app)
    log_in(app.test_client())
    response = log_in(app.test_client(), agent=CHROME)
    assert outbox.messages() == []
    assert not [h for h in response.headers.getlist("Set-Cookie") if h.startswith("luffy_device=")]


def test_the_second_step_of_a_two_factor_login_tells_not_the_first(app, outbox):
    from tests.accounts import alice_with_two_factor, code_at

    _client, secret, _codes = alice_with_two_factor(app)  # its first device
    other = app.test_client()
    first = other.post("/users/login", json={"username": "alice", "password": PASSWORD},
                       headers={"User-Agent": CHROME})
    assert first.get_json()["mfa_required"] is True
    assert not [h for h in first.headers.getlist("Set-Cookie") if h.startswith("luffy_device=")]
    assert outbox.to(MOBILE) == []
    answer = other.post("/users/login/2fa", json={"mfa_token": first.get_json()["mfa_token"],
                                                  "code": code_at(secret, 1)},
                        headers={"User-Agent": CHROME})
    assert answer.status_code == 200 and device_cookie(answer)
    (notice,) = outbox.to(MOBILE)
    assert "Chrome" in notice and code_at(secret, 1) not in notice
    assert len(new_device_events(app, _account_id(app))) == 1


def _account_id(app):
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.username == "alice"))


def test_an_sms_login_from_a_new_device_tells(app, browser, user, outbox):
    log_in(browser)
    other = app.test_client()
    assert send_sms(other, MOBILE, "login").status_code == 202
    code = outbox.code(MOBILE)
    response = other.post("/users/login/sms", json={"mobile": MOBILE, "sms_code": code},
                          headers={"User-Agent": CHROME})
    assert response.status_code == 200 and device_cookie(response)
    login_code, notice = outbox.to(MOBILE)
    assert "Chrome" in notice and code not in notice
    assert len(new_device_events(app, user.id)) == 1
