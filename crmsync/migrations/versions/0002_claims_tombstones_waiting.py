"""subject claims, tombstones and cascade scopes in the id map, waiting events

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('subject_states', schema=None) as batch_op:
        batch_op.alter_column('last_event_id', existing_type=sa.String(length=64), nullable=True)
        batch_op.add_column(sa.Column('claim_token', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('claim_expires', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('rewrite', sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table('crm_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tombstone', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('incarnation', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('course_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('cm_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('item_id', sa.BigInteger(), nullable=True))
        batch_op.create_index('ix_crm_records_site_course', ['site_id', 'course_id'], unique=False)
        batch_op.create_index('ix_crm_records_site_cm', ['site_id', 'cm_id'], unique=False)
        batch_op.create_index('ix_crm_records_site_item', ['site_id', 'item_id'], unique=False)

    with op.batch_alter_table('inbox_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('waiting_for', sa.String(length=191), nullable=True))
        batch_op.create_index('ix_inbox_events_site_waiting_for', ['site_id', 'waiting_for'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('inbox_events', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_events_site_waiting_for')
        batch_op.drop_column('waiting_for')

    with op.batch_alter_table('crm_records', schema=None) as batch_op:
        batch_op.drop_index('ix_crm_records_site_item')
        batch_op.drop_index('ix_crm_records_site_cm')
        batch_op.drop_index('ix_crm_records_site_course')
        for column in ('item_id', 'cm_id', 'course_id', 'incarnation', 'tombstone'):
            batch_op.drop_column(column)

    with op.batch_alter_table('subject_states', schema=None) as batch_op:
        for column in ('rewrite', 'claim_expires', 'claim_token'):
            batch_op.drop_column(column)
        batch_op.alter_column('last_event_id', existing_type=sa.String(length=64), nullable=False)
