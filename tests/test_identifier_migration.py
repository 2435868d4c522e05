"""Migration 8b1d5e2c7f40: existing accounts get their identifier keys, or the
migration refuses, naming the accounts that would collide, and changes nothing.

On a real database (``LUFFY_TEST_DATABASE_URL``) it runs there: PostgreSQL and MariaDB.
"""

from datetime import datetime

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.migration import MigrationContext

from luffy import create_app
from luffy.core.models import RefreshToken, User
from luffy.extensions import db
from tests.backends import DATABASE_URL, REDIS_URL

BEFORE, AFTER = "3c8e1f0a9b7d", "8b1d5e2c7f40"
OLD_USERS = sa.table("users", *(sa.column(name) for name in (
    "id", "username", "email", "mobile", "password", "nickname", "avatar", "money", "credit",
    "is_active", "token_version", "date_joined")))


def alembic(app, action, revision):
    """Run ``alembic upgrade|downgrade revision`` with the app's Flask-Migrate settings."""
    getattr(command, action)(app.extensions["migrate"].migrate.get_config(), revision)


def revision(app):
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@pytest.fixture
def old_schema(tmp_path, migrated, redis_client):
    """An app whose database is at the revision before the keys, with no accounts."""
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": DATABASE_URL or f"sqlite:///{tmp_path}/m.db",
                                 "REDIS_URL": REDIS_URL},
                     redis_main=redis_client, redis_cart=redis_client)
    with app.app_context():
        if DATABASE_URL:
            db.session.execute(RefreshToken.__table__.delete())
            db.session.execute(User.__table__.delete())
            db.session.commit()
        else:
            alembic(app, "upgrade", "head")
        alembic(app, "downgrade", BEFORE)
        assert revision(app) == BEFORE
    yield app
    with app.app_context():  # back to the head, empty, for the other tests
        db.session.rollback()
        db.session.execute(OLD_USERS.delete())
        db.session.commit()
        alembic(app, "upgrade", "head")
        db.session.remove()
        db.engine.dispose()


def insert(app, *accounts):
    """Old rows, as the previous code stored them; returns their ids."""
    ids = []
    with app.app_context():
        for username, email, mobile in accounts:
            db.session.execute(OLD_USERS.insert().values(
                username=username, email=email, mobile=mobile, password="x", nickname="",
                avatar="", money=0, credit=0, is_active=True, token_version=0,
                date_joined=datetime(2026, 1, 1)))
            ids.append(db.session.execute(
                sa.select(OLD_USERS.c.id).where(OLD_USERS.c.username == username)).scalar_one())
        db.session.commit()
    return ids


def test_the_migration_fills_the_keys_that_logins_use(old_schema):
    sigma, plain = insert(old_schema, ("Sigma", "qς@example.com", "13800000001"),
                          ("Plain", None, None))
    with old_schema.app_context():
        alembic(old_schema, "upgrade", AFTER)
        keys = dict(((id_, (u, e)) for id_, u, e in db.session.execute(
            sa.select(User.id, User.username_key, User.email_key))))
        assert keys == {sigma: ("sigma", "qσ@example.com"), plain: ("plain", None)}
        db.session.rollback()  # MySQL: the read's metadata lock would block the ALTER
        alembic(old_schema, "upgrade", "head")  # the model has the later columns too
        found = db.session.scalars(User.identified_by("QΣ@EXAMPLE.COM")).all()
        assert [user.id for user in found] == [sigma]
        assert found[0].identified_as("QΣ@EXAMPLE.COM")


@pytest.mark.parametrize("accounts, words", [
    ([("a", "straße@example.com", None), ("b", "strasse@example.com", None)],
     "accounts {0}, {1} have emails that compare equal"),
    ([("a", "qς@example.com", None), ("b", "qσ@example.com", None)],
     "accounts {0}, {1} have emails that compare equal"),
    ([("qΣ@example.com", None, None), ("b", "qς@example.com", None)],
     "the username of account {0} ('qΣ@example.com') compares equal to the email of account {1}"),
])
def test_the_migration_refuses_collisions_and_changes_nothing(old_schema, accounts, words):
    ids = insert(old_schema, *accounts)
    with old_schema.app_context():
        with pytest.raises(RuntimeError) as refused:
            alembic(old_schema, "upgrade", AFTER)
        assert words.format(*ids) in str(refused.value)
        assert "Nothing was changed" in str(refused.value)
        db.session.rollback()
        assert revision(old_schema) == BEFORE
        columns = {column["name"] for column in sa.inspect(db.engine).get_columns("users")}
        assert not columns & {"email_key", "username_key"}


def test_the_migration_goes_down_and_up_again(old_schema):
    insert(old_schema, ("Sigma", "qς@example.com", None))
    with old_schema.app_context():
        alembic(old_schema, "upgrade", AFTER)
        alembic(old_schema, "downgrade", BEFORE)
        columns = {column["name"] for column in sa.inspect(db.engine).get_columns("users")}
        assert not columns & {"email_key", "username_key"}
        alembic(old_schema, "upgrade", AFTER)
        assert db.session.scalar(sa.select(User.email_key)) == "qσ@example.com"
