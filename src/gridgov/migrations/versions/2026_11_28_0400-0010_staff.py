"""Grid staff assignments and personnel filings (网格力量, 报备): staff members, their assignments with history,
filings with their event history, and phones reported lost.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gridgov.core.models import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("work_phone", sa.String(length=32), nullable=True),
        sa.Column(
            "created_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_staff_member_user_id_user"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_member")),
        sa.UniqueConstraint("user_id", name=op.f("uq_staff_member_user_id")),
    )
    op.create_table(
        "staff_assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("area_path", sa.String(length=400), nullable=False),
        sa.Column("grid_level", sa.Integer(), nullable=False),
        sa.Column(
            "post",
            sa.Enum(
                "grid_leader",
                "grid_worker",
                "community_police",
                "grid_instructor",
                "community_secretary",
                "community_director",
                "committee_member",
                "community_worker",
                name="post",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column(
            "employment",
            sa.Enum("full_time", "part_time", name="employment", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("end_reason", sa.String(length=400), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("ended_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_by_user_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name=op.f("ck_staff_assignment_dates")),
        sa.ForeignKeyConstraint(
            ["area_id"], ["area.id"], name=op.f("fk_staff_assignment_area_id_area"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["user.id"],
            name=op.f("fk_staff_assignment_created_by_user_id_user"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["ended_by_user_id"],
            ["user.id"],
            name=op.f("fk_staff_assignment_ended_by_user_id_user"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["staff_member.id"],
            name=op.f("fk_staff_assignment_member_id_staff_member"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_assignment")),
    )
    op.create_index(op.f("ix_staff_assignment_area_id"), "staff_assignment", ["area_id"], unique=False)
    op.create_index(op.f("ix_staff_assignment_area_path"), "staff_assignment", ["area_path"], unique=False)
    op.create_index(op.f("ix_staff_assignment_ends_on"), "staff_assignment", ["ends_on"], unique=False)
    op.create_index(op.f("ix_staff_assignment_member_id"), "staff_assignment", ["member_id"], unique=False)
    op.create_table(
        "staff_terminal_loss",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("terminal_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("reported_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("reported_by_user_id", sa.Integer(), nullable=True),
        sa.Column("reported_by_name", sa.String(length=100), nullable=False),
        sa.Column("sessions_ended", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["reported_by_user_id"],
            ["user.id"],
            name=op.f("fk_staff_terminal_loss_reported_by_user_id_user"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["terminal_id"],
            ["terminal.id"],
            name=op.f("fk_staff_terminal_loss_terminal_id_terminal"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_staff_terminal_loss_user_id_user"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_terminal_loss")),
    )
    op.create_index(op.f("ix_staff_terminal_loss_terminal_id"), "staff_terminal_loss", ["terminal_id"], unique=False)
    op.create_index(op.f("ix_staff_terminal_loss_user_id"), "staff_terminal_loss", ["user_id"], unique=False)
    op.create_table(
        "staff_filing",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("onboard", "leave", "transfer", "change_post", name="filingkind", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "requested",
                "approved",
                "applied",
                "refused",
                "withdrawn",
                "failed",
                name="filingstatus",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("person_name", sa.String(length=100), nullable=False),
        sa.Column("work_phone", sa.String(length=32), nullable=True),
        sa.Column("assignment_id", sa.Integer(), nullable=True),
        sa.Column("from_area_id", sa.Integer(), nullable=True),
        sa.Column("to_area_id", sa.Integer(), nullable=True),
        sa.Column(
            "post",
            sa.Enum(
                "grid_leader",
                "grid_worker",
                "community_police",
                "grid_instructor",
                "community_secretary",
                "community_director",
                "committee_member",
                "community_worker",
                name="post",
                native_enum=False,
                length=24,
            ),
            nullable=True,
        ),
        sa.Column(
            "employment",
            sa.Enum("full_time", "part_time", name="employment", native_enum=False, length=24),
            nullable=True,
        ),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("area_path", sa.String(length=400), nullable=False),
        sa.Column("to_path", sa.String(length=400), nullable=True),
        sa.Column("requested_by_user_id", sa.Integer(), nullable=False),
        sa.Column("requested_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by_user_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("applied_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("new_assignment_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["staff_assignment.id"],
            name=op.f("fk_staff_filing_assignment_id_staff_assignment"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_user_id"],
            ["user.id"],
            name=op.f("fk_staff_filing_decided_by_user_id_user"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["from_area_id"], ["area.id"], name=op.f("fk_staff_filing_from_area_id_area"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["staff_member.id"], name=op.f("fk_staff_filing_member_id_staff_member"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["new_assignment_id"],
            ["staff_assignment.id"],
            name=op.f("fk_staff_filing_new_assignment_id_staff_assignment"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_user_id"],
            ["user.id"],
            name=op.f("fk_staff_filing_requested_by_user_id_user"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["to_area_id"], ["area.id"], name=op.f("fk_staff_filing_to_area_id_area"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_staff_filing_user_id_user"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_filing")),
    )
    op.create_index(op.f("ix_staff_filing_area_path"), "staff_filing", ["area_path"], unique=False)
    op.create_index(op.f("ix_staff_filing_assignment_id"), "staff_filing", ["assignment_id"], unique=False)
    op.create_index(op.f("ix_staff_filing_effective_on"), "staff_filing", ["effective_on"], unique=False)
    op.create_index(op.f("ix_staff_filing_member_id"), "staff_filing", ["member_id"], unique=False)
    op.create_index(
        op.f("ix_staff_filing_requested_by_user_id"), "staff_filing", ["requested_by_user_id"], unique=False
    )
    op.create_index(op.f("ix_staff_filing_status"), "staff_filing", ["status"], unique=False)
    op.create_index(op.f("ix_staff_filing_to_path"), "staff_filing", ["to_path"], unique=False)
    op.create_table(
        "staff_filing_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("filing_id", sa.Integer(), nullable=False),
        sa.Column(
            "action",
            sa.Enum(
                "requested",
                "approved",
                "refused",
                "withdrawn",
                "applied",
                "failed",
                name="filingaction",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor_name", sa.String(length=100), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_user_id"], ["user.id"], name=op.f("fk_staff_filing_event_actor_user_id_user"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["filing_id"],
            ["staff_filing.id"],
            name=op.f("fk_staff_filing_event_filing_id_staff_filing"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_filing_event")),
    )
    op.create_index(op.f("ix_staff_filing_event_filing_id"), "staff_filing_event", ["filing_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_staff_filing_event_filing_id"), table_name="staff_filing_event")
    op.drop_table("staff_filing_event")
    op.drop_index(op.f("ix_staff_filing_to_path"), table_name="staff_filing")
    op.drop_index(op.f("ix_staff_filing_status"), table_name="staff_filing")
    op.drop_index(op.f("ix_staff_filing_requested_by_user_id"), table_name="staff_filing")
    op.drop_index(op.f("ix_staff_filing_member_id"), table_name="staff_filing")
    op.drop_index(op.f("ix_staff_filing_effective_on"), table_name="staff_filing")
    op.drop_index(op.f("ix_staff_filing_assignment_id"), table_name="staff_filing")
    op.drop_index(op.f("ix_staff_filing_area_path"), table_name="staff_filing")
    op.drop_table("staff_filing")
    op.drop_index(op.f("ix_staff_terminal_loss_user_id"), table_name="staff_terminal_loss")
    op.drop_index(op.f("ix_staff_terminal_loss_terminal_id"), table_name="staff_terminal_loss")
    op.drop_table("staff_terminal_loss")
    op.drop_index(op.f("ix_staff_assignment_member_id"), table_name="staff_assignment")
    op.drop_index(op.f("ix_staff_assignment_ends_on"), table_name="staff_assignment")
    op.drop_index(op.f("ix_staff_assignment_area_path"), table_name="staff_assignment")
    op.drop_index(op.f("ix_staff_assignment_area_id"), table_name="staff_assignment")
    op.drop_table("staff_assignment")
    op.drop_table("staff_member")
