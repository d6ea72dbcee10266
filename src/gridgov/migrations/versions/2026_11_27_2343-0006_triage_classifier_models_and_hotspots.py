"""Triage: the versioned classifier models (the bytes, metadata, which one is active) and the discovered
hotspots (高频事项).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 23:43:05.233106
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from gridgov.core.models import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "triage_hotspot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("open", "escalated", "dismissed", name="hotspotstatus", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column(
            "keywords", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("heat", sa.Float(), nullable=False),
        sa.Column("first_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "member_case_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "locations", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("lng", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("matter_type_id", sa.Integer(), nullable=True),
        sa.Column("street_id", sa.Integer(), nullable=True),
        sa.Column(
            "details", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("window_start", UTCDateTime(timezone=True), nullable=False),
        sa.Column("window_end", UTCDateTime(timezone=True), nullable=False),
        sa.Column("refreshed_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("decided_by_user_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"], name=op.f("fk_triage_hotspot_case_id_case")),
        sa.ForeignKeyConstraint(
            ["decided_by_user_id"], ["user.id"], name=op.f("fk_triage_hotspot_decided_by_user_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["matter_type_id"], ["matter_type.id"], name=op.f("fk_triage_hotspot_matter_type_id_matter_type")
        ),
        sa.ForeignKeyConstraint(["street_id"], ["area.id"], name=op.f("fk_triage_hotspot_street_id_area")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triage_hotspot")),
    )
    with op.batch_alter_table("triage_hotspot", schema=None) as batch_op:
        batch_op.create_index("ix_triage_hotspot_status_heat", ["status", "heat"], unique=False)

    op.create_table(
        "triage_model",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "label_target",
            sa.Enum("matter_type", "unit", name="labeltarget", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column(
            "meta", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("added_by_user_id", sa.Integer(), nullable=True),
        sa.Column("activated_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("activated_by_user_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["activated_by_user_id"], ["user.id"], name=op.f("fk_triage_model_activated_by_user_id_user")
        ),
        sa.ForeignKeyConstraint(["added_by_user_id"], ["user.id"], name=op.f("fk_triage_model_added_by_user_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triage_model")),
        sa.UniqueConstraint("sha256", name=op.f("uq_triage_model_sha256")),
        sa.UniqueConstraint("version", name=op.f("uq_triage_model_version")),
    )
    with op.batch_alter_table("triage_model", schema=None) as batch_op:
        batch_op.create_index(
            "uq_triage_model_active",
            ["is_active"],
            unique=True,
            sqlite_where=sa.text("is_active"),
            postgresql_where=sa.text("is_active"),
        )


def downgrade() -> None:
    with op.batch_alter_table("triage_model", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_triage_model_active", sqlite_where=sa.text("is_active"), postgresql_where=sa.text("is_active")
        )

    op.drop_table("triage_model")
    with op.batch_alter_table("triage_hotspot", schema=None) as batch_op:
        batch_op.drop_index("ix_triage_hotspot_status_heat")

    op.drop_table("triage_hotspot")
