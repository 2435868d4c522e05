"""case-sensitive identifiers and utf8mb4 on MySQL/MariaDB

Their default collations ignore case (``utf8mb4_general_ci``), which merged the
case-sensitive usernames "Alice" and "alice" in lookups and unique keys. The
tables are converted to utf8mb4 whatever the server's default character set is,
and username, email and mobile compare by code point (``utf8mb4_bin``). Other
databases compare strings exactly already: nothing to do there.

Revision ID: 3c8e1f0a9b7d
Revises: 61463d2a1605
Create Date: 2026-11-27 03:10:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '3c8e1f0a9b7d'
down_revision = '61463d2a1605'
branch_labels = None
depends_on = None

IDENTIFIERS = (("username", 150, "NOT NULL"), ("email", 254, "NULL"), ("mobile", 15, "NULL"))


def _on_mysql():
    return op.get_bind().dialect.name in ("mysql", "mariadb")


def upgrade():
    if not _on_mysql():
        return
    for table in ("users", "refresh_tokens"):
        op.execute(f"ALTER TABLE {table} CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    op.execute("ALTER TABLE users " + ", ".join(
        f"MODIFY {name} VARCHAR({length}) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin {null}"
        for name, length, null in IDENTIFIERS))


def downgrade():
    # Fails if two usernames now differ only in case, as it should: they would merge.
    if not _on_mysql():
        return
    op.execute("ALTER TABLE users " + ", ".join(
        f"MODIFY {name} VARCHAR({length}) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci {null}"
        for name, length, null in IDENTIFIERS))
