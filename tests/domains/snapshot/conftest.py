"""Fixtures of the citizen snapshot tests: the synthetic world, a settable clock, small limits, a PNG."""

from __future__ import annotations

import datetime as dt
import re
import struct
import zlib
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from gridgov.config import Settings
from gridgov.core import clock
from gridgov.domains.areas import locate
from tests.domains.cases.world import World, load_world

SH = dt.timezone(dt.timedelta(hours=8))
# A Wednesday morning in working time, far from holidays (as the case tests).
T0 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=SH)
PHONE = "13912345678"


class Clock:
    """The time the application sees; tests move it forward."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


@pytest.fixture
def world(db: Session) -> World:
    locate.invalidate()
    return load_world(db)


@pytest.fixture
def at() -> Iterator[Clock]:
    current = Clock(T0)
    clock.set_clock(lambda: current.now)
    try:
        yield current
    finally:
        clock.set_clock(None)


@pytest.fixture
def public_settings(settings: Settings) -> Settings:
    """The test settings with the world's 'other' type and limits small enough to reach."""
    return settings.model_copy(
        update={
            "snapshot_matter_types": "SJ0102,SJ0501,BJ0101",
            "snapshot_other_matter_type": "SJ0601",
            "snapshot_per_address_per_hour": 4,
            "snapshot_per_phone_per_day": 3,
            "snapshot_media_per_address_per_hour": 5,
            "tracking_lookups_per_address_per_hour": 30,
        }
    )


@pytest.fixture
def public(app: FastAPI, public_settings: Settings, world: World, at: Clock) -> Iterator[TestClient]:
    """A client of the public pages and API over the world, at T0."""
    app.state.settings = public_settings
    with TestClient(app) as client:
        yield client


def tiny_png(shade: int = 0x80) -> bytes:
    """Returns a valid 2×2 grey PNG (a different `shade` gives a different file)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + bytes([shade, shade, shade]) * 2 for _ in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def form_fields(client: TestClient, path: str = "/s") -> dict[str, str]:
    """Opens a public form (which sets the CSRF cookie) and returns its hidden fields."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    return dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', page.text))
