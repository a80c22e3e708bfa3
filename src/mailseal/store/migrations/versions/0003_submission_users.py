"""SMTP submission accounts (SMTP AUTH, RFC 4954): ``submission_users`` with scrypt password hashes."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # A new table needs no batch mode: SQLite creates tables (and their constraints) like any other backend.
    op.create_table(
        "submission_users",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("addresses", sa.JSON(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("last_login", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("username", name="uq_submission_users_username"),
    )


def downgrade() -> None:
    op.drop_table("submission_users")
