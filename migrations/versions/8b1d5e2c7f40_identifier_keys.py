"""identifier keys: one normalisation for login lookups and uniqueness

Adds ``users.email_key`` (unique) and ``users.username_key`` (indexed, not unique:
usernames are case-sensitive), each ``luffy.core.identifiers.fold`` of the column
(NFKC + case folding, computed in Python: the databases' ``lower()`` disagree with
Python's on a final sigma and on a dotted capital I), and fills them.

Before changing anything, it refuses, naming the accounts, when existing rows
collide under that normalisation: two emails with one key (say ``straße@x.org``
and ``STRASSE@x.org``, or ``qΣ@x.org`` and ``qς@x.org``), or a username or mobile
number that folds to another account's email key (a login with it would find both
accounts). Change one identifier of each pair (for instance ``UPDATE users SET
email = NULL WHERE id = ...``), then upgrade again.

Revision ID: 8b1d5e2c7f40
Revises: 3c8e1f0a9b7d
Create Date: 2026-12-03 10:30:00

"""
from collections import defaultdict

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from luffy.core.identifiers import fold

# revision identifiers, used by Alembic.
revision = '8b1d5e2c7f40'
down_revision = '3c8e1f0a9b7d'
branch_labels = None
depends_on = None

KEYS = (("username_key", 150), ("email_key", 254))


def _identifier(length):
    """A string compared by code point, also on MySQL/MariaDB (as in migration 3c8e1f0a9b7d)."""
    return sa.String(length).with_variant(mysql.VARCHAR(length, collation="utf8mb4_bin"),
                                          "mysql", "mariadb")


def collisions(rows):
    """Human-readable collisions among ``(id, username, email, mobile)`` rows: emails
    sharing a key, and usernames or mobiles folding to another account's email key."""
    by_email_key = defaultdict(list)
    for id_, _username, email, _mobile in rows:
        if email is not None:
            by_email_key[fold(email)].append(id_)
    found = [f"accounts {', '.join(map(str, sorted(ids)))} have emails that compare equal "
             f"({key!r})" for key, ids in sorted(by_email_key.items()) if len(ids) > 1]
    for id_, username, _email, mobile in rows:
        for kind, value in (("username", username), ("mobile", mobile)):
            if value is None:
                continue
            others = [other for other in by_email_key.get(fold(value), ()) if other != id_]
            if others:
                found.append(f"the {kind} of account {id_} ({value!r}) compares equal to the "
                             f"email of account {', '.join(map(str, others))}")
    return found


def upgrade():
    bind = op.get_bind()
    users = sa.table("users", sa.column("id"), sa.column("username"), sa.column("email"),
                     sa.column("mobile"), sa.column("username_key"), sa.column("email_key"))
    rows = bind.execute(sa.select(users.c.id, users.c.username, users.c.email,
                                  users.c.mobile)).all()
    found = collisions(rows)
    too_long = [f"the {name[:-4]} of account {row.id} is longer than {length} characters "
                "once normalised" for row in rows for name, length in KEYS
                if getattr(row, name[:-4]) is not None and len(fold(getattr(row, name[:-4]))) > length]
    if found or too_long:
        raise RuntimeError(
            "cannot add the identifier keys: these accounts collide once emails are compared "
            "without case (NFKC + case folding), and a login could not tell them apart:\n  "
            + "\n  ".join(found + too_long)
            + "\nChange one identifier of each (e.g. UPDATE users SET email = NULL WHERE id = ...),"
              " then upgrade again. Nothing was changed.")

    with op.batch_alter_table("users") as batch:
        for name, length in KEYS:
            batch.add_column(sa.Column(name, _identifier(length), nullable=True))
    for row in rows:
        bind.execute(users.update().where(users.c.id == row.id).values(
            username_key=fold(row.username),
            email_key=fold(row.email) if row.email is not None else None))
    with op.batch_alter_table("users") as batch:
        batch.alter_column("username_key", existing_type=_identifier(150), nullable=False)
        batch.create_index("ix_users_username_key", ["username_key"], unique=False)
        batch.create_index("ix_users_email_key", ["email_key"], unique=True)


def downgrade():
    with op.batch_alter_table("users") as batch:
        batch.drop_index("ix_users_email_key")
        batch.drop_index("ix_users_username_key")
        batch.drop_column("email_key")
        batch.drop_column("username_key")
