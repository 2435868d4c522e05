"""``flask users ...`` and the rule that keeps every login unambiguous."""

import jwt
import pytest
from sqlalchemy import select

from luffy.core.models import User
from luffy.extensions import db
from tests.accounts import PASSWORD


def _users(app):
    with app.app_context():
        return {u.username: u for u in db.session.scalars(select(User))}


def test_create_with_every_option(app, runner):
    result = runner.invoke(args=[
        "users", "create", "zoe", "--email", "Zoe@Example.COM", "--mobile", "13500000000",
        "--password", PASSWORD, "--nickname", "Zoe", "--avatar", "https://cdn.example.com/z.png",
        "--money", "12.50", "--credit", "30"])
    assert result.exit_code == 0, result.output
    zoe = _users(app)["zoe"]
    assert zoe.email == "zoe@example.com" and zoe.mobile == "13500000000"
    assert str(zoe.money) == "12.50" and zoe.credit == 30 and zoe.is_active
    assert zoe.password.startswith("$argon2id$") and PASSWORD not in zoe.password


def test_create_prompts_for_the_password(app, runner):
    result = runner.invoke(args=["users", "create", "yan", "--email", "yan@example.com"],
                           input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    client = app.test_client()
    response = client.post("/users/login/", json={"username": "yan", "password": PASSWORD})
    assert response.status_code == 200


def test_create_inactive(app, runner):
    result = runner.invoke(args=["users", "create", "ina", "--password", PASSWORD, "--inactive"])
    assert result.exit_code == 0 and not _users(app)["ina"].is_active


@pytest.mark.parametrize("args, field", [
    (["--email", "not-an-email"], "email"),
    (["--mobile", "12ab"], "mobile"),
    (["--avatar", "avatar/x.png"], "avatar"),
    (["--money", "-1"], "money"),
])
def test_create_refuses_bad_fields(runner, args, field):
    result = runner.invoke(args=["users", "create", "bad", "--password", PASSWORD, *args])
    assert result.exit_code != 0 and field in result.output


@pytest.mark.parametrize("username, email, mobile", [
    ("alice", "new@example.com", "13000000000"),          # same username
    ("new", "ALICE@example.com", "13000000000"),          # same email, other case
    ("new", "new@example.com", "13800000001"),            # same mobile
    ("alice@example.com", "new@example.com", None),      # username = another's email
    ("Alice@Example.com", "new@example.com", None),      # ... in another case
    ("13800000001", "new@example.com", None),            # username = another's mobile
    ("new", "new@example.com", "alice"),                 # mobile = another's username
])
def test_identifiers_never_collide_across_accounts(app, runner, user, username, email, mobile):
    args = ["users", "create", username, "--password", PASSWORD, "--email", email]
    if mobile:
        args += ["--mobile", mobile]
    result = runner.invoke(args=args)
    assert result.exit_code != 0
    assert set(_users(app)) == {"alice"}


def test_email_equal_to_another_username_is_refused(app, runner):
    assert runner.invoke(args=["users", "create", "Bob@Example.com", "--password", PASSWORD]).exit_code == 0
    result = runner.invoke(args=["users", "create", "bobby", "--password", PASSWORD,
                                 "--email", "bob@example.com"])
    assert result.exit_code != 0


def test_username_may_equal_its_own_mobile(app, runner):
    result = runner.invoke(args=["users", "create", "13911112222", "--mobile", "13911112222",
                                 "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    response = app.test_client().post("/users/login/", json={"username": "13911112222",
                                                             "password": PASSWORD})
    assert response.status_code == 200


def test_usernames_are_case_sensitive(app, runner, user):
    result = runner.invoke(args=["users", "create", "ALICE", "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    client = app.test_client()
    accounts = _users(app)
    for name in ("alice", "ALICE"):
        response = client.post("/users/login/", json={"username": name, "password": PASSWORD})
        claims = jwt.decode(response.get_json()["token"], options={"verify_signature": False})
        assert claims["user_id"] == accounts[name].id


def test_deactivate_set_password_activate_and_list(app, runner, user):
    client = app.test_client()
    assert runner.invoke(args=["users", "deactivate", "alice"]).exit_code == 0
    assert client.post("/users/login/", json={"username": "alice", "password": PASSWORD}).status_code == 401
    assert runner.invoke(args=["users", "activate", "alice"]).exit_code == 0
    result = runner.invoke(args=["users", "set-password", "alice", "--password", "a new password"])
    assert result.exit_code == 0
    assert client.post("/users/login/", json={"username": "alice", "password": "a new password"}).status_code == 200
    listing = runner.invoke(args=["users", "list"]).output
    assert "alice" in listing and "active" in listing


def test_unknown_account_is_a_clean_cli_error(runner):
    result = runner.invoke(args=["users", "deactivate", "ghost"])
    assert result.exit_code != 0 and "no account" in result.output


def test_demo_account_is_created_once_and_printed(runner):
    first = runner.invoke(args=["users", "demo"])
    second = runner.invoke(args=["users", "demo"])
    assert first.exit_code == 0 and second.exit_code == 0
    assert "password" in first.output and first.output == second.output


def test_set_password_keeps_the_length_rule(app, runner, user):
    result = runner.invoke(args=["users", "set-password", "alice", "--password", "short"])
    assert result.exit_code != 0 and "password" in result.output
    response = app.test_client().post("/users/login/", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200


def test_ending_sessions_without_a_shared_redis_warns(app, runner, user):
    result = runner.invoke(args=["users", "deactivate", "alice"])
    assert result.exit_code == 0
    assert ("REDIS_URL is not set" in result.output) == (not app.config["REDIS_URL"])
