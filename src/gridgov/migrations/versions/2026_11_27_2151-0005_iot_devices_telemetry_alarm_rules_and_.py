"""Three-network fusion, device side: IoT device types, devices, telemetry readings, alarm rules with their
state and alarms; video-AI sources, cameras, algorithm mappings, alarms and their events.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 21:51:45.584292
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from gridgov.core.models import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_type",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=True),
        sa.Column(
            "category",
            sa.Enum(
                "sensor",
                "meter",
                "actuator",
                "multimedia",
                "network",
                name="devicecategory",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column(
            "properties", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "created_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_type")),
        sa.UniqueConstraint("code", name=op.f("uq_device_type_code")),
    )
    op.create_table(
        "reading",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("property", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("observed_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reading")),
        sa.UniqueConstraint(
            "device_id", "property", "observed_at", name=op.f("uq_reading_device_id_property_observed_at")
        ),
    )
    with op.batch_alter_table("reading", schema=None) as batch_op:
        batch_op.create_index("ix_reading_observed_at", ["observed_at"], unique=False)

    op.create_table(
        "video_source",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("fold_window_s", sa.Float(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_video_source")),
        sa.UniqueConstraint("code", name=op.f("uq_video_source_code")),
    )
    op.create_table(
        "video_algorithm",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("algorithm_code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("matter_type_id", sa.Integer(), nullable=False),
        sa.Column("min_confidence", sa.Float(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["matter_type_id"],
            ["matter_type.id"],
            name=op.f("fk_video_algorithm_matter_type_id_matter_type"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["video_source.id"],
            name=op.f("fk_video_algorithm_source_id_video_source"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_video_algorithm")),
        sa.UniqueConstraint("source_id", "algorithm_code", name=op.f("uq_video_algorithm_source_id_algorithm_code")),
    )
    with op.batch_alter_table("video_algorithm", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_video_algorithm_source_id"), ["source_id"], unique=False)

    op.create_table(
        "camera",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("lng", sa.Double(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("area_path", sa.String(length=400), nullable=False),
        sa.Column("direction", sa.Float(), nullable=True),
        sa.Column("stream_url", sa.String(length=500), nullable=True),
        sa.Column("owner_unit_id", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.ForeignKeyConstraint(["grid_id"], ["area.id"], name=op.f("fk_camera_grid_id_area"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(
            ["owner_unit_id"], ["unit.id"], name=op.f("fk_camera_owner_unit_id_unit"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_camera")),
        sa.UniqueConstraint("code", name=op.f("uq_camera_code")),
    )
    with op.batch_alter_table("camera", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_camera_area_path"), ["area_path"], unique=False)
        batch_op.create_index(batch_op.f("ix_camera_grid_id"), ["grid_id"], unique=False)

    op.create_table(
        "device",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("serial", sa.String(length=100), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("type_id", sa.Integer(), nullable=False),
        sa.Column("owner_unit_id", sa.Integer(), nullable=True),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("area_path", sa.String(length=400), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "normal", "alarm", "offline", "maintenance", "retired", name="devicestate", native_enum=False, length=24
            ),
            nullable=False,
        ),
        sa.Column("battery", sa.Float(), nullable=True),
        sa.Column(
            "last_values", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("last_reading_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_seen_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("installed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "attributes", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "created_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.ForeignKeyConstraint(["grid_id"], ["area.id"], name=op.f("fk_device_grid_id_area"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(
            ["owner_unit_id"], ["unit.id"], name=op.f("fk_device_owner_unit_id_unit"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["type_id"], ["device_type.id"], name=op.f("fk_device_type_id_device_type"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device")),
        sa.UniqueConstraint("code", name=op.f("uq_device_code")),
    )
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_area_path"), ["area_path"], unique=False)
        batch_op.create_index(batch_op.f("ix_device_grid_id"), ["grid_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_device_last_seen_at"), ["last_seen_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_device_owner_unit_id"), ["owner_unit_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_device_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_device_type_id"), ["type_id"], unique=False)

    op.create_table(
        "alarm_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("device_type_id", sa.Integer(), nullable=True),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum("threshold", "duration", "rate", "offline", name="rulekind", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("property", sa.String(length=64), nullable=True),
        sa.Column(
            "operator", sa.Enum("gt", "ge", "lt", "le", name="operator", native_enum=False, length=24), nullable=True
        ),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("clear_threshold", sa.Float(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("rate_per_min", sa.Float(), nullable=True),
        sa.Column("offline_after_s", sa.Float(), nullable=True),
        sa.Column(
            "severity",
            sa.Enum(
                "informational", "low", "medium", "high", "critical", name="severity", native_enum=False, length=24
            ),
            nullable=False,
        ),
        sa.Column(
            "category",
            sa.Enum(
                "traffic",
                "natural_disaster",
                "weather",
                "environment",
                "health",
                "security",
                "agriculture",
                name="alertcategory",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("sub_category", sa.String(length=64), nullable=True),
        sa.Column("matter_type_id", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", UTCDateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["device_id"], ["device.id"], name=op.f("fk_alarm_rule_device_id_device"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["device_type_id"],
            ["device_type.id"],
            name=op.f("fk_alarm_rule_device_type_id_device_type"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["matter_type_id"],
            ["matter_type.id"],
            name=op.f("fk_alarm_rule_matter_type_id_matter_type"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_rule")),
        sa.UniqueConstraint(
            "code", "device_type_id", "device_id", name=op.f("uq_alarm_rule_code_device_type_id_device_id")
        ),
    )
    with op.batch_alter_table("alarm_rule", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alarm_rule_device_id"), ["device_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alarm_rule_device_type_id"), ["device_type_id"], unique=False)

    op.create_table(
        "video_alarm",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("algorithm_code", sa.String(length=64), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("bbox", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True),
        sa.Column("snapshot_sha256", sa.String(length=64), nullable=True),
        sa.Column("snapshot_url", sa.String(length=500), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column(
            "feedback",
            sa.Enum("true_positive", "false_positive", name="feedback", native_enum=False, length=24),
            nullable=True,
        ),
        sa.Column("feedback_by", sa.Integer(), nullable=True),
        sa.Column("feedback_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "data", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["camera.id"], name=op.f("fk_video_alarm_camera_id_camera"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case.id"], name=op.f("fk_video_alarm_case_id_case"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_sha256"],
            ["media_file.sha256"],
            name=op.f("fk_video_alarm_snapshot_sha256_media_file"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["video_source.id"], name=op.f("fk_video_alarm_source_id_video_source"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_video_alarm")),
    )
    with op.batch_alter_table("video_alarm", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_video_alarm_algorithm_code"), ["algorithm_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_video_alarm_camera_id"), ["camera_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_video_alarm_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_video_alarm_feedback"), ["feedback"], unique=False)
        batch_op.create_index(batch_op.f("ix_video_alarm_first_at"), ["first_at"], unique=False)
        batch_op.create_index("ix_video_alarm_fold", ["camera_id", "algorithm_code", "last_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_video_alarm_source_id"), ["source_id"], unique=False)

    op.create_table(
        "alarm",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("alarm_type", sa.String(length=64), nullable=False),
        sa.Column(
            "state", sa.Enum("raised", "cleared", name="alarmstate", native_enum=False, length=24), nullable=False
        ),
        sa.Column(
            "severity",
            sa.Enum(
                "informational", "low", "medium", "high", "critical", name="severity", native_enum=False, length=24
            ),
            nullable=False,
        ),
        sa.Column(
            "category",
            sa.Enum(
                "traffic",
                "natural_disaster",
                "weather",
                "environment",
                "health",
                "security",
                "agriculture",
                name="alertcategory",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("sub_category", sa.String(length=64), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_value", sa.Float(), nullable=True),
        sa.Column("last_value", sa.Float(), nullable=True),
        sa.Column("raised_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"], name=op.f("fk_alarm_case_id_case"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(
            ["device_id"], ["device.id"], name=op.f("fk_alarm_device_id_device"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["alarm_rule.id"], name=op.f("fk_alarm_rule_id_alarm_rule"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm")),
    )
    with op.batch_alter_table("alarm", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alarm_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alarm_device_id"), ["device_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alarm_raised_at"), ["raised_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_alarm_state"), ["state"], unique=False)
        batch_op.create_index(
            "uq_alarm_open",
            ["device_id", "alarm_type"],
            unique=True,
            sqlite_where=sa.text("state = 'raised'"),
            postgresql_where=sa.text("state = 'raised'"),
        )

    op.create_table(
        "alarm_rule_state",
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("condition_since", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_value", sa.Float(), nullable=True),
        sa.Column("last_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"], ["device.id"], name=op.f("fk_alarm_rule_state_device_id_device"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["alarm_rule.id"], name=op.f("fk_alarm_rule_state_rule_id_alarm_rule"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("device_id", "rule_id", name=op.f("pk_alarm_rule_state")),
    )
    op.create_table(
        "video_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("alarm_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alarm_id"], ["video_alarm.id"], name=op.f("fk_video_event_alarm_id_video_alarm"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["video_source.id"], name=op.f("fk_video_event_source_id_video_source"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_video_event")),
    )
    with op.batch_alter_table("video_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_video_event_alarm_id"), ["alarm_id"], unique=False)
        batch_op.create_index(
            "uq_video_event_external",
            ["source_id", "external_id"],
            unique=True,
            postgresql_where=sa.text("external_id IS NOT NULL"),
            sqlite_where=sa.text("external_id IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("video_event", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_video_event_external",
            postgresql_where=sa.text("external_id IS NOT NULL"),
            sqlite_where=sa.text("external_id IS NOT NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_video_event_alarm_id"))

    op.drop_table("video_event")
    op.drop_table("alarm_rule_state")
    with op.batch_alter_table("alarm", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_alarm_open", sqlite_where=sa.text("state = 'raised'"), postgresql_where=sa.text("state = 'raised'")
        )
        batch_op.drop_index(batch_op.f("ix_alarm_state"))
        batch_op.drop_index(batch_op.f("ix_alarm_raised_at"))
        batch_op.drop_index(batch_op.f("ix_alarm_device_id"))
        batch_op.drop_index(batch_op.f("ix_alarm_case_id"))

    op.drop_table("alarm")
    with op.batch_alter_table("video_alarm", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_video_alarm_source_id"))
        batch_op.drop_index("ix_video_alarm_fold")
        batch_op.drop_index(batch_op.f("ix_video_alarm_first_at"))
        batch_op.drop_index(batch_op.f("ix_video_alarm_feedback"))
        batch_op.drop_index(batch_op.f("ix_video_alarm_case_id"))
        batch_op.drop_index(batch_op.f("ix_video_alarm_camera_id"))
        batch_op.drop_index(batch_op.f("ix_video_alarm_algorithm_code"))

    op.drop_table("video_alarm")
    with op.batch_alter_table("alarm_rule", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alarm_rule_device_type_id"))
        batch_op.drop_index(batch_op.f("ix_alarm_rule_device_id"))

    op.drop_table("alarm_rule")
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_type_id"))
        batch_op.drop_index(batch_op.f("ix_device_state"))
        batch_op.drop_index(batch_op.f("ix_device_owner_unit_id"))
        batch_op.drop_index(batch_op.f("ix_device_last_seen_at"))
        batch_op.drop_index(batch_op.f("ix_device_grid_id"))
        batch_op.drop_index(batch_op.f("ix_device_area_path"))

    op.drop_table("device")
    with op.batch_alter_table("camera", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_camera_grid_id"))
        batch_op.drop_index(batch_op.f("ix_camera_area_path"))

    op.drop_table("camera")
    with op.batch_alter_table("video_algorithm", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_video_algorithm_source_id"))

    op.drop_table("video_algorithm")
    op.drop_table("video_source")
    with op.batch_alter_table("reading", schema=None) as batch_op:
        batch_op.drop_index("ix_reading_observed_at")

    op.drop_table("reading")
    op.drop_table("device_type")
