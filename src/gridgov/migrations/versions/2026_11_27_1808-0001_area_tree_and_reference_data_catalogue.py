"""Area tree and reference-data catalogue: areas, units, matter types, time limits, the three lists.

Revision ID: 0001
Revises:
Create Date: 2026-11-27 18:08:25.032302
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "area",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "level",
            sa.Enum(
                "district",
                "street",
                "community",
                "grid",
                "building",
                name="arealevel",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("path", sa.String(length=400), nullable=False),
        sa.Column("geometry", sa.LargeBinary(), nullable=True),
        sa.Column("min_lng", sa.Float(), nullable=True),
        sa.Column("min_lat", sa.Float(), nullable=True),
        sa.Column("max_lng", sa.Float(), nullable=True),
        sa.Column("max_lat", sa.Float(), nullable=True),
        sa.Column("population", sa.Integer(), nullable=True),
        sa.Column("households", sa.Integer(), nullable=True),
        sa.Column("area_m2", sa.Float(), nullable=True),
        sa.Column(
            "attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["parent_id"], ["area.id"], name=op.f("fk_area_parent_id_area"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_area")),
        sa.UniqueConstraint("code", name=op.f("uq_area_code")),
    )
    with op.batch_alter_table("area", schema=None) as batch_op:
        batch_op.create_index("ix_area_level_path", ["level", "path"], unique=False)
        batch_op.create_index(batch_op.f("ix_area_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_area_path"), ["path"], unique=False)

    op.create_table(
        "matter_type",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column(
            "kind",
            sa.Enum("component", "event", "social", "hotline", name="matterkind", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("major_code", sa.String(length=16), nullable=False),
        sa.Column("major_name", sa.String(length=100), nullable=False),
        sa.Column("minor_code", sa.String(length=16), nullable=False),
        sa.Column("register_condition", sa.Text(), nullable=True),
        sa.Column("close_condition", sa.Text(), nullable=True),
        sa.Column(
            "default_urgency",
            sa.Enum("normal", "urgent", "emergency", name="urgency", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("department_only", sa.Boolean(), nullable=False),
        sa.Column("evidence_required", sa.Boolean(), nullable=False),
        sa.Column(
            "keywords",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matter_type")),
        sa.UniqueConstraint("code", name=op.f("uq_matter_type_code")),
    )
    op.create_table(
        "grid_access_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("matter_type_id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=True),
        sa.Column("admitted", sa.Boolean(), nullable=False),
        sa.Column("basis", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["area_id"], ["area.id"], name=op.f("fk_grid_access_entry_area_id_area"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["matter_type_id"],
            ["matter_type.id"],
            name=op.f("fk_grid_access_entry_matter_type_id_matter_type"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_access_entry")),
        sa.UniqueConstraint("matter_type_id", "area_id", name=op.f("uq_grid_access_entry_matter_type_id_area_id")),
    )
    with op.batch_alter_table("grid_access_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grid_access_entry_matter_type_id"), ["matter_type_id"], unique=False)

    op.create_table(
        "time_limit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("matter_type_id", sa.Integer(), nullable=False),
        sa.Column(
            "urgency",
            sa.Enum("normal", "urgent", "emergency", name="urgency", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column(
            "stage",
            sa.Enum("register", "dispatch", "handle", "verify", name="stage", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.Column(
            "unit",
            sa.Enum(
                "working_hours",
                "working_days",
                "natural_hours",
                name="timeunit",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["matter_type_id"],
            ["matter_type.id"],
            name=op.f("fk_time_limit_matter_type_id_matter_type"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_time_limit")),
        sa.UniqueConstraint(
            "matter_type_id", "urgency", "stage", name=op.f("uq_time_limit_matter_type_id_urgency_stage")
        ),
    )
    with op.batch_alter_table("time_limit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_time_limit_matter_type_id"), ["matter_type_id"], unique=False)

    op.create_table(
        "unit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "district_centre",
                "district_bureau",
                "street_centre",
                "street_office",
                "street_team",
                "community",
                "grid_team",
                "enterprise",
                name="unitkind",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column(
            "level",
            sa.Enum(
                "district",
                "street",
                "community",
                "grid",
                "building",
                name="arealevel",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("function", sa.String(length=64), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("area_id", sa.Integer(), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["area_id"], ["area.id"], name=op.f("fk_unit_area_id_area"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["parent_id"], ["unit.id"], name=op.f("fk_unit_parent_id_unit"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unit")),
        sa.UniqueConstraint("code", name=op.f("uq_unit_code")),
    )
    with op.batch_alter_table("unit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_unit_area_id"), ["area_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_unit_function"), ["function"], unique=False)
        batch_op.create_index(batch_op.f("ix_unit_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "power_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"], name=op.f("fk_power_item_unit_id_unit"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_power_item")),
        sa.UniqueConstraint("code", name=op.f("uq_power_item_code")),
    )
    with op.batch_alter_table("power_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_power_item_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "responsibility_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("matter_type_id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=True),
        sa.Column(
            "level",
            sa.Enum(
                "district",
                "street",
                "community",
                "grid",
                "building",
                name="arealevel",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("unit_function", sa.String(length=64), nullable=True),
        sa.Column(
            "co_unit_codes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "co_unit_functions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("legal_basis", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["area_id"], ["area.id"], name=op.f("fk_responsibility_rule_area_id_area"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["matter_type_id"],
            ["matter_type.id"],
            name=op.f("fk_responsibility_rule_matter_type_id_matter_type"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["unit.id"], name=op.f("fk_responsibility_rule_unit_id_unit"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_responsibility_rule")),
        sa.UniqueConstraint("matter_type_id", "area_id", name=op.f("uq_responsibility_rule_matter_type_id_area_id")),
    )
    with op.batch_alter_table("responsibility_rule", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_responsibility_rule_area_id"), ["area_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_responsibility_rule_matter_type_id"), ["matter_type_id"], unique=False)

    op.create_table(
        "power_item_matter",
        sa.Column("power_item_id", sa.Integer(), nullable=False),
        sa.Column("matter_type_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["matter_type_id"],
            ["matter_type.id"],
            name=op.f("fk_power_item_matter_matter_type_id_matter_type"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["power_item_id"],
            ["power_item.id"],
            name=op.f("fk_power_item_matter_power_item_id_power_item"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("power_item_id", "matter_type_id", name=op.f("pk_power_item_matter")),
    )


def downgrade() -> None:

    op.drop_table("power_item_matter")
    with op.batch_alter_table("responsibility_rule", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_responsibility_rule_matter_type_id"))
        batch_op.drop_index(batch_op.f("ix_responsibility_rule_area_id"))

    op.drop_table("responsibility_rule")
    with op.batch_alter_table("power_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_power_item_unit_id"))

    op.drop_table("power_item")
    with op.batch_alter_table("unit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_unit_parent_id"))
        batch_op.drop_index(batch_op.f("ix_unit_function"))
        batch_op.drop_index(batch_op.f("ix_unit_area_id"))

    op.drop_table("unit")
    with op.batch_alter_table("time_limit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_time_limit_matter_type_id"))

    op.drop_table("time_limit")
    with op.batch_alter_table("grid_access_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grid_access_entry_matter_type_id"))

    op.drop_table("grid_access_entry")
    op.drop_table("matter_type")
    with op.batch_alter_table("area", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_area_path"))
        batch_op.drop_index(batch_op.f("ix_area_parent_id"))
        batch_op.drop_index("ix_area_level_path")

    op.drop_table("area")
