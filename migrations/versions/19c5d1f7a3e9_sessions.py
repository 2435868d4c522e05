"""sessions: one row per login (a refresh-token family), for the security center

Revision ID: 19c5d1f7a3e9
Revises: 19b7e3a1c5d2
Create Date: 2026-12-07 04:45:00

Every live family of refresh tokens becomes a session (its first token's time for both
created_at and last_used_at: nothing better is known of it).
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

# Microseconds on MySQL/MariaDB too (DATETIME keeps whole seconds by default).
PRECISE_TIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql', 'mariadb')


# revision identifiers, used by Alembic.
revision = '19c5d1f7a3e9'
down_revision = '19b7e3a1c5d2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('sessions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('created_at', PRECISE_TIME, nullable=False),
    sa.Column('last_used_at', PRECISE_TIME, nullable=False),
    sa.Column('ip', sa.String(length=45), nullable=True),
    sa.Column('user_agent', sa.String(length=255), nullable=True),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    # MySQL/MariaDB: refresh_tokens' collation (3c8e1f0a9b7d), so that its family and a
    # session's id compare in a join (two collations there are an error).
    mysql_charset='utf8mb4', mysql_collate='utf8mb4_unicode_ci',
    )
    op.create_index('ix_sessions_account_id_created_at', 'sessions',
                    ['account_id', 'created_at'], unique=False)
    op.execute(
        "INSERT INTO sessions (id, account_id, created_at, last_used_at) "
        "SELECT family, MIN(user_id), MIN(created_at), MIN(created_at) FROM refresh_tokens "
        "WHERE revoked_at IS NULL GROUP BY family")


def downgrade():
    # The table's index goes with it (MySQL refuses to drop the one its foreign key uses).
    op.drop_table('sessions')
