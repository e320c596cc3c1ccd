"""id map: what the CRM holds of a Contact and each field's change times on both sides; field conflicts

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('crm_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attributes', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('fields', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='0'))
    op.create_table(
        'field_conflicts',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('site_id', sa.String(length=64), nullable=False),
        sa.Column('moodle_user_id', sa.BigInteger(), nullable=False),
        sa.Column('crm_id', sa.String(length=36), nullable=True),
        sa.Column('crm_field', sa.String(length=64), nullable=False),
        sa.Column('moodle_field', sa.String(length=191), nullable=False),
        sa.Column('owner', sa.String(length=16), nullable=False),
        sa.Column('loser', sa.String(length=16), nullable=False),
        sa.Column('lost_at', sa.BigInteger(), nullable=True),
        sa.Column('won_at', sa.BigInteger(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('event_id', sa.String(length=64), nullable=True),
    )
    op.create_index('ix_field_conflicts_at', 'field_conflicts', ['at'])
    op.create_index('ix_field_conflicts_site_user', 'field_conflicts', ['site_id', 'moodle_user_id'])


def downgrade() -> None:
    op.drop_index('ix_field_conflicts_site_user', table_name='field_conflicts')
    op.drop_index('ix_field_conflicts_at', table_name='field_conflicts')
    op.drop_table('field_conflicts')
    with op.batch_alter_table('crm_records', schema=None) as batch_op:
        batch_op.drop_column('version')
        batch_op.drop_column('fields')
        batch_op.drop_column('attributes')
