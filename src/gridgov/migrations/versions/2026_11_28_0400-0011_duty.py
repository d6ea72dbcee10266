"""Duty rosters, shifts, handovers and notifications (值班): shifts and rosters of the operation centres, the
handover log, duty contacts, and the outbox of notifications to the on-duty staff.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from gridgov.core.models import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "duty_cursor",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_duty_cursor")),
    )
    op.create_table(
        "duty_shift",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("centre_area_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["centre_area_id"], ["area.id"], name=op.f("fk_duty_shift_centre_area_id_area"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duty_shift")),
        sa.UniqueConstraint("centre_area_id", "code", name=op.f("uq_duty_shift_centre_area_id_code")),
    )
    op.create_index(op.f("ix_duty_shift_centre_area_id"), "duty_shift", ["centre_area_id"], unique=False)
    op.create_table(
        "duty_contact",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=200), nullable=True),
        sa.Column("mobile", sa.String(length=20), nullable=True),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_duty_contact_user_id_user"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_duty_contact")),
    )
    op.create_table(
        "duty_roster",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("centre_area_id", sa.Integer(), nullable=False),
        sa.Column("shift_id", sa.Integer(), nullable=False),
        sa.Column("duty_date", sa.Date(), nullable=False),
        sa.Column("starts_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("leader_user_id", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("updated_by_user_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["centre_area_id"], ["area.id"], name=op.f("fk_duty_roster_centre_area_id_area"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["leader_user_id"], ["user.id"], name=op.f("fk_duty_roster_leader_user_id_user"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["shift_id"], ["duty_shift.id"], name=op.f("fk_duty_roster_shift_id_duty_shift"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_user_id"],
            ["user.id"],
            name=op.f("fk_duty_roster_updated_by_user_id_user"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duty_roster")),
        sa.UniqueConstraint("shift_id", "duty_date", name=op.f("uq_duty_roster_shift_id_duty_date")),
    )
    op.create_index(
        "ix_duty_roster_centre_span", "duty_roster", ["centre_area_id", "starts_at", "ends_at"], unique=False
    )
    op.create_index(op.f("ix_duty_roster_leader_user_id"), "duty_roster", ["leader_user_id"], unique=False)
    op.create_index(op.f("ix_duty_roster_shift_id"), "duty_roster", ["shift_id"], unique=False)
    op.create_table(
        "duty_handover",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("roster_id", sa.Integer(), nullable=False),
        sa.Column("centre_area_id", sa.Integer(), nullable=False),
        sa.Column("incoming_roster_id", sa.Integer(), nullable=True),
        sa.Column("written_by_user_id", sa.Integer(), nullable=False),
        sa.Column("written_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("open_matters", sa.Text(), nullable=False),
        sa.Column(
            "case_numbers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("acknowledged_by_user_id", sa.Integer(), nullable=True),
        sa.Column("acknowledged_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledgement_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["acknowledged_by_user_id"],
            ["user.id"],
            name=op.f("fk_duty_handover_acknowledged_by_user_id_user"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["centre_area_id"], ["area.id"], name=op.f("fk_duty_handover_centre_area_id_area"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["incoming_roster_id"],
            ["duty_roster.id"],
            name=op.f("fk_duty_handover_incoming_roster_id_duty_roster"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["roster_id"], ["duty_roster.id"], name=op.f("fk_duty_handover_roster_id_duty_roster"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["written_by_user_id"],
            ["user.id"],
            name=op.f("fk_duty_handover_written_by_user_id_user"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duty_handover")),
        sa.UniqueConstraint("roster_id", name=op.f("uq_duty_handover_roster_id")),
    )
    op.create_index(op.f("ix_duty_handover_centre_area_id"), "duty_handover", ["centre_area_id"], unique=False)
    op.create_index(op.f("ix_duty_handover_written_at"), "duty_handover", ["written_at"], unique=False)
    op.create_table(
        "duty_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind", sa.Enum("urgent", "overdue", name="noticekind", native_enum=False, length=24), nullable=False
        ),
        sa.Column(
            "centre_area_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "on_duty_user_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("remark", sa.Text(), nullable=True),
        sa.Column("occurred_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case.id"], name=op.f("fk_duty_notice_case_id_case"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["case_event.id"], name=op.f("fk_duty_notice_event_id_case_event"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duty_notice")),
        sa.UniqueConstraint("event_id", name=op.f("uq_duty_notice_event_id")),
    )
    op.create_index(op.f("ix_duty_notice_case_id"), "duty_notice", ["case_id"], unique=False)
    op.create_index(op.f("ix_duty_notice_created_at"), "duty_notice", ["created_at"], unique=False)
    op.create_table(
        "duty_roster_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("roster_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("is_leader", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["roster_id"],
            ["duty_roster.id"],
            name=op.f("fk_duty_roster_member_roster_id_duty_roster"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_duty_roster_member_user_id_user"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duty_roster_member")),
        sa.UniqueConstraint("roster_id", "user_id", name=op.f("uq_duty_roster_member_roster_id_user_id")),
    )
    op.create_index(op.f("ix_duty_roster_member_roster_id"), "duty_roster_member", ["roster_id"], unique=False)
    op.create_index(op.f("ix_duty_roster_member_user_id"), "duty_roster_member", ["user_id"], unique=False)
    op.create_table(
        "duty_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind", sa.Enum("urgent", "overdue", name="noticekind", native_enum=False, length=24), nullable=False
        ),
        sa.Column("notifier", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=100), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("address", sa.String(length=200), nullable=True),
        sa.Column(
            "mentions", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "sending",
                "delivered",
                "failed",
                "skipped",
                name="deliverystatus",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case.id"], name=op.f("fk_duty_delivery_case_id_case"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["duty_notice.id"], name=op.f("fk_duty_delivery_notice_id_duty_notice"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_duty_delivery_user_id_user"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duty_delivery")),
        sa.UniqueConstraint(
            "case_id", "kind", "notifier", "recipient", name=op.f("uq_duty_delivery_case_id_kind_notifier_recipient")
        ),
    )
    op.create_index(op.f("ix_duty_delivery_notice_id"), "duty_delivery", ["notice_id"], unique=False)
    op.create_index("ix_duty_delivery_status_next", "duty_delivery", ["status", "next_attempt_at"], unique=False)
    op.create_index(op.f("ix_duty_delivery_user_id"), "duty_delivery", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_duty_delivery_user_id"), table_name="duty_delivery")
    op.drop_index("ix_duty_delivery_status_next", table_name="duty_delivery")
    op.drop_index(op.f("ix_duty_delivery_notice_id"), table_name="duty_delivery")
    op.drop_table("duty_delivery")
    op.drop_index(op.f("ix_duty_roster_member_user_id"), table_name="duty_roster_member")
    op.drop_index(op.f("ix_duty_roster_member_roster_id"), table_name="duty_roster_member")
    op.drop_table("duty_roster_member")
    op.drop_index(op.f("ix_duty_notice_created_at"), table_name="duty_notice")
    op.drop_index(op.f("ix_duty_notice_case_id"), table_name="duty_notice")
    op.drop_table("duty_notice")
    op.drop_index(op.f("ix_duty_handover_written_at"), table_name="duty_handover")
    op.drop_index(op.f("ix_duty_handover_centre_area_id"), table_name="duty_handover")
    op.drop_table("duty_handover")
    op.drop_index(op.f("ix_duty_roster_shift_id"), table_name="duty_roster")
    op.drop_index(op.f("ix_duty_roster_leader_user_id"), table_name="duty_roster")
    op.drop_index("ix_duty_roster_centre_span", table_name="duty_roster")
    op.drop_table("duty_roster")
    op.drop_table("duty_contact")
    op.drop_index(op.f("ix_duty_shift_centre_area_id"), table_name="duty_shift")
    op.drop_table("duty_shift")
    op.drop_table("duty_cursor")
