"""Residents, households and protected personal data (人口信息): households in buildings, residents with encrypted
identity numbers and phones, their append-only event history, the 9+X tags (shipped ones seeded here) and export
requests.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from gridgov.core.models import UTCDateTime
from gridgov.migrations import append_only

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
RESIDENCE = ("registered", "resident", "floating")

# The shipped 9+X groups as of this revision (code, name, sensitivity, description); gridgov.domains.people.tags
# holds the same list (a test compares them) and `gridgov people tags sync` adds those of later versions.
BUILTIN_TAGS = (
    ("volunteer", "志愿者", "public", "registered community volunteer (注册志愿者)"),
    ("building_leader", "楼栋长", "public", "building or stairway leader (楼栋长/单元长)"),
    ("empty_nest_elderly", "空巢老人", "internal", "elderly living without their children (空巢)"),
    ("elderly_alone", "独居老人", "internal", "elderly living alone (独居)"),
    ("oldest_old", "高龄老人", "internal", "aged 80 or over (高龄)"),
    ("left_behind_child", "留守儿童", "internal", "child whose parents both work away (留守)"),
    ("veteran", "退役军人", "internal", "retired or demobilised serviceman or -woman (退役军人)"),
    ("entitled_group", "优抚对象", "internal", "entitled to special care: martyrs' families, disabled veterans"),
    ("subsistence_allowance", "低保户", "sensitive", "receives the minimum living allowance (最低生活保障)"),
    ("extreme_poverty", "特困人员", "sensitive", "supported under the extreme-poverty scheme (特困供养)"),
    ("disabled", "残疾人", "sensitive", "holds a disability certificate (残疾人证)"),
    ("child_in_difficulty", "困境儿童", "sensitive", "child in difficulty (困境儿童)"),
    ("key_youth", "重点青少年", "sensitive", "youth needing attention: out of school, unemployed, without guardian"),
    ("community_correction", "社区矫正人员", "core", "serving a community correction (社区矫正)"),
    ("released_prisoner", "刑满释放人员", "core", "released from prison within the follow-up period (安置帮教)"),
    ("severe_mental_disorder", "严重精神障碍患者", "core", "registered patient with a severe mental disorder"),
    ("drug_user", "吸毒人员", "core", "under community drug rehabilitation or follow-up (社区戒毒/康复)"),
    ("aids_risk", "艾滋病危险人员", "core", "person at risk for HIV/AIDS under follow-up"),
    ("key_petitioner", "重点信访人员", "core", "petitioner under follow-up (重点信访)"),
    ("cult_member", "邪教人员", "core", "person under follow-up for cult membership"),
)


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column(
            "created_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
    ]


def upgrade() -> None:
    tag = op.create_table(
        "people_tag",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column(
            "sensitivity",
            sa.Enum("public", "internal", "sensitive", "core", name="sensitivity", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("is_builtin", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people_tag")),
        sa.UniqueConstraint("code", name=op.f("uq_people_tag_code")),
    )
    op.create_table(
        "people_household",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("building_id", sa.Integer(), nullable=False),
        sa.Column("area_path", sa.String(length=400), nullable=False),
        sa.Column("room", sa.String(length=50), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("family", "collective", name="householdkind", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("residence", sa.Enum(*RESIDENCE, name="residencetype", native_enum=False, length=24), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["building_id"], ["area.id"], name=op.f("fk_people_household_building_id_area"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people_household")),
        sa.UniqueConstraint("building_id", "room", name=op.f("uq_people_household_building_id_room")),
    )
    op.create_index(op.f("ix_people_household_area_path"), "people_household", ["area_path"], unique=False)
    op.create_index(op.f("ix_people_household_building_id"), "people_household", ["building_id"], unique=False)
    op.create_table(
        "people_resident",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column(
            "relation",
            sa.Enum(
                "head",
                "spouse",
                "child",
                "parent",
                "grandchild",
                "grandparent",
                "sibling",
                "child_in_law",
                "other_relative",
                "non_relative",
                name="relation",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("gender", sa.Enum("male", "female", name="gender", native_enum=False, length=24), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("ethnicity", sa.String(length=20), nullable=True),
        sa.Column("id_number_enc", sa.Text(), nullable=True),
        sa.Column("id_number_index", sa.String(length=64), nullable=True),
        sa.Column("phone_enc", sa.Text(), nullable=True),
        sa.Column("phone_index", sa.String(length=64), nullable=True),
        sa.Column(
            "residence_type", sa.Enum(*RESIDENCE, name="residencetype", native_enum=False, length=24), nullable=False
        ),
        sa.Column(
            "status",
            sa.Enum("active", "moved_out", "deceased", name="residentstatus", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("status_on", sa.Date(), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["people_household.id"],
            name=op.f("fk_people_resident_household_id_people_household"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people_resident")),
        sa.UniqueConstraint("id_number_index", name=op.f("uq_people_resident_id_number_index")),
    )
    op.create_index(op.f("ix_people_resident_household_id"), "people_resident", ["household_id"], unique=False)
    op.create_index(op.f("ix_people_resident_name"), "people_resident", ["name"], unique=False)
    op.create_index(op.f("ix_people_resident_phone_index"), "people_resident", ["phone_index"], unique=False)
    op.create_index(op.f("ix_people_resident_status"), "people_resident", ["status"], unique=False)
    op.create_table(
        "people_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=True),
        sa.Column("household_id", sa.Integer(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum(
                "registered",
                "move_in",
                "move_out",
                "birth",
                "death",
                "contact_change",
                "household_change",
                "tag_added",
                "tag_removed",
                "correction",
                "household_created",
                "household_update",
                name="eventkind",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("occurred_on", sa.Date(), nullable=True),
        sa.Column("recorded_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor_name", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("changes", JSON, nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_user_id"], ["user.id"], name=op.f("fk_people_event_actor_user_id_user"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["people_household.id"],
            name=op.f("fk_people_event_household_id_people_household"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["people_resident.id"],
            name=op.f("fk_people_event_resident_id_people_resident"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people_event")),
    )
    op.create_index(op.f("ix_people_event_household_id"), "people_event", ["household_id"], unique=False)
    op.create_index(op.f("ix_people_event_kind"), "people_event", ["kind"], unique=False)
    op.create_index("ix_people_event_resident_recorded", "people_event", ["resident_id", "recorded_at"], unique=False)
    append_only.create("people_event", "resident events are append-only")
    op.create_table(
        "people_export",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("requested_by_user_id", sa.Integer(), nullable=False),
        sa.Column("requester_name", sa.String(length=100), nullable=False),
        sa.Column(
            "requester_role",
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
        sa.Column("scope_path", sa.String(length=400), nullable=True),
        sa.Column("filters", JSON, nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("include_personal", sa.Boolean(), nullable=False),
        sa.Column("resident_ids", JSON, nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "approved",
                "refused",
                "cancelled",
                "expired",
                name="exportstatus",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("requested_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by_user_id", sa.Integer(), nullable=True),
        sa.Column("decided_by_name", sa.String(length=100), nullable=True),
        sa.Column("decided_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("download_count", sa.Integer(), nullable=False),
        sa.Column("last_downloaded_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["decided_by_user_id"],
            ["user.id"],
            name=op.f("fk_people_export_decided_by_user_id_user"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_user_id"],
            ["user.id"],
            name=op.f("fk_people_export_requested_by_user_id_user"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people_export")),
    )
    op.create_index(
        op.f("ix_people_export_requested_by_user_id"), "people_export", ["requested_by_user_id"], unique=False
    )
    op.create_index(op.f("ix_people_export_status"), "people_export", ["status"], unique=False)
    op.create_table(
        "people_resident_tag",
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.Column("added_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("added_by_user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["added_by_user_id"],
            ["user.id"],
            name=op.f("fk_people_resident_tag_added_by_user_id_user"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["people_resident.id"],
            name=op.f("fk_people_resident_tag_resident_id_people_resident"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["people_tag.id"], name=op.f("fk_people_resident_tag_tag_id_people_tag"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("resident_id", "tag_id", name=op.f("pk_people_resident_tag")),
    )
    op.create_index(op.f("ix_people_resident_tag_tag_id"), "people_resident_tag", ["tag_id"], unique=False)
    op.bulk_insert(
        tag,
        [
            {
                "code": code,
                "name": name,
                "sensitivity": sensitivity,
                "description": description,
                "is_builtin": True,
                "is_active": True,
            }
            for code, name, sensitivity, description in BUILTIN_TAGS
        ],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_people_resident_tag_tag_id"), table_name="people_resident_tag")
    op.drop_table("people_resident_tag")
    op.drop_index(op.f("ix_people_export_status"), table_name="people_export")
    op.drop_index(op.f("ix_people_export_requested_by_user_id"), table_name="people_export")
    op.drop_table("people_export")
    append_only.drop("people_event")
    op.drop_index("ix_people_event_resident_recorded", table_name="people_event")
    op.drop_index(op.f("ix_people_event_kind"), table_name="people_event")
    op.drop_index(op.f("ix_people_event_household_id"), table_name="people_event")
    op.drop_table("people_event")
    op.drop_index(op.f("ix_people_resident_status"), table_name="people_resident")
    op.drop_index(op.f("ix_people_resident_phone_index"), table_name="people_resident")
    op.drop_index(op.f("ix_people_resident_name"), table_name="people_resident")
    op.drop_index(op.f("ix_people_resident_household_id"), table_name="people_resident")
    op.drop_table("people_resident")
    op.drop_index(op.f("ix_people_household_building_id"), table_name="people_household")
    op.drop_index(op.f("ix_people_household_area_path"), table_name="people_household")
    op.drop_table("people_household")
    op.drop_table("people_tag")
