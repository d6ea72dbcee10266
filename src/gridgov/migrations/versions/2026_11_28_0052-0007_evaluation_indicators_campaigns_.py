"""Evaluation (评价一标准): indicators as data, special supervision campaigns and their cases, generated
bulletin files.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 00:52:20.623428
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from gridgov.core.models import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evaluation_indicator",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column(
            "objects", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("formula", sa.Text(), nullable=False),
        sa.Column(
            "direction", sa.Enum("higher", "lower", name="direction", native_enum=False, length=24), nullable=False
        ),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("sample", sa.String(length=64), nullable=True),
        sa.Column("min_sample", sa.Integer(), nullable=False),
        sa.Column("when_zero", sa.Float(), nullable=True),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column(
            "score", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_indicator")),
        sa.UniqueConstraint("code", name=op.f("uq_evaluation_indicator_code")),
    )
    op.create_table(
        "evaluation_campaign",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "matter_type_codes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "area_codes", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("starts_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "targets", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "status", sa.Enum("active", "closed", name="campaignstatus", native_enum=False, length=24), nullable=False
        ),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"], ["user.id"], name=op.f("fk_evaluation_campaign_created_by_user_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_campaign")),
        sa.UniqueConstraint("code", name=op.f("uq_evaluation_campaign_code")),
    )
    op.create_table(
        "evaluation_bulletin",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column(
            "format",
            sa.Enum("xlsx", "html", "pdf", name="bulletinformat", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("generated_by_user_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["evaluation_campaign.id"],
            name=op.f("fk_evaluation_bulletin_campaign_id_evaluation_campaign"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["generated_by_user_id"], ["user.id"], name=op.f("fk_evaluation_bulletin_generated_by_user_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_bulletin")),
        sa.UniqueConstraint("period", "scope", "format", name=op.f("uq_evaluation_bulletin_period_scope_format")),
    )
    op.create_table(
        "evaluation_campaign_case",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("tagged_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("tagged_by_user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["evaluation_campaign.id"],
            name=op.f("fk_evaluation_campaign_case_campaign_id_evaluation_campaign"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case.id"], name=op.f("fk_evaluation_campaign_case_case_id_case"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["tagged_by_user_id"], ["user.id"], name=op.f("fk_evaluation_campaign_case_tagged_by_user_id_user")
        ),
        sa.PrimaryKeyConstraint("campaign_id", "case_id", name=op.f("pk_evaluation_campaign_case")),
    )
    with op.batch_alter_table("evaluation_campaign_case", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evaluation_campaign_case_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("evaluation_campaign_case", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evaluation_campaign_case_case_id"))

    op.drop_table("evaluation_campaign_case")
    op.drop_table("evaluation_bulletin")
    op.drop_table("evaluation_campaign")
    op.drop_table("evaluation_indicator")
