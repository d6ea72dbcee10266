"""Intake channels: grid workers' terminals, household visits, the category crosswalk (12345 → matter types),
photo metadata (size, EXIF time and GPS), case flags, and the rate counters of public endpoints.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 20:45:19.673666
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from gridgov.core.models import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_counter",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("window_start", UTCDateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_counter")),
    )
    op.create_table(
        "category_mapping",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("external_code", sa.String(length=64), nullable=False),
        sa.Column("external_name", sa.String(length=200), nullable=True),
        sa.Column("matter_type_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["matter_type_id"],
            ["matter_type.id"],
            name=op.f("fk_category_mapping_matter_type_id_matter_type"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_category_mapping")),
        sa.UniqueConstraint("source", "external_code", name=op.f("uq_category_mapping_source_external_code")),
    )
    with op.batch_alter_table("category_mapping", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_category_mapping_matter_type_id"), ["matter_type_id"], unique=False)

    op.create_table(
        "household_visit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("area_path", sa.String(length=400), nullable=False),
        sa.Column("worker_user_id", sa.Integer(), nullable=False),
        sa.Column("household_ref", sa.String(length=200), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=True),
        sa.Column("visited_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("purpose", sa.String(length=100), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column(
            "findings", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "case_ids", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["grid_id"], ["area.id"], name=op.f("fk_household_visit_grid_id_area"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["worker_user_id"], ["user.id"], name=op.f("fk_household_visit_worker_user_id_user"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_household_visit")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_household_visit_idempotency_key")),
    )
    with op.batch_alter_table("household_visit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_household_visit_area_path"), ["area_path"], unique=False)
        batch_op.create_index(batch_op.f("ix_household_visit_grid_id"), ["grid_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_household_visit_household_id"), ["household_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_household_visit_visited_at"), ["visited_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_household_visit_worker_user_id"), ["worker_user_id"], unique=False)

    op.create_table(
        "terminal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=True),
        sa.Column(
            "status",
            sa.Enum("pending", "active", "revoked", name="terminalstatus", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("requested_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("bound_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("bound_by", sa.Integer(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.Integer(), nullable=True),
        sa.Column("last_seen_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["bound_by"], ["user.id"], name=op.f("fk_terminal_bound_by_user"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(
            ["revoked_by"], ["user.id"], name=op.f("fk_terminal_revoked_by_user"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_terminal_user_id_user"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_terminal")),
        sa.UniqueConstraint("device_id", name=op.f("uq_terminal_device_id")),
    )
    with op.batch_alter_table("terminal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_terminal_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_terminal_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "flags",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=False,
                server_default="[]",
            )
        )
        batch_op.create_index("ix_case_channel_updated", ["channel", "updated_at", "id"], unique=False)

    with op.batch_alter_table("media_file", schema=None) as batch_op:
        batch_op.add_column(sa.Column("width", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("height", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("taken_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("gps_lng", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("gps_lat", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("media_file", schema=None) as batch_op:
        batch_op.drop_column("gps_lat")
        batch_op.drop_column("gps_lng")
        batch_op.drop_column("taken_at")
        batch_op.drop_column("height")
        batch_op.drop_column("width")

    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.drop_index("ix_case_channel_updated")
        batch_op.drop_column("flags")

    with op.batch_alter_table("terminal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_terminal_user_id"))
        batch_op.drop_index(batch_op.f("ix_terminal_status"))

    op.drop_table("terminal")
    with op.batch_alter_table("household_visit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_household_visit_worker_user_id"))
        batch_op.drop_index(batch_op.f("ix_household_visit_visited_at"))
        batch_op.drop_index(batch_op.f("ix_household_visit_household_id"))
        batch_op.drop_index(batch_op.f("ix_household_visit_grid_id"))
        batch_op.drop_index(batch_op.f("ix_household_visit_area_path"))

    op.drop_table("household_visit")
    with op.batch_alter_table("category_mapping", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_category_mapping_matter_type_id"))

    op.drop_table("category_mapping")
    op.drop_table("rate_counter")
