"""id map: which site owns a Contact (links by e-mail), newest Moodle time written to a field group

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('crm_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('linked', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('high_water', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('crm_records', schema=None) as batch_op:
        batch_op.drop_column('high_water')
        batch_op.drop_column('linked')
