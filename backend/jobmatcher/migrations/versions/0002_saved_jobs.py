"""Saved job postings, and years of experience per skill.

Revision ID: 0002_saved_jobs
Revises: 0001_initial
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_saved_jobs"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("skills") as batch:
        batch.add_column(sa.Column("years_experience", sa.Integer, nullable=True))
    op.create_table(
        "saved_jobs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("company", sa.Text, nullable=False, server_default=""),
        sa.Column("location", sa.Text, nullable=False, server_default=""),
        sa.Column("url", sa.Text, nullable=False, server_default=""),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.Text, nullable=False, server_default="saved"),
        sa.Column("saved_at", sa.Text, nullable=False, server_default=sa.text("CURRENT_TIMESTAMP")),
    )
    op.create_index("ix_saved_jobs_company", "saved_jobs", ["company"])
    op.create_index("ix_saved_jobs_status_saved_at", "saved_jobs", ["status", "saved_at"])


def downgrade() -> None:
    op.drop_table("saved_jobs")
    with op.batch_alter_table("skills") as batch:
        batch.drop_column("years_experience")
