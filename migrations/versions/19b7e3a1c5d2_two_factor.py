"""two-factor: an encrypted TOTP secret per account, hashed recovery codes, users.two_factor

Revision ID: 19b7e3a1c5d2
Revises: 19a4c2e8d0b1
Create Date: 2026-12-07 04:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '19b7e3a1c5d2'
down_revision = '19a4c2e8d0b1'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('two_factor', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.create_table('two_factor',
    sa.Column('account_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('secret', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(), nullable=True),
    sa.Column('last_step', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id')
    )
    op.create_table('recovery_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_codes_account_id'), ['account_id'], unique=False)


def downgrade():
    # The table's index goes with it (MySQL refuses to drop the one its foreign key uses).
    op.drop_table('recovery_codes')
    op.drop_table('two_factor')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('two_factor')
