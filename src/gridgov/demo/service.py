"""Loading the Jinshui demo district: generate it, then import it through the real areas and catalogue services.

Going through `import_geojson` and `import_document` means the demo is validated exactly like a district's own
files (codes, tree places, containment, sibling overlaps, responsibility rules); the caller's transaction makes
the load all-or-nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.demo.catalog import build_catalog
from gridgov.demo.generate import SEED, generate_areas
from gridgov.domains.areas import service as area_service
from gridgov.domains.areas.enums import LEVEL_ORDER, AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.catalog import service as catalog_service
from gridgov.domains.catalog.schemas import CatalogReport
from gridgov.domains.duty import demo as duty_demo
from gridgov.domains.iot import demo as iot_demo
from gridgov.domains.party import demo as party_demo
from gridgov.domains.people import demo as people_demo
from gridgov.domains.staff import demo as staff_demo
from gridgov.domains.triage import demo as triage_demo
from gridgov.domains.video import demo as video_demo

SOURCE = "gridgov demo"


@dataclass
class DemoReport:
    """What a demo load wrote: areas per level, and the catalogue import's report."""

    areas: dict[AreaLevel, int] = field(default_factory=dict)
    population: int = 0
    households: int = 0
    catalog: CatalogReport | None = None
    units: int = 0
    matter_types: int = 0
    responsibilities: int = 0
    grid_access: int = 0
    powers: int = 0
    crosswalks: int = 0
    iot: dict[str, int] = field(default_factory=dict)  # device types, rules, devices
    video: dict[str, int] = field(default_factory=dict)  # sources, cameras, algorithm mappings
    triage: dict[str, int] = field(default_factory=dict)  # the default classifier: labels, training texts


def load_registers(*, db: Session) -> dict[str, int]:
    """Loads the synthetic registers (residents, party, staff, duty rosters) once the demo users exist (no commit).

    In this order: party organisations look after people's households, staff and rosters name the demo users.
    """
    counts: dict[str, int] = {}
    for demo in (people_demo, party_demo, staff_demo, duty_demo):
        counts.update(demo.load_demo(db=db))
    return counts


def has_areas(*, db: Session) -> bool:
    """Returns True when the area table already holds any area."""
    return db.scalars(select(Area.id).limit(1)).first() is not None


def load(*, db: Session, seed: int = SEED) -> DemoReport:
    """Generates the demo district and imports its area tree and catalogue (no commit)."""
    areas = generate_areas(seed)
    report = DemoReport()
    for level in LEVEL_ORDER:
        collection = areas.collections[level]
        area_service.import_geojson(db=db, collection=collection, level=level, source=f"{SOURCE} {level.value}")
        report.areas[level] = len(collection["features"])
    district = areas.features(AreaLevel.district)[0]["properties"]
    report.population, report.households = district["population"], district["households"]

    document = build_catalog(areas)
    report.catalog = catalog_service.import_document(db=db, document=document, source=f"{SOURCE} catalogue")
    report.units = len(document.units)
    report.matter_types = len(document.matter_types)
    report.responsibilities = len(document.responsibilities)
    report.grid_access = len(document.grid_access)
    report.powers = len(document.powers)
    report.crosswalks = len(document.crosswalks)
    report.iot = iot_demo.load_demo(db=db)
    report.video = video_demo.load_demo(db=db)
    report.triage = triage_demo.load_default_model(db=db)
    return report
