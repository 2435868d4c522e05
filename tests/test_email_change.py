"""A token alone does not take the account: putting a new email on an account takes its
password (a wrong one is a failed password attempt, throttled like a login), and the
confirmed address it replaces is told. (The development backends write the messages
to the log: ``outbox``.)"""

from sqlalchemy import update

from luffy.core.models import User
from luffy.extensions import db
from tests.accounts import PASSWORD, AuthActions, add_user, errors_of


def confirmed_alice(app):
    """alice, her email alice@example.com confirmed."""
    user = add_user(app)
    with app.app_context():
        db.session.execute(update(User).values(email_verified=True))
        db.session.commit()
    return user


def ask(client, headers, email, password=None, address="10.5.0.1"):
    body = {"email": email, "purpose": "confirm"}
    if password is not None:
        body["password"] = password
    return client.post("/users/email/code", json=body, headers=headers,
                       environ_overrides={"REMOTE_ADDR": address})


def test_a_token_without_the_password_cannot_put_a_new_email_on_the_account(make_app, outbox):
    app = make_app()
    confirmed_alice(app)
    client = app.test_client()
    stolen = AuthActions(client).headers()  # a leaked token, or a shared computer
    assert errors_of(ask(client, stolen, "thief@example.com")) == {
        "password": ["Missing data for required field."]}
    assert errors_of(ask(client, stolen, "thief@example.com", "a guess")) == {
        "password": ["Wrong password."]}
    assert outbox.to("thief@example.com") == []  # no code: nothing to confirm with
    me = client.get("/users/me", headers=stolen).get_json()
    assert me["email"] == "alice@example.com" and me["email_verified"] is True

    assert ask(client, stolen, "alice.new@example.com", PASSWORD).status_code == 202
    assert outbox.code("alice.new@example.com")


def test_a_wrong_password_is_a_failed_password_attempt(make_app, outbox):
    app = make_app(LOGIN_RATE_LIMIT="2 per minute")
    add_user(app)
    client = app.test_client()
    headers = AuthActions(client).headers()
    for _ in range(2):
        assert ask(client, headers, "new@example.com", "a guess").status_code == 400
    refused = ask(client, headers, "new@example.com", PASSWORD)  # even the right one, now
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    # One budget with the logins: this address's login guesses are spent too.
    login = client.post("/users/login/", json={"username": "alice", "password": PASSWORD},
                        environ_overrides={"REMOTE_ADDR": "10.5.0.1"})
    assert login.status_code == 429
    # Another address, with the password, still gets its code (the owner is not locked out).
    assert ask(client, headers, "new@example.com", PASSWORD, address="10.5.0.2").status_code == 202
    assert outbox.code("new@example.com")


def confirm(client, headers, email, outbox):
    assert ask(client, headers, email, PASSWORD).status_code == 202
    response = client.post("/users/email/confirm", headers=headers,
                           json={"email": email, "code": outbox.code(email.lower())})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_the_confirmed_address_an_email_replaces_is_told(make_app, outbox):
    app = make_app(CODE_RESEND_INTERVAL=0)
    confirmed_alice(app)
    client = app.test_client()
    headers = AuthActions(client).headers()
    profile = confirm(client, headers, "Alice.New@Example.com", outbox)
    assert profile["email"] == "alice.new@example.com" and profile["email_verified"] is True
    (notice,) = outbox.to("alice@example.com")
    assert "changed to al****@example.com" in notice and "alice.new" not in notice

    confirm(client, headers, "alice.new@example.com", outbox)  # the same address again
    assert len(outbox.to("alice.new@example.com")) == 2  # its two codes, and no notice
    assert len(outbox.to("alice@example.com")) == 1


def test_an_unconfirmed_address_is_not_told(make_app, outbox):
    app = make_app()
    add_user(app)  # alice@example.com, typed at sign-up, never confirmed: maybe not hers
    client = app.test_client()
    confirm(client, AuthActions(client).headers(), "alice.new@example.com", outbox)
    assert outbox.to("alice@example.com") == []


def test_the_password_is_in_the_openapi_body(client):
    spec = client.get("/openapi.json").get_json()
    body = spec["components"]["schemas"]["EmailCodeRequest"]["properties"]
    assert "password" in body and "confirm" in body["password"]["description"]
