"""Security keys as a second factor of console accounts (docs/web.md, "Signing in"): ``webauthn_credentials``, one
row per registered WebAuthn credential, and the pending challenge of a console session (``web_sessions``)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "webauthn_credentials",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("credential_id", sa.String(1400), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("transports", sa.String(128), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("last_used", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("credential_id", name="uq_webauthn_credentials_id"),
    )
    op.create_index("ix_webauthn_credentials_account", "webauthn_credentials", ["account"])
    with op.batch_alter_table("web_sessions") as batch:
        batch.add_column(sa.Column("challenge", sa.String(128), nullable=True))
        batch.add_column(sa.Column("challenge_expires", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("web_sessions") as batch:
        batch.drop_column("challenge_expires")
        batch.drop_column("challenge")
    op.drop_index("ix_webauthn_credentials_account", table_name="webauthn_credentials")
    op.drop_table("webauthn_credentials")
