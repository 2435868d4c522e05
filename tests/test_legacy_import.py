"""``flask users import-django``, from an old database that Django itself built and filled
(tests/legacy_django): SQLite always; the old database is ``<name>_src`` beside
``LUFFY_TEST_DATABASE_URL`` when that names MariaDB or PostgreSQL."""

import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, select, text

from luffy.core.models import User
from luffy.extensions import db
from luffy.legacy.models import LegacyAccount, LegacyBlacklistedToken
from tests import legacy_django
from tests.accounts import add_user
from tests.backends import DATABASE_URL

PASSWORD = "old backend password"


@pytest.fixture(scope="session")
def old_url(tmp_path_factory):
    return legacy_django.configure(legacy_django.source_url(tmp_path_factory))


@pytest.fixture
def old(old_url):
    """The old backend's User model, on an emptied old database."""
    from django.contrib.auth import get_user_model

    legacy_django.flush()
    yield get_user_model()
    from django.db import connections

    connections.close_all()


@pytest.fixture
def run(app, tmp_path, old_url):
    """Run the import; answer (exit code, output, report lines)."""
    def run_import(*args, url=None):
        report = tmp_path / "report.jsonl"
        result = app.test_cli_runner().invoke(
            args=["users", "import-django", url or old_url, "--report", str(report), *args])
        lines = ([json.loads(line) for line in report.read_text().splitlines()]
                 if report.exists() else [])
        return result.exit_code, result.output, lines
    return run_import


def luffy_user(app, old_id):
    """The luffy account that the old account ``old_id`` became."""
    with app.app_context():
        legacy = db.session.get(LegacyAccount, old_id)
        user = db.session.get(User, legacy.account_id) if legacy else None
        if user is not None:
            db.session.expunge(user)
        return user


def make(old, username, password=None, **fields):
    fields.setdefault("mobile", None)
    return old.objects.create_user(username, password=password, **fields)


def test_accounts_come_with_their_ids_profiles_and_hashes(app, old, run, client):
    alice = make(old, "alice", PASSWORD, email="Alice@Example.com", mobile="13800000001",
                 nickname="Alice", money=Decimal("12.50"), credit=30, avatar="avatar/a.png")
    bob = make(old, "bob", email="", nickname=None, is_active=False)
    code, out, report = run("--media-url", "https://cdn.example.com/media/")
    assert code == 0, out
    assert report == []
    assert "imported 2, updated 0, unchanged 0, conflicts 0" in out
    a = luffy_user(app, alice.id)
    assert (a.username, a.email, a.mobile, a.nickname, a.money, a.credit, a.is_active) == (
        "alice", "alice@example.com", "13800000001", "Alice", Decimal("12.50"), 30, True)
    assert a.avatar == "https://cdn.example.com/media/avatar/a.png"
    assert a.password == old.objects.get(pk=alice.id).password  # the hash as it was
    joined = old.objects.get(pk=alice.id).date_joined.astimezone(timezone.utc).replace(tzinfo=None)
    assert abs((a.date_joined - joined).total_seconds()) < 1
    b = luffy_user(app, bob.id)
    assert (b.email, b.nickname, b.avatar, b.is_active) == (None, "", "", False)
    assert b.password.startswith("!")  # unusable: matches nothing
    # The old password logs in, and the hash becomes argon2id.
    response = client.post("/users/login/", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    assert luffy_user(app, alice.id).password.startswith("$argon2id$")


@pytest.mark.parametrize("algorithm", legacy_django.ALGORITHMS)
def test_each_django_hash_logs_in_once_imported_and_is_upgraded(app, old, run, client, algorithm):
    from django.contrib.auth.hashers import make_password

    user = make(old, "carol")
    user.password = make_password(PASSWORD, hasher=algorithm)
    user.save()
    assert run()[0] == 0
    wrong = client.post("/users/login/", json={"username": "carol", "password": PASSWORD + "x"})
    assert wrong.status_code == 401
    assert luffy_user(app, user.id).password.startswith(algorithm + "$")
    right = client.post("/users/login/", json={"username": "carol", "password": PASSWORD})
    assert right.status_code == 200, right.get_json()
    assert luffy_user(app, user.id).password.startswith("$argon2id$")


def test_an_unusable_password_matches_nothing(app, old, run, client):
    user = make(old, "dave")  # Django's set_unusable_password: "!" and random characters
    assert run()[0] == 0
    stored = luffy_user(app, user.id).password
    assert stored.startswith("!")
    for guess in ("", stored, stored[1:], PASSWORD):
        response = client.post("/users/login/", json={"username": "dave", "password": guess or "x"})
        assert response.status_code in (400, 401)


def test_a_rerun_changes_nothing_then_brings_new_and_changed_accounts(app, old, run):
    alice = make(old, "alice", nickname="A")
    make(old, "bob", nickname="B")
    assert run()[0] == 0
    code, out, report = run()
    assert code == 0 and report == []
    assert "imported 0, updated 0, unchanged 2, conflicts 0" in out
    alice.nickname = "Alice"
    alice.save()
    carol = make(old, "carol")
    code, out, report = run()
    assert code == 0, out
    assert "imported 1, updated 1, unchanged 1, conflicts 0" in out
    assert luffy_user(app, alice.id).nickname == "Alice"
    assert luffy_user(app, carol.id).username == "carol"


def test_an_account_changed_on_both_sides_keeps_luffys_values_and_is_reported(app, old, run):
    alice = make(old, "alice", nickname="A", money=Decimal("1.00"))
    assert run()[0] == 0
    with app.app_context():
        db.session.get(User, alice.id).nickname = "changed in luffy"
        db.session.commit()
    alice.nickname = "changed in the old backend"
    alice.save()
    code, out, report = run()
    assert code == 1, out
    assert [(line["id"], line["field"]) for line in report] == [(alice.id, None)]
    assert "changed in luffy and in the old backend" in report[0]["reason"]
    assert luffy_user(app, alice.id).nickname == "changed in luffy"
    # Reported again until someone settles it: nothing is lost silently.
    assert run()[0] == 1


def test_a_password_changed_on_the_old_side_ends_the_luffy_sessions(app, old, run, client):
    from django.contrib.auth.hashers import make_password

    user = make(old, "erin")
    user.password = make_password(PASSWORD, hasher="pbkdf2_sha1")
    user.save()
    assert run()[0] == 0
    refresh = client.post("/users/login/", json={"username": "erin", "password": PASSWORD})
    assert refresh.status_code == 200
    # The login rewrote the hash in luffy: a change on the old side now conflicts.
    user.set_password("a new old-side password")
    user.save()
    assert run()[0] == 1


def test_an_old_password_change_before_any_luffy_login_is_applied(app, old, run, client):
    from django.contrib.auth.hashers import make_password

    user = make(old, "erin")
    user.password = make_password("first", hasher="pbkdf2_sha1")
    user.save()
    assert run()[0] == 0
    before = luffy_user(app, user.id).token_version
    user.password = make_password(PASSWORD, hasher="pbkdf2_sha1")
    user.save()
    code, out, _ = run()
    assert code == 0 and "updated 1" in out
    assert luffy_user(app, user.id).token_version == before + 1
    assert client.post("/users/login/", json={"username": "erin", "password": "first"}).status_code == 401
    assert client.post("/users/login/", json={"username": "erin", "password": PASSWORD}).status_code == 200


def test_conflicting_identifiers_are_left_out_and_reported(app, old, run):
    add_user(app, "taken", email="taken@example.com", mobile="13900000000")
    a = make(old, "alice", email="Same@Example.com")
    b = make(old, "bob", email="same@example.COM")  # Django does not keep emails unique
    c = make(old, "carol", email="TAKEN@example.com", mobile="13900000000")
    d = make(old, "taken")
    code, out, report = run()
    assert code == 1, out
    got = {(line["id"], line["field"]) for line in report}
    assert {(b.id, "email"), (c.id, "email"), (c.id, "mobile"), (d.id, "username")} <= got
    assert luffy_user(app, a.id).email == "same@example.com"
    assert luffy_user(app, b.id).email is None
    assert luffy_user(app, c.id).mobile is None
    assert luffy_user(app, d.id).username == f"legacy-{d.id}"
    assert "imported 4" in out  # no account dropped


def test_an_id_luffy_gave_away_is_imported_under_a_new_one(app, old, run, make_user):
    taken = make_user("luffy-only", email=None, mobile=None)
    first = make(old, "alice", id=taken.id)  # created on the old side after luffy gave the id away
    later = make(old, "bob", id=taken.id + 1)
    code, out, report = run()
    assert code == 1, out
    assert [(line["id"], line["field"]) for line in report] == [(first.id, "id")]
    with app.app_context():
        row = db.session.get(LegacyAccount, first.id)
        assert row.account_id > later.id  # past every old id
        assert db.session.get(User, row.account_id).username == "alice"
        assert db.session.get(User, taken.id).username == "luffy-only"
        assert db.session.get(LegacyAccount, later.id).account_id == later.id
    code, out, _ = run()  # again: the account is known under its new id
    assert code == 0 and "unchanged 2" in out


def test_ids_are_kept_and_luffy_gives_higher_ones_after(app, old, run, make_user):
    old.objects.create_user("far", id=5000, mobile=None)
    assert run()[0] == 0
    assert luffy_user(app, 5000).id == 5000
    assert make_user("newcomer", email=None, mobile=None).id > 5000


def test_a_dry_run_writes_nothing(app, old, run):
    make(old, "alice")
    code, out, _ = run("--dry-run")
    assert code == 0 and "dry run" in out and "imported 1" in out
    with app.app_context():
        assert db.session.execute(select(User)).first() is None
        assert db.session.execute(select(LegacyAccount)).first() is None


def test_the_old_blacklist_comes_along(app, old, run):
    from rest_framework_simplejwt.tokens import RefreshToken

    user = make(old, "alice")
    dead = RefreshToken.for_user(user)
    dead.blacklist()
    alive = RefreshToken.for_user(user)
    assert run()[0] == 0
    with app.app_context():
        jtis = set(db.session.execute(select(LegacyBlacklistedToken.jti)).scalars())
    assert jtis == {dead["jti"]}
    assert alive["jti"] not in jtis
    assert run()[0] == 0  # again: nothing doubled


def test_an_unreachable_source_is_exit_2(run):
    code, out, _ = run(url="postgresql://nobody@127.0.0.1:1/none")
    assert code == 2
    assert "cannot read" in out and "Traceback" not in out


def test_a_missing_table_is_exit_2(app, old, run):
    make(old, "alice")
    code, out, _ = run("--table", "no_such_table")
    assert code == 2 and "no table 'no_such_table'" in out
    with app.app_context():
        assert db.session.execute(select(User)).first() is None


def test_an_over_long_value_is_reported_and_the_account_still_comes(app, old, run):
    user = make(old, "alice", nickname="n" * 60)  # luffy keeps 50
    code, out, report = run()
    assert code == 1
    assert [(line["id"], line["field"]) for line in report] == [(user.id, "nickname")]
    assert luffy_user(app, user.id).nickname == ""


def test_interrupted_runs_leave_whole_batches_and_the_next_one_finishes(app, old, old_url):
    from luffy.legacy.importer import Importer
    from luffy.legacy.source import Source

    ids = [make(old, f"user{i}").id for i in range(5)]

    def stop(_n):
        raise KeyboardInterrupt

    with app.app_context():
        importer = Importer(Source(old_url), batch=2)
        with pytest.raises(KeyboardInterrupt):
            importer.accounts(progress=stop)
        assert db.session.execute(select(User.id).order_by(User.id)).scalars().all() == ids[:2]
        assert len(db.session.execute(select(LegacyAccount)).all()) == 2
        again = Importer(Source(old_url), batch=2)
        again.accounts()
        assert (again.summary.imported, again.summary.unchanged) == (3, 2)


def test_a_null_username_and_bad_utf8_are_reported_never_a_crash(app, old, run, old_url):
    good = make(old, "alice")
    bad = make(old, "bob")
    engine = create_engine(old_url.replace("mysql://", "mysql+pymysql://").replace(
        "postgresql://", "postgresql+psycopg://"))
    backend = engine.dialect.name
    with engine.begin() as conn:
        # A copy of the table without Django's NOT NULL (SQLite's and PostgreSQL's CREATE
        # TABLE AS drop it), holding rows Django would not write.
        conn.execute(text("DROP TABLE IF EXISTS loose"))
        conn.execute(text("CREATE TABLE loose AS SELECT * FROM lf_users"))
        if backend == "mysql":  # bytes that are not UTF-8, as an old latin1/binary column holds
            conn.execute(text("ALTER TABLE loose MODIFY username VARCHAR(150) NULL, "
                              "MODIFY nickname VARBINARY(64) NULL"))
        conn.execute(text("UPDATE loose SET username = NULL WHERE id = :id"), {"id": bad.id})
        if backend != "postgresql":  # a UTF8 PostgreSQL database holds no bad UTF-8
            conn.execute(text("UPDATE loose SET nickname = " + (
                "CAST(X'ff61' AS TEXT)" if backend == "sqlite" else "X'ff61'") + " WHERE id = :id"),
                {"id": good.id})
    code, out, report = run("--table", "loose")
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE loose"))
    engine.dispose()
    assert code == 1, out
    got = {(line["id"], line["field"]) for line in report}
    assert (bad.id, "username") in got
    assert luffy_user(app, bad.id).username == f"legacy-{bad.id}"
    if backend != "postgresql":
        assert (good.id, "nickname") in got
        assert luffy_user(app, good.id).nickname == ""


def test_a_terminal_shows_progress_and_the_summary_ends_the_run(make_app, old, old_url, tmp_path):
    """As an operator runs it: a real process whose standard error is a terminal."""
    import fcntl
    import os
    import pty
    import struct
    import termios
    import subprocess
    import sys

    from tests.servers import ROOT, flask, server_env

    make_app()  # on a real database: empties the tables
    for i in range(3):
        make(old, f"user{i}")
    env = server_env(DATABASE_URL or f"sqlite:///{tmp_path}/luffy.db")
    flask(env, "db", "upgrade")
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 columns
    child = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "users",
                              "import-django", old_url], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=follower, text=True)
    os.close(follower)
    terminal = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        terminal += chunk
    out = child.communicate(timeout=120)[0]
    os.close(leader)
    assert child.returncode == 0, terminal
    assert b"3/3" in terminal and b"accounts/s" in terminal  # count, rate (tqdm)
    assert "imported 3, updated 0, unchanged 0, conflicts 0" in out


@pytest.mark.slow
def test_the_old_backends_tokens_work_after_the_import_under_gunicorn(make_app, old, old_url,
                                                                       tmp_path):
    """The switch as users live it: tokens simplejwt issued before the import keep working
    on luffy (gunicorn, two workers) while LEGACY_JWT_SECRET_KEY is set; the one the old
    backend blacklisted does not; an old refresh token becomes a luffy session."""
    import jwt as pyjwt
    from rest_framework_simplejwt.tokens import RefreshToken

    from tests.servers import Server, flask, request, server_env

    alice = make(old, "alice", PASSWORD, email="alice@example.com", mobile="13800000001",
                 nickname="Alice")
    live, dead = RefreshToken.for_user(alice), RefreshToken.for_user(alice)
    dead.blacklist()
    access, refresh, blacklisted = str(live.access_token), str(live), str(dead)
    make_app()  # on a real database: empties luffy's tables
    env = server_env(DATABASE_URL or f"sqlite:///{tmp_path}/luffy.db",
                     LEGACY_JWT_SECRET_KEY=legacy_django.SECRET_KEY)
    flask(env, "db", "upgrade")
    assert "imported" in flask(env, "users", "import-django", old_url).stdout
    with Server(env, workers=2) as server:
        status, _, me = request("GET", server.url + "/users/me",
                                headers={"Authorization": f"Bearer {access}"})
        assert status == 200 and (me["id"], me["username"]) == (alice.id, "alice")
        assert request("POST", server.url + "/users/login/verify", {"token": access})[0] == 200
        status, _, answer = request("POST", server.url + "/users/login/refresh",
                                    {"refresh": refresh})
        assert status == 200, answer
        assert "kid" in pyjwt.get_unverified_header(answer["access"])  # luffy's own now
        status, _, body = request("POST", server.url + "/users/login/refresh",
                                  {"refresh": blacklisted})
        assert status == 401 and body["code"] == "token_not_valid"
        auth = {"Authorization": f"Bearer {answer['access']}"}
        status, _, listed = request("GET", server.url + "/users/sessions", headers=auth)
        assert status == 200 and [s["id"] for s in listed["sessions"]] == [live["jti"]]
        assert request("POST", server.url + "/users/logout", {"refresh": refresh})[0] == 200
        status, _, body = request("POST", server.url + "/users/login/refresh", {"refresh": refresh})
        assert status == 401 and body["code"] == "token_not_valid"
