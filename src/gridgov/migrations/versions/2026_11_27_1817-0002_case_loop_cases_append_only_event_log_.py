"""Case loop: cases, their append-only event log (guarded by triggers), contacts, media, daily numbers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 18:17:54.367076
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from gridgov.migrations import append_only

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "case_sequence",
        sa.Column("district_code", sa.String(length=16), nullable=False),
        sa.Column("day", sa.String(length=8), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("district_code", "day", name=op.f("pk_case_sequence")),
    )
    op.create_table(
        "media_file",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=True),
        sa.Column("uploaded_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_media_file")),
    )
    op.create_table(
        "case",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                "patrol",
                "snapshot",
                "hotline",
                "open311",
                "iot",
                "video",
                "assignment",
                "discovered",
                name="channel",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("external_id", sa.String(length=100), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("tracking_code", sa.String(length=32), nullable=True),
        sa.Column("matter_type_id", sa.Integer(), nullable=False),
        sa.Column(
            "urgency",
            sa.Enum("normal", "urgent", "emergency", name="urgency", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column("street_id", sa.Integer(), nullable=True),
        sa.Column("district_id", sa.Integer(), nullable=True),
        sa.Column("area_path", sa.String(length=400), nullable=False),
        sa.Column("reporter_user_id", sa.Integer(), nullable=True),
        sa.Column(
            "reporter_role",
            sa.Enum(
                "district_leader",
                "district_dispatcher",
                "street_dispatcher",
                "community_secretary",
                "grid_worker",
                "unit_handler",
                "auditor",
                "admin",
                "citizen",
                "system",
                name="role",
                native_enum=False,
                length=24,
            ),
            nullable=True,
        ),
        sa.Column("reporter_unit_id", sa.Integer(), nullable=True),
        sa.Column("component_owner_unit_id", sa.Integer(), nullable=True),
        sa.Column(
            "stage",
            sa.Enum(
                "reported",
                "verifying",
                "registered",
                "rejected",
                "merged",
                "dispatched",
                "signed",
                "returned",
                "handling",
                "handled",
                "closed",
                name="casestage",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("is_extended", sa.Boolean(), nullable=False),
        sa.Column("is_suspended", sa.Boolean(), nullable=False),
        sa.Column("is_supervised", sa.Boolean(), nullable=False),
        sa.Column("is_escalated", sa.Boolean(), nullable=False),
        sa.Column("is_overdue", sa.Boolean(), nullable=False),
        sa.Column("is_final_ruling", sa.Boolean(), nullable=False),
        sa.Column("warning_level", sa.Integer(), nullable=False),
        sa.Column(
            "pending_request",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("centre_area_id", sa.Integer(), nullable=True),
        sa.Column("handling_unit_id", sa.Integer(), nullable=True),
        sa.Column(
            "co_unit_ids", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("verifier_user_id", sa.Integer(), nullable=True),
        sa.Column(
            "dispatch_candidates",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "classification",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("register_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dispatch_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("handle_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verify_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("suspended_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "clock_stage",
            sa.Enum("register", "dispatch", "handle", "verify", name="stage", native_enum=False, length=24),
            nullable=True,
        ),
        sa.Column("clock_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("clock_limit", sa.Float(), nullable=True),
        sa.Column(
            "clock_unit",
            sa.Enum("working_hours", "working_days", "natural_hours", name="timeunit", native_enum=False, length=24),
            nullable=True,
        ),
        sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hop_count", sa.Integer(), nullable=False),
        sa.Column("return_count", sa.Integer(), nullable=False),
        sa.Column("rework_count", sa.Integer(), nullable=False),
        sa.Column("extension_count", sa.Integer(), nullable=False),
        sa.Column("limbo_seconds", sa.Float(), nullable=False),
        sa.Column(
            "satisfaction",
            sa.Enum(
                "satisfied", "basically_satisfied", "unsatisfied", name="satisfaction", native_enum=False, length=24
            ),
            nullable=True,
        ),
        sa.Column(
            "reasonableness",
            sa.Enum("reasonable", "unreasonable", name="reasonableness", native_enum=False, length=24),
            nullable=True,
        ),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verifying_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rejected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("returned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("handling_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["centre_area_id"], ["area.id"], name=op.f("fk_case_centre_area_id_area"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["area.id"], name=op.f("fk_case_community_id_area"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["component_owner_unit_id"],
            ["unit.id"],
            name=op.f("fk_case_component_owner_unit_id_unit"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["district_id"], ["area.id"], name=op.f("fk_case_district_id_area"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(["grid_id"], ["area.id"], name=op.f("fk_case_grid_id_area"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(
            ["handling_unit_id"], ["unit.id"], name=op.f("fk_case_handling_unit_id_unit"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["matter_type_id"], ["matter_type.id"], name=op.f("fk_case_matter_type_id_matter_type"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(["parent_id"], ["case.id"], name=op.f("fk_case_parent_id_case"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(
            ["reporter_unit_id"], ["unit.id"], name=op.f("fk_case_reporter_unit_id_unit"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(["street_id"], ["area.id"], name=op.f("fk_case_street_id_area"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case")),
        sa.UniqueConstraint("channel", "external_id", name=op.f("uq_case_channel_external_id")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_case_idempotency_key")),
        sa.UniqueConstraint("number", name=op.f("uq_case_number")),
        sa.UniqueConstraint("tracking_code", name=op.f("uq_case_tracking_code")),
    )
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_area_path"), ["area_path"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_closed_at"), ["closed_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_community_id"), ["community_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_grid_id"), ["grid_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_handling_unit_id"), ["handling_unit_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_is_overdue"), ["is_overdue"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_matter_type_id"), ["matter_type_id"], unique=False)
        batch_op.create_index("ix_case_next_check", ["next_check_at"], unique=False)
        batch_op.create_index("ix_case_open_matter_geo", ["matter_type_id", "is_open", "lat", "lng"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_reported_at"), ["reported_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_reporter_user_id"), ["reporter_user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_stage"), ["stage"], unique=False)
        batch_op.create_index("ix_case_stage_centre", ["stage", "centre_area_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_street_id"), ["street_id"], unique=False)

    op.create_table(
        "case_attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "report",
                "before",
                "after",
                "verification",
                "other",
                name="attachmentkind",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=True),
        sa.Column("uploaded_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case.id"], name=op.f("fk_case_attachment_case_id_case"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["sha256"], ["media_file.sha256"], name=op.f("fk_case_attachment_sha256_media_file"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_attachment")),
    )
    with op.batch_alter_table("case_attachment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_attachment_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_attachment_sha256"), ["sha256"], unique=False)

    op.create_table(
        "case_contact",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("email", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case.id"], name=op.f("fk_case_contact_case_id_case"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_case_contact")),
    )
    with op.batch_alter_table("case_contact", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_contact_phone"), ["phone"], unique=False)

    op.create_table(
        "case_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column(
            "action",
            sa.Enum(
                "report",
                "self_handle",
                "confirm",
                "register",
                "reject",
                "merge",
                "dispatch",
                "sign",
                "return_",
                "start",
                "finish",
                "verify",
                "rework",
                "request_extension",
                "decide_extension",
                "request_suspension",
                "decide_suspension",
                "resume",
                "supervise",
                "escalate",
                "rate",
                "reopen",
                "rule_reasonableness",
                "note",
                "warn",
                "overdue",
                name="action",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column(
            "from_stage",
            sa.Enum(
                "reported",
                "verifying",
                "registered",
                "rejected",
                "merged",
                "dispatched",
                "signed",
                "returned",
                "handling",
                "handled",
                "closed",
                name="casestage",
                native_enum=False,
                length=24,
            ),
            nullable=True,
        ),
        sa.Column(
            "to_stage",
            sa.Enum(
                "reported",
                "verifying",
                "registered",
                "rejected",
                "merged",
                "dispatched",
                "signed",
                "returned",
                "handling",
                "handled",
                "closed",
                name="casestage",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor_name", sa.String(length=100), nullable=False),
        sa.Column(
            "actor_role",
            sa.Enum(
                "district_leader",
                "district_dispatcher",
                "street_dispatcher",
                "community_secretary",
                "grid_worker",
                "unit_handler",
                "auditor",
                "admin",
                "citizen",
                "system",
                name="role",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("actor_unit_id", sa.Integer(), nullable=True),
        sa.Column("reason_code", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column(
            "data", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "clock_stage",
            sa.Enum("register", "dispatch", "handle", "verify", name="stage", native_enum=False, length=24),
            nullable=True,
        ),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_unit_id"], ["unit.id"], name=op.f("fk_case_event_actor_unit_id_unit"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"], name=op.f("fk_case_event_case_id_case"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_event")),
        sa.UniqueConstraint("case_id", "seq", name=op.f("uq_case_event_case_id_seq")),
    )
    with op.batch_alter_table("case_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_event_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_event_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_event_occurred_at"), ["occurred_at"], unique=False)
    append_only.create("case_event", "case events are append-only")


def downgrade() -> None:
    append_only.drop("case_event")

    with op.batch_alter_table("case_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_event_occurred_at"))
        batch_op.drop_index(batch_op.f("ix_case_event_case_id"))
        batch_op.drop_index(batch_op.f("ix_case_event_action"))

    op.drop_table("case_event")
    with op.batch_alter_table("case_contact", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_contact_phone"))

    op.drop_table("case_contact")
    with op.batch_alter_table("case_attachment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_attachment_sha256"))
        batch_op.drop_index(batch_op.f("ix_case_attachment_case_id"))

    op.drop_table("case_attachment")
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_street_id"))
        batch_op.drop_index("ix_case_stage_centre")
        batch_op.drop_index(batch_op.f("ix_case_stage"))
        batch_op.drop_index(batch_op.f("ix_case_reporter_user_id"))
        batch_op.drop_index(batch_op.f("ix_case_reported_at"))
        batch_op.drop_index(batch_op.f("ix_case_parent_id"))
        batch_op.drop_index("ix_case_open_matter_geo")
        batch_op.drop_index("ix_case_next_check")
        batch_op.drop_index(batch_op.f("ix_case_matter_type_id"))
        batch_op.drop_index(batch_op.f("ix_case_is_overdue"))
        batch_op.drop_index(batch_op.f("ix_case_handling_unit_id"))
        batch_op.drop_index(batch_op.f("ix_case_grid_id"))
        batch_op.drop_index(batch_op.f("ix_case_community_id"))
        batch_op.drop_index(batch_op.f("ix_case_closed_at"))
        batch_op.drop_index(batch_op.f("ix_case_area_path"))

    op.drop_table("case")
    op.drop_table("media_file")
    op.drop_table("case_sequence")
