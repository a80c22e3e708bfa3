"""Identities whose key lives on a PKCS#11 token: ``key_location`` (RFC 7512 URI), ``encrypted_key`` nullable."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

# The same rule as IdentityRow's: a row holds either the encrypted key or the key's location, never both or none.
_CHECK = "(encrypted_key IS NULL) <> (key_location IS NULL)"


def upgrade() -> None:
    # Batch mode: SQLite cannot alter a column's nullability in place, so Alembic copies the table.
    with op.batch_alter_table("identities") as batch:
        batch.add_column(sa.Column("key_location", sa.String(1024), nullable=True))
        batch.alter_column("encrypted_key", existing_type=sa.LargeBinary(), nullable=True)
        batch.create_check_constraint("ck_identity_key_location", _CHECK)


def downgrade() -> None:
    # Token identities have no key to keep in the store: they cannot survive a downgrade.
    op.execute("DELETE FROM identities WHERE key_location IS NOT NULL")
    with op.batch_alter_table("identities") as batch:
        batch.drop_constraint("ck_identity_key_location", type_="check")
        batch.alter_column("encrypted_key", existing_type=sa.LargeBinary(), nullable=False)
        batch.drop_column("key_location")
