"""legacy accounts and blacklisted tokens: what luffy remembers of the old backend

``legacy_accounts`` maps each account imported from the old Django backend (``flask
users import-django``) to its luffy account, with a hash of the old row as last
imported and of luffy's row as the import wrote it (re-runs tell who changed what).
``legacy_blacklisted_tokens`` holds the old backend's logged-out refresh tokens.

Revision ID: 17a0c3e9d2b1
Revises: 7d2b4c9e1a05
Create Date: 2026-12-07 04:20:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '17a0c3e9d2b1'
down_revision = '7d2b4c9e1a05'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'legacy_accounts',
        sa.Column('old_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('source_hash', sa.String(length=64), nullable=False),
        sa.Column('luffy_hash', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('old_id'),
        sa.UniqueConstraint('account_id'),
    )
    op.create_table(
        'legacy_blacklisted_tokens',
        sa.Column('jti', sa.String(length=255), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('jti'),
    )


def downgrade():
    op.drop_table('legacy_blacklisted_tokens')
    op.drop_table('legacy_accounts')
