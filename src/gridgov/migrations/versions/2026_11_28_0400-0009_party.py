"""Party organisations, members, dual registration and volunteer service (党建): the five-level organisation tree
linked to areas, partner organisations, members, 党员中心户 households, 双报到 registrations with their pledges,
volunteer activities and service records.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gridgov.core.models import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "party_org",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "level",
            sa.Enum(
                "street", "community", "grid", "building", "household", name="orglevel", native_enum=False, length=24
            ),
            nullable=False,
        ),
        sa.Column(
            "kind",
            sa.Enum(
                "working_committee",
                "committee",
                "general_branch",
                "branch",
                "group",
                "household",
                name="orgkind",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("area_path", sa.String(length=400), nullable=True),
        sa.Column("secretary", sa.String(length=100), nullable=True),
        sa.Column("household_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["people_household.id"],
            name=op.f("fk_party_org_household_id_people_household"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["party_org.id"], name=op.f("fk_party_org_parent_id_party_org"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_party_org")),
        sa.UniqueConstraint("code", name=op.f("uq_party_org_code")),
    )
    op.create_index(op.f("ix_party_org_area_path"), "party_org", ["area_path"], unique=False)
    op.create_index(op.f("ix_party_org_household_id"), "party_org", ["household_id"], unique=False)
    op.create_index(op.f("ix_party_org_level"), "party_org", ["level"], unique=False)
    op.create_index(op.f("ix_party_org_parent_id"), "party_org", ["parent_id"], unique=False)
    op.create_index(op.f("ix_party_org_path"), "party_org", ["path"], unique=False)
    op.create_table(
        "party_partner_org",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("secretary", sa.String(length=100), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["unit.id"], name=op.f("fk_party_partner_org_unit_id_unit"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_party_partner_org")),
        sa.UniqueConstraint("code", name=op.f("uq_party_partner_org_code")),
    )
    op.create_index(op.f("ix_party_partner_org_unit_id"), "party_partner_org", ["unit_id"], unique=False)
    op.create_table(
        "party_activity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("area_path", sa.String(length=400), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column(
            "category",
            sa.Enum(
                "policy",
                "environment",
                "safety",
                "assistance",
                "elderly_children",
                "culture",
                "professional",
                "civility",
                "other",
                name="servicecategory",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("organiser", sa.String(length=200), nullable=False),
        sa.Column("organiser_org_id", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["area.id"], name=op.f("fk_party_activity_community_id_area"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["user.id"],
            name=op.f("fk_party_activity_created_by_user_id_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organiser_org_id"],
            ["party_org.id"],
            name=op.f("fk_party_activity_organiser_org_id_party_org"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_party_activity")),
    )
    op.create_index(op.f("ix_party_activity_area_path"), "party_activity", ["area_path"], unique=False)
    op.create_index(op.f("ix_party_activity_community_id"), "party_activity", ["community_id"], unique=False)
    op.create_index(op.f("ix_party_activity_held_on"), "party_activity", ["held_on"], unique=False)
    op.create_table(
        "party_household_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("linked_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("linked_by_user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["people_household.id"],
            name=op.f("fk_party_household_link_household_id_people_household"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["linked_by_user_id"],
            ["user.id"],
            name=op.f("fk_party_household_link_linked_by_user_id_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["party_org.id"], name=op.f("fk_party_household_link_org_id_party_org"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_party_household_link")),
        sa.UniqueConstraint("household_id", name=op.f("uq_party_household_link_household_id")),
    )
    op.create_index(op.f("ix_party_household_link_org_id"), "party_household_link", ["org_id"], unique=False)
    op.create_table(
        "party_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("partner_org_id", sa.Integer(), nullable=True),
        sa.Column("household_org_id", sa.Integer(), nullable=True),
        sa.Column("joined_on", sa.Date(), nullable=False),
        sa.Column(
            "status", sa.Enum("full", "probationary", name="memberstatus", native_enum=False, length=24), nullable=False
        ),
        sa.Column("in_service", sa.Boolean(), nullable=False),
        sa.Column("employer", sa.String(length=200), nullable=True),
        sa.Column("resident_id", sa.Integer(), nullable=True),
        sa.Column("left_on", sa.Date(), nullable=True),
        sa.Column(
            "created_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.CheckConstraint(
            "(org_id IS NULL) <> (partner_org_id IS NULL)", name=op.f("ck_party_member_one_organisation")
        ),
        sa.ForeignKeyConstraint(
            ["household_org_id"],
            ["party_org.id"],
            name=op.f("fk_party_member_household_org_id_party_org"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["party_org.id"], name=op.f("fk_party_member_org_id_party_org"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["partner_org_id"],
            ["party_partner_org.id"],
            name=op.f("fk_party_member_partner_org_id_party_partner_org"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["people_resident.id"],
            name=op.f("fk_party_member_resident_id_people_resident"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_party_member")),
        sa.UniqueConstraint("resident_id", name=op.f("uq_party_member_resident_id")),
    )
    op.create_index(op.f("ix_party_member_household_org_id"), "party_member", ["household_org_id"], unique=False)
    op.create_index(op.f("ix_party_member_org_id"), "party_member", ["org_id"], unique=False)
    op.create_index(op.f("ix_party_member_partner_org_id"), "party_member", ["partner_org_id"], unique=False)
    op.create_table(
        "party_org_area",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"], ["area.id"], name=op.f("fk_party_org_area_area_id_area"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["party_org.id"], name=op.f("fk_party_org_area_org_id_party_org"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("org_id", "area_id", name=op.f("pk_party_org_area")),
    )
    op.create_index(op.f("ix_party_org_area_area_id"), "party_org_area", ["area_id"], unique=False)
    op.create_table(
        "party_registration",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("organisation", "member", name="registrantkind", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("partner_org_id", sa.Integer(), nullable=True),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("area_path", sa.String(length=400), nullable=False),
        sa.Column("registered_on", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("active", "ended", name="registrationstatus", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.CheckConstraint(
            "(member_id IS NULL) <> (partner_org_id IS NULL)", name=op.f("ck_party_registration_one_registrant")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["area.id"], name=op.f("fk_party_registration_community_id_area"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["user.id"],
            name=op.f("fk_party_registration_created_by_user_id_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["party_member.id"],
            name=op.f("fk_party_registration_member_id_party_member"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["partner_org_id"],
            ["party_partner_org.id"],
            name=op.f("fk_party_registration_partner_org_id_party_partner_org"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_party_registration")),
    )
    op.create_index(op.f("ix_party_registration_area_path"), "party_registration", ["area_path"], unique=False)
    op.create_index(op.f("ix_party_registration_community_id"), "party_registration", ["community_id"], unique=False)
    op.create_index(op.f("ix_party_registration_member_id"), "party_registration", ["member_id"], unique=False)
    op.create_index(
        op.f("ix_party_registration_partner_org_id"), "party_registration", ["partner_org_id"], unique=False
    )
    op.create_table(
        "party_service_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("partner_org_id", sa.Integer(), nullable=True),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("recorded_by_user_id", sa.Integer(), nullable=True),
        sa.Column("verified_by_user_id", sa.Integer(), nullable=True),
        sa.Column("verified_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.CheckConstraint(
            "(member_id IS NULL) <> (partner_org_id IS NULL)", name=op.f("ck_party_service_record_one_volunteer")
        ),
        sa.CheckConstraint("minutes > 0", name=op.f("ck_party_service_record_positive_minutes")),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["party_activity.id"],
            name=op.f("fk_party_service_record_activity_id_party_activity"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["party_member.id"],
            name=op.f("fk_party_service_record_member_id_party_member"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["partner_org_id"],
            ["party_partner_org.id"],
            name=op.f("fk_party_service_record_partner_org_id_party_partner_org"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_user_id"],
            ["user.id"],
            name=op.f("fk_party_service_record_recorded_by_user_id_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["verified_by_user_id"],
            ["user.id"],
            name=op.f("fk_party_service_record_verified_by_user_id_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_party_service_record")),
        sa.UniqueConstraint("activity_id", "member_id", name=op.f("uq_party_service_record_activity_id_member_id")),
        sa.UniqueConstraint(
            "activity_id", "partner_org_id", name=op.f("uq_party_service_record_activity_id_partner_org_id")
        ),
    )
    op.create_index(op.f("ix_party_service_record_activity_id"), "party_service_record", ["activity_id"], unique=False)
    op.create_index(op.f("ix_party_service_record_member_id"), "party_service_record", ["member_id"], unique=False)
    op.create_index(
        op.f("ix_party_service_record_partner_org_id"), "party_service_record", ["partner_org_id"], unique=False
    )
    op.create_table(
        "party_pledge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("registration_id", sa.Integer(), nullable=False),
        sa.Column(
            "category",
            sa.Enum(
                "policy",
                "environment",
                "safety",
                "assistance",
                "elderly_children",
                "culture",
                "professional",
                "civility",
                "other",
                name="servicecategory",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("item", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["party_registration.id"],
            name=op.f("fk_party_pledge_registration_id_party_registration"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_party_pledge")),
    )
    op.create_index(op.f("ix_party_pledge_registration_id"), "party_pledge", ["registration_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_party_pledge_registration_id"), table_name="party_pledge")
    op.drop_table("party_pledge")
    op.drop_index(op.f("ix_party_service_record_partner_org_id"), table_name="party_service_record")
    op.drop_index(op.f("ix_party_service_record_member_id"), table_name="party_service_record")
    op.drop_index(op.f("ix_party_service_record_activity_id"), table_name="party_service_record")
    op.drop_table("party_service_record")
    op.drop_index(op.f("ix_party_registration_partner_org_id"), table_name="party_registration")
    op.drop_index(op.f("ix_party_registration_member_id"), table_name="party_registration")
    op.drop_index(op.f("ix_party_registration_community_id"), table_name="party_registration")
    op.drop_index(op.f("ix_party_registration_area_path"), table_name="party_registration")
    op.drop_table("party_registration")
    op.drop_index(op.f("ix_party_org_area_area_id"), table_name="party_org_area")
    op.drop_table("party_org_area")
    op.drop_index(op.f("ix_party_member_partner_org_id"), table_name="party_member")
    op.drop_index(op.f("ix_party_member_org_id"), table_name="party_member")
    op.drop_index(op.f("ix_party_member_household_org_id"), table_name="party_member")
    op.drop_table("party_member")
    op.drop_index(op.f("ix_party_household_link_org_id"), table_name="party_household_link")
    op.drop_table("party_household_link")
    op.drop_index(op.f("ix_party_activity_held_on"), table_name="party_activity")
    op.drop_index(op.f("ix_party_activity_community_id"), table_name="party_activity")
    op.drop_index(op.f("ix_party_activity_area_path"), table_name="party_activity")
    op.drop_table("party_activity")
    op.drop_index(op.f("ix_party_partner_org_unit_id"), table_name="party_partner_org")
    op.drop_table("party_partner_org")
    op.drop_index(op.f("ix_party_org_path"), table_name="party_org")
    op.drop_index(op.f("ix_party_org_parent_id"), table_name="party_org")
    op.drop_index(op.f("ix_party_org_level"), table_name="party_org")
    op.drop_index(op.f("ix_party_org_household_id"), table_name="party_org")
    op.drop_index(op.f("ix_party_org_area_path"), table_name="party_org")
    op.drop_table("party_org")
