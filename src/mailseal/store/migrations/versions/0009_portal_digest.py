"""A retried SMTP transaction deposits its portal message once (docs/portal.md, "A retried message"):
``portal_messages.digest`` (the SHA-256 of the received message, envelope sender and portal recipients; unique, so
two nodes cannot both deposit it) and ``portal_recipients.notified`` (when the next hop accepted the recipient's
notification)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("portal_messages") as batch:
        batch.add_column(sa.Column("digest", sa.String(64), nullable=True))
        batch.create_index("ix_portal_messages_digest", ["digest"], unique=True)
    with op.batch_alter_table("portal_recipients") as batch:
        batch.add_column(sa.Column("notified", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("portal_recipients") as batch:
        batch.drop_column("notified")
    with op.batch_alter_table("portal_messages") as batch:
        batch.drop_index("ix_portal_messages_digest")
        batch.drop_column("digest")
