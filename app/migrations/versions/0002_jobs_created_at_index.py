"""Index jobs by (created_at, id): an admin's job list (no owner or status filter) reads one page
of the index instead of sorting every job (155 ms -> see benchmarks/README.md at 10,000 jobs).

Revision ID: 0002_jobs_created_at_index
Revises: 0001_initial
Create Date: 2026-11-30
"""

from alembic import op

revision = "0002_jobs_created_at_index"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_jobs_created_at_id", "jobs", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_jobs_created_at_id", table_name="jobs")
