"""Gateway health (docs/web.md, "Gateway health"): ``gateway_nodes``, one row per gateway node."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "gateway_nodes",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("listen", sa.String(64), nullable=False),
        sa.Column("started", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("next_hop", sa.String(128), nullable=True),
        sa.Column("next_hop_ok", sa.Boolean(), nullable=True),
        sa.Column("next_hop_detail", sa.String(255), nullable=True),
        sa.Column("connections", sa.Integer(), nullable=False),
        sa.Column("in_flight", sa.Integer(), nullable=False),
        sa.Column("waiting", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("deferred", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("gateway_nodes")
