"""inbox, subject state and CRM id map

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('crm_records',
    sa.Column('site_id', sa.String(length=64), nullable=False),
    sa.Column('entity_key', sa.String(length=191), nullable=False),
    sa.Column('crm_module', sa.String(length=64), nullable=False),
    sa.Column('crm_id', sa.String(length=36), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('site_id', 'entity_key')
    )
    with op.batch_alter_table('crm_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crm_records_crm_id'), ['crm_id'], unique=False)

    op.create_table('inbox_events',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('site_id', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=191), nullable=False),
    sa.Column('sequence', sa.BigInteger(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('inbox_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbox_events_received_at'), ['received_at'], unique=False)
        batch_op.create_index('ix_inbox_events_site_subject_sequence', ['site_id', 'subject', 'sequence'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbox_events_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbox_events_type'), ['type'], unique=False)

    op.create_table('subject_states',
    sa.Column('site_id', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=191), nullable=False),
    sa.Column('last_sequence', sa.BigInteger(), nullable=False),
    sa.Column('last_event_id', sa.String(length=64), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('site_id', 'subject')
    )
    op.create_table('event_transitions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['inbox_events.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('event_transitions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_event_transitions_event_id'), ['event_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('event_transitions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_event_transitions_event_id'))

    op.drop_table('event_transitions')
    op.drop_table('subject_states')
    with op.batch_alter_table('inbox_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbox_events_type'))
        batch_op.drop_index(batch_op.f('ix_inbox_events_status'))
        batch_op.drop_index('ix_inbox_events_site_subject_sequence')
        batch_op.drop_index(batch_op.f('ix_inbox_events_received_at'))

    op.drop_table('inbox_events')
    with op.batch_alter_table('crm_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crm_records_crm_id'))

    op.drop_table('crm_records')
