"""The recipient portal (docs/portal.md): sealed messages, their recipients and link tokens, passcodes, portal
sessions, replies, the outbox the gateway drains, and a generic ``rate_limits`` table."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "portal_messages",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("sender", sa.String(320), nullable=False),
        sa.Column("brand", sa.String(253), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("expires", sa.DateTime(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_note", sa.String(255), nullable=True),
        sa.Column("proof", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("read_receipt", sa.Boolean(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("nonce", sa.LargeBinary(), nullable=True),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=True),
    )
    op.create_index("ix_portal_messages_sender", "portal_messages", ["sender"])
    op.create_index("ix_portal_messages_expires", "portal_messages", ["expires"])
    op.create_table(
        "portal_recipients",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(32), sa.ForeignKey("portal_messages.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("bcc", sa.Boolean(), nullable=False),
        sa.Column("reads", sa.Integer(), nullable=False),
        sa.Column("first_read", sa.DateTime(), nullable=True),
        sa.Column("last_read", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("token_hash", name="uq_portal_recipients_token"),
        sa.UniqueConstraint("message_id", "address", name="uq_portal_recipients_address"),
    )
    op.create_index("ix_portal_recipients_address", "portal_recipients", ["address"])
    op.create_table(
        "portal_passcodes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(32), sa.ForeignKey("portal_messages.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("binding_hash", sa.String(64), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("reference", sa.String(16), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("expires", sa.DateTime(), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("used", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_portal_passcodes_recipient", "portal_passcodes", ["message_id", "address"])
    op.create_table(
        "portal_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_portal_sessions_address", "portal_sessions", ["address"])
    op.create_table(
        "rate_limits",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("window_start", sa.DateTime(), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
    )
    op.create_table(
        "portal_replies",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(32), sa.ForeignKey("portal_messages.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("author", sa.String(320), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("nonce", sa.LargeBinary(), nullable=True),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=True),
    )
    op.create_index("ix_portal_replies_message", "portal_replies", ["message_id"])
    op.create_table(
        "portal_outbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("message_id", sa.String(32), nullable=True),
        sa.Column("envelope_from", sa.String(320), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("nonce", sa.LargeBinary(), nullable=True),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("claimed_until", sa.DateTime(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.String(255), nullable=True),
    )
    op.create_index("ix_portal_outbox_state", "portal_outbox", ["state"])


def downgrade() -> None:
    op.drop_index("ix_portal_outbox_state", table_name="portal_outbox")
    op.drop_table("portal_outbox")
    op.drop_index("ix_portal_replies_message", table_name="portal_replies")
    op.drop_table("portal_replies")
    op.drop_table("rate_limits")
    op.drop_index("ix_portal_sessions_address", table_name="portal_sessions")
    op.drop_table("portal_sessions")
    op.drop_index("ix_portal_passcodes_recipient", table_name="portal_passcodes")
    op.drop_table("portal_passcodes")
    op.drop_index("ix_portal_recipients_address", table_name="portal_recipients")
    op.drop_table("portal_recipients")
    op.drop_index("ix_portal_messages_expires", table_name="portal_messages")
    op.drop_index("ix_portal_messages_sender", table_name="portal_messages")
    op.drop_table("portal_messages")
