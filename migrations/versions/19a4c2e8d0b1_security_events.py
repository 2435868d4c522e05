"""events: each account's security log (logins, failures, password and email changes)

Revision ID: 19a4c2e8d0b1
Revises: 17a0c3e9d2b1
Create Date: 2026-12-07 04:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '19a4c2e8d0b1'
down_revision = '17a0c3e9d2b1'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('ip', sa.String(length=45), nullable=True),
    sa.Column('user_agent', sa.String(length=255), nullable=True),
    sa.Column('method', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_account_id_id', ['account_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_at'), ['at'], unique=False)


def downgrade():
    # The table's indexes go with it (MySQL refuses to drop the one its foreign key uses).
    op.drop_table('events')
