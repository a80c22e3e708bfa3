"""The internal CA's register in the store: ``ca_certificates`` (what each CA issued and revoked) and
``ca_crl_numbers`` (the last CRL number of each CA)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "ca_certificates",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ca", sa.String(64), nullable=False),
        sa.Column("serial", sa.String(64), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("usage", sa.String(16), nullable=False),
        sa.Column("key_type", sa.String(16), nullable=False),
        sa.Column("not_before", sa.DateTime(), nullable=False),
        sa.Column("not_after", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("certificate", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("ca", "serial", name="uq_ca_certificates_serial"),
    )
    op.create_index("ix_ca_certificates_email", "ca_certificates", ["ca", "email"])
    op.create_table(
        "ca_crl_numbers",
        sa.Column("ca", sa.String(64), primary_key=True),
        sa.Column("number", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ca_crl_numbers")
    op.drop_index("ix_ca_certificates_email", table_name="ca_certificates")
    op.drop_table("ca_certificates")
