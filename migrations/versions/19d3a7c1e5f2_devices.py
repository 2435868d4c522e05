"""devices: the devices each account logged in from, for new-device alerts

Revision ID: 19d3a7c1e5f2
Revises: 19c5d1f7a3e9
Create Date: 2026-12-07 05:25:00

Empty at first: an account's first login after this migration records its device
without a notice (luffy.core.devices: an account's first device is never new).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '19d3a7c1e5f2'
down_revision = '19c5d1f7a3e9'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('devices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('cookie', sa.String(length=43), nullable=False),
    sa.Column('agent_key', sa.String(length=64), nullable=False),
    sa.Column('first_seen', sa.DateTime(), nullable=False),
    sa.Column('last_seen', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_devices_account_id_cookie', 'devices', ['account_id', 'cookie'],
                    unique=False)
    op.create_index('ix_devices_account_id_agent_key', 'devices', ['account_id', 'agent_key'],
                    unique=False)


def downgrade():
    # The table's indexes go with it (MySQL refuses to drop the one its foreign key uses).
    op.drop_table('devices')
