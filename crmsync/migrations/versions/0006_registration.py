"""registration service: local catalogue (projects, programmes), registrations, e-mailed link tokens

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'reg_projects',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('crm_id', sa.String(length=36), nullable=False, unique=True),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('description', sa.Text(), nullable=True),
        sa.Column('admin_email', sa.String(length=255), nullable=True),
        sa.Column('digest_period', sa.String(length=16), nullable=False),
        sa.Column('declaration', sa.String(length=64), nullable=False),
        sa.Column('digest_sent_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        'reg_programmes',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('crm_id', sa.String(length=36), nullable=False, unique=True),
        sa.Column('project_id', sa.Integer(), sa.ForeignKey('reg_projects.id'), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('opens_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('closes_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('capacity', sa.Integer(), nullable=False),
        sa.Column('course_crm_ids', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_reg_programmes_project_id', 'reg_programmes', ['project_id'])
    op.create_table(
        'reg_registrations',
        sa.Column('id', sa.String(length=36), primary_key=True),
        sa.Column('programme_id', sa.Integer(), sa.ForeignKey('reg_programmes.id'), nullable=False),
        sa.Column('email', sa.String(length=255), nullable=False),
        sa.Column('answers', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('status_message', sa.Text(), nullable=True),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.Column('consent_version', sa.String(length=64), nullable=False),
        sa.Column('consent_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('hold_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('crm_id', sa.String(length=36), nullable=True),
        sa.Column('crm_contact_id', sa.String(length=36), nullable=True),
        sa.Column('pushed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_reg_registrations_programme_id', 'reg_registrations', ['programme_id'])
    op.create_index('ix_reg_registrations_email', 'reg_registrations', ['email'])
    op.create_index('ix_reg_registrations_submitted_at', 'reg_registrations', ['submitted_at'])
    op.create_index('ix_reg_registrations_programme_status', 'reg_registrations', ['programme_id', 'status'])
    op.create_table(
        'reg_tokens',
        sa.Column('token_hash', sa.String(length=64), primary_key=True),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('email', sa.String(length=255), nullable=False),
        sa.Column('project_id', sa.Integer(), sa.ForeignKey('reg_projects.id'), nullable=True),
        sa.Column('registration_id', sa.String(length=36),
                  sa.ForeignKey('reg_registrations.id', ondelete='CASCADE'), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index('ix_reg_tokens_registration_id', 'reg_tokens', ['registration_id'])


def downgrade() -> None:
    op.drop_index('ix_reg_tokens_registration_id', table_name='reg_tokens')
    op.drop_table('reg_tokens')
    for name in ('ix_reg_registrations_programme_status', 'ix_reg_registrations_submitted_at',
                 'ix_reg_registrations_email', 'ix_reg_registrations_programme_id'):
        op.drop_index(name, table_name='reg_registrations')
    op.drop_table('reg_registrations')
    op.drop_index('ix_reg_programmes_project_id', table_name='reg_programmes')
    op.drop_table('reg_programmes')
    op.drop_table('reg_projects')
