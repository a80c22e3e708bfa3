"""The portal's stronger proofs and the notification lease (docs/portal.md): ``portal_accounts`` (recipient accounts
with a password and a TOTP code, proof = "account") and ``portal_recipients.notifying_by`` / ``notifying_until``
(the node sending a recipient's notification holds it until then, so two nodes retrying one transaction at once
do not both send a link), and ``portal_sessions.proof`` (what opened a session: a mailed code or an account)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "portal_accounts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("totp_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("totp_confirmed", sa.Boolean(), nullable=False),
        sa.Column("totp_last_step", sa.Integer(), nullable=True),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("last_sign_in", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("address", name="uq_portal_accounts_address"),
    )
    with op.batch_alter_table("portal_recipients") as batch:
        batch.add_column(sa.Column("notifying_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("notifying_until", sa.DateTime(), nullable=True))
    with op.batch_alter_table("portal_sessions") as batch:
        batch.add_column(sa.Column("proof", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("portal_sessions") as batch:
        batch.drop_column("proof")
    with op.batch_alter_table("portal_recipients") as batch:
        batch.drop_column("notifying_until")
        batch.drop_column("notifying_by")
    op.drop_table("portal_accounts")
