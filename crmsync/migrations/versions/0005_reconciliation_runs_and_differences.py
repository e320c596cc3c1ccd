"""reconciliation: runs (status, checkpoint, counts, requests) and the differences each found

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'reconcile_runs',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('site_id', sa.String(length=64), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('trigger', sa.String(length=16), nullable=False),
        sa.Column('dry_run', sa.Boolean(), nullable=False),
        sa.Column('counts', sa.JSON(), nullable=False),
        sa.Column('checkpoint', sa.JSON(), nullable=True),
        sa.Column('requests', sa.JSON(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
    )
    op.create_index('ix_reconcile_runs_started_at', 'reconcile_runs', ['started_at'])
    op.create_table(
        'reconcile_differences',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('run_id', sa.Integer(), sa.ForeignKey('reconcile_runs.id', ondelete='CASCADE'), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('entity', sa.String(length=32), nullable=False),
        sa.Column('key', sa.String(length=191), nullable=False),
        sa.Column('crm_module', sa.String(length=64), nullable=True),
        sa.Column('crm_id', sa.String(length=36), nullable=True),
        sa.Column('field', sa.String(length=64), nullable=True),
        sa.Column('moodle_value', sa.Text(), nullable=True),
        sa.Column('crm_value', sa.Text(), nullable=True),
        sa.Column('owner', sa.String(length=16), nullable=True),
        sa.Column('subject', sa.String(length=191), nullable=True),
        sa.Column('repaired_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('repair_note', sa.Text(), nullable=True),
    )
    op.create_index('ix_reconcile_differences_run_id', 'reconcile_differences', ['run_id'])
    op.create_index('ix_reconcile_differences_run_kind', 'reconcile_differences', ['run_id', 'kind'])


def downgrade() -> None:
    op.drop_index('ix_reconcile_differences_run_kind', table_name='reconcile_differences')
    op.drop_index('ix_reconcile_differences_run_id', table_name='reconcile_differences')
    op.drop_table('reconcile_differences')
    op.drop_index('ix_reconcile_runs_started_at', table_name='reconcile_runs')
    op.drop_table('reconcile_runs')
