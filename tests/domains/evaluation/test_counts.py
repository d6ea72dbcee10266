"""Base counts of hand-built worlds where every count is known, computed by the "sql" engine inside the test's
transaction (DuckDB reads committed data only: see test_counts_engines.py)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from gridgov.core.db import create_db_engine
from gridgov.core.errors import Invalid
from gridgov.domains.areas.models import Area
from gridgov.domains.auth.enums import Role
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases.enums import Reasonableness
from gridgov.domains.evaluation import engine as counts_engine
from gridgov.domains.evaluation import store
from gridgov.domains.evaluation.counts import BASE_COUNTS, CountTable, markdown_table
from gridgov.domains.evaluation.engine import compute
from gridgov.domains.evaluation.enums import Dimension
from gridgov.domains.evaluation.periods import Period
from gridgov.domains.evaluation.store import StoreUnavailable
from tests.domains.evaluation import scenario
from tests.domains.evaluation.random_world import play
from tests.domains.evaluation.reference import reference_rows
from tests.domains.evaluation.scenario import SH, at, ctx, submit

NOVEMBER = Period.parse("2026-11", SH)
DECEMBER = Period.parse("2026-12", SH)
EXPECTED = {
    Dimension.district: scenario.DISTRICT,
    Dimension.street: scenario.STREET,
    Dimension.community: scenario.COMMUNITY,
    Dimension.grid: scenario.GRID,
    Dimension.unit: scenario.UNIT,
    Dimension.person: scenario.PERSON,
    Dimension.channel: scenario.CHANNEL,
    Dimension.matter_type: scenario.MATTER_TYPE,
    Dimension.matter_class: scenario.MATTER_CLASS,
}


def sql(db, period=NOVEMBER, dimension=Dimension.district, **filters) -> CountTable:
    return compute(db=db, period=period, dimension=dimension, engine="sql", **filters)


@pytest.fixture
def november(world, db) -> scenario.November:
    return scenario.build(db, world)


@pytest.mark.parametrize("dimension", list(Dimension))
def test_every_count_of_a_hand_built_november(november, db, dimension):
    table = sql(db, dimension=dimension)
    assert table.rows == EXPECTED[dimension]
    assert table.engine == "sql"
    assert (table.dimension, table.period) == (dimension, NOVEMBER)


def test_labels_name_areas_units_people_and_channels(november, db):
    assert sql(db, dimension=Dimension.street).labels == {scenario.W: "经八路街道", scenario.E: "花园路街道"}
    units = sql(db, dimension=Dimension.unit).labels
    assert units[scenario.W_HWS] == "410105001环卫所" and units[scenario.E_CGZD] == "410105002城管中队"
    assert sql(db, dimension=Dimension.person).labels == scenario.PERSON_LABELS
    assert sql(db, dimension=Dimension.channel).labels == {"patrol": "Patrol", "snapshot": "Citizen snapshot"}
    assert sql(db, dimension=Dimension.matter_class).labels == {"01": "市容环境", "06": "其他事件"}


def test_quiet_areas_are_listed_with_residents_and_staff_but_no_counts(november, db):
    grids = sql(db, dimension=Dimension.grid)
    quiet = "410105002002001"
    assert quiet not in grids.rows
    assert grids.population[quiet] == 600 and grids.labels[quiet] == "花园路南社区第1网格"
    assert grids.get(quiet, "population") == 600 and grids.get(quiet, "received") == 0
    assert len(grids.keys()) == 16
    communities = sql(db, dimension=Dimension.community)
    # Staff: active grid workers and secretaries at or below the area; the disabled one and the dispatcher not.
    assert communities.staff == {scenario.W_N: 2, scenario.E_N: 1}
    assert sql(db, dimension=Dimension.street).staff == {scenario.W: 2, scenario.E: 1}
    assert grids.staff == {"410105001001001": 1}


def test_get_reads_zero_for_missing_names_and_refuses_unknown_ones(november, db):
    table = sql(db, dimension=Dimension.street)
    assert table.get(scenario.W, "due") == 3
    assert table.get(scenario.E, "open_overdue") == 0
    assert table.get("nowhere", "due") == 0
    with pytest.raises(KeyError, match="unknown base count 'dues'"):
        table.get(scenario.W, "dues")


def test_an_unreasonable_ruling_takes_the_rating_out_of_satisfaction(world, db):
    november = scenario.build(db, world, ruling=False)
    before = sql(db).rows["410105"]
    assert (before["rated"], before["satisfied"], before["unsatisfied"]) == (3, 2, 1)
    g = november.cases["G"]
    case_service.rule_reasonableness(
        db=db,
        case=g,
        ctx=ctx(world.leader, at(28, 9)),
        ruling=Reasonableness.unreasonable,
        reason_code="beyond_public_duty",
        note="私人事务",
    )
    after = sql(db).rows["410105"]
    assert (after["rated"], after["satisfied"], after.get("unsatisfied", 0)) == (2, 2, 0)


def test_later_events_never_change_a_past_period(november, db, world):
    first = sql(db, dimension=Dimension.unit).rows
    people = scenario.People(world)
    f, c = november.cases["F"], november.cases["C"]
    evidence = [scenario.photo(db)]
    case_service.finish(db=db, case=f, ctx=ctx(people.hw_w, at(1, 10, month=12)), result="完成", evidence=evidence)
    case_service.verify(db=db, case=f, ctx=ctx(people.gw1, at(1, 11, month=12)), ok=True)
    case_service.finish(db=db, case=c, ctx=ctx(people.hw_e, at(1, 11, month=12)), result="完成", evidence=evidence)
    case_service.verify(db=db, case=c, ctx=ctx(people.gw3, at(1, 14, 30, month=12)), ok=True)
    assert sql(db, dimension=Dimension.unit).rows == first
    assert sql(db).rows == scenario.DISTRICT
    # December: C was due on 12-01 16:00 (after its extension) and closed on time; F's deadline was in November.
    # Handling hours: F 11-27 09:00 → 12-01 10:00 (97 h), C 11-30 09:00 → 12-01 11:00 (26 h).
    assert sql(db, period=DECEMBER).rows == {
        "410105": {
            "due": 1,
            "closed": 1,
            "closed_on_time": 1,
            "handled": 2,
            "handle_hours": 123.0,
            "verify_tasks": 2,
            "verified_on_time": 2,
            "population": 10000,
            "staff": 3,
        }
    }


def _due(db, case, period) -> dict[str, int | float]:
    table = sql(db, period=period, dimension=Dimension.channel, case_ids=[case.id])
    row = table.rows.get("patrol", {})
    return {
        name: row[name] for name in ("due", "closed", "closed_on_time", "closed_late", "open_overdue") if name in row
    }


def test_a_deadline_at_23_59_is_due_in_the_month_and_one_at_midnight_in_the_next(world, db):
    # 上水井盖 is urgent: natural-hour limits, handling 4 h from the (automatic) dispatch.
    late_evening = submit(db, world.grid_worker, at(30, 19, 59), (120, 880), matter="BJ0101")
    midnight = submit(db, world.grid_worker, at(30, 20), (370, 880), matter="BJ0101")
    assert late_evening.handle_due_at == at(30, 23, 59)
    assert midnight.handle_due_at == at(1, 0, month=12)
    assert _due(db, late_evening, NOVEMBER) == {"due": 1, "open_overdue": 1}
    assert _due(db, late_evening, DECEMBER) == {}
    assert _due(db, midnight, NOVEMBER) == {}
    assert _due(db, midnight, DECEMBER) == {"due": 1, "open_overdue": 1}


def test_an_extension_moves_the_case_across_the_boundary_only_from_its_decision_on(world, db):
    water = world.actor(Role.unit_handler, "WATER", user_id=701, name="供水处置员")
    moved = submit(db, world.grid_worker, at(30, 10), (120, 880), matter="BJ0101")
    late_decision = submit(db, world.grid_worker, at(30, 10), (370, 880), matter="BJ0101")
    for case in (moved, late_decision):
        assert case.handle_due_at == at(30, 14)
        case_service.sign(db=db, case=case, ctx=ctx(water, at(30, 10, 5)))
        case_service.request_extension(db=db, case=case, ctx=ctx(water, at(30, 10, 30)), amount=12, reason="夜间施工")
    case_service.decide_extension(db=db, case=moved, ctx=ctx(world.district_dispatcher, at(30, 11)), approve=True)
    assert moved.handle_due_at == at(1, 2, month=12)
    assert _due(db, moved, NOVEMBER) == {}
    assert _due(db, moved, DECEMBER) == {"due": 1, "open_overdue": 1}
    assert sql(db, case_ids=[moved.id]).rows["410105"]["extended"] == 1
    # Approved only on 12-01: at the end of November the 14:00 deadline was in force.
    decided_at = at(1, 9, month=12)
    case_service.decide_extension(
        db=db, case=late_decision, ctx=ctx(world.district_dispatcher, decided_at), approve=True
    )
    assert _due(db, late_decision, NOVEMBER) == {"due": 1, "open_overdue": 1}
    assert _due(db, late_decision, DECEMBER) == {"due": 1, "open_overdue": 1}
    assert "extended" not in sql(db, case_ids=[late_decision.id]).rows["410105"]


def test_a_case_returned_before_its_deadline_is_not_due_one_returned_after_it_is(world, db):
    handler = world.sanitation
    early = submit(db, world.grid_worker, at(26, 9), (120, 880))
    late = submit(db, world.grid_worker, at(26, 9), (370, 880))
    assert early.handle_due_at == late.handle_due_at == at(26, 15)
    case_service.return_case(db=db, case=early, ctx=ctx(handler, at(26, 10)), reason_code="dispatch_error")
    case_service.return_case(db=db, case=late, ctx=ctx(handler, at(26, 16)), reason_code="dispatch_error")
    assert _due(db, early, NOVEMBER) == {}
    assert _due(db, late, NOVEMBER) == {"due": 1, "open_overdue": 1}
    # Dispatched again: the new deadline is in force (and the first dispatch was not accurate).
    case_service.dispatch(
        db=db, case=early, unit=world.unit("CGJ"), co_units=[], ctx=ctx(world.district_dispatcher, at(26, 11))
    )
    assert _due(db, early, NOVEMBER) == {"due": 1, "open_overdue": 1}
    row = sql(db, dimension=Dimension.unit, case_ids=[early.id]).rows
    assert row["410105001-HWS"] == {"dispatched": 1, "returned": 1}
    assert row["CGJ"] == {"dispatched": 1, "accurate_dispatch": 1, "due": 1, "open_overdue": 1, "received": 1}


@pytest.mark.parametrize("dimension", list(Dimension))
def test_a_period_without_data_gives_an_empty_table(november, db, dimension):
    table = sql(db, period=Period.parse("2025-01", SH), dimension=dimension)
    assert table.rows == {}
    assert table.get("410105", "received") == 0


def test_an_empty_database_gives_empty_tables(world, db):
    assert sql(db).rows == {}
    assert sql(db, dimension=Dimension.grid).population["410105001001001"] == 600


def test_scope_limits_to_an_area_subtree(november, db):
    west = db.scalars(select(Area.path).where(Area.code == scenario.W)).one()
    streets = sql(db, dimension=Dimension.street, scope_path=west)
    assert streets.rows == {scenario.W: scenario.STREET[scenario.W]}
    assert set(streets.labels) == {scenario.W}
    district = sql(db, scope_path=west)
    assert district.rows == {"410105": {**scenario.WEST, "population": 10000, "staff": 3}}
    assert set(sql(db, dimension=Dimension.grid, scope_path=west).labels) == {
        a
        for a in scenario.GRID.keys() | {"410105001002001", "410105001002002", "410105001002003", "410105001002004"}
        if a.startswith(scenario.W)
    }


def test_matter_types_and_case_lists_limit_the_cases(november, db):
    other = sql(db, matter_type_codes=["SJ0601"]).rows["410105"]
    assert other == {**scenario._OTHER, "population": 10000, "staff": 3}
    with pytest.raises(Invalid, match="unknown matter type"):
        sql(db, matter_type_codes=["SJ0601", "XX9999"])
    a, d = november.cases["A"], november.cases["D"]
    both = sql(db, dimension=Dimension.street, case_ids=[a.id, d.id]).rows
    common = {
        "received": 1,
        "reports": 1,
        "valid_reports": 1,
        "registered": 1,
        "registered_on_time": 1,
        "dispatched": 1,
        "due": 1,
        "closed": 1,
        "closed_on_time": 1,
        "verify_tasks": 1,
        "verified_on_time": 1,
        "rated": 1,
        "satisfied": 1,
        "handled": 1,
        "handle_hours": 1.0,
    }
    assert both == {
        scenario.W: {**common, "accurate_dispatch": 1, "staff": 2},
        scenario.E: {**common, "returned": 1, "staff": 1},
    }
    assert sql(db, case_ids=[]).rows == {}


def test_an_unknown_engine_is_refused(november, db):
    with pytest.raises(Invalid, match="unknown counts engine 'spark'; use one of duckdb, sql"):
        compute(db=db, period=NOVEMBER, dimension=Dimension.district, engine="spark")


def test_duckdb_falls_back_to_sql_with_a_logged_reason(november, db, monkeypatch, caplog):
    in_memory = create_db_engine("sqlite://")
    monkeypatch.setattr(counts_engine, "_bind_engine", lambda _db: in_memory)
    with caplog.at_level(logging.WARNING, logger="gridgov.domains.evaluation.engine"):
        table = compute(db=db, period=NOVEMBER, dimension=Dimension.district, engine="duckdb")
    assert table.engine == "sql"
    assert table.rows == scenario.DISTRICT
    assert "in-memory SQLite database has no analytic store" in caplog.text


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("sqlite://", "in-memory SQLite"),
        ("sqlite:///:memory:", "in-memory SQLite"),
        ("mysql://u@h/db", "reads SQLite and PostgreSQL, not mysql"),
    ],
)
def test_databases_without_a_store_are_named(url, why, tmp_path):
    with pytest.raises(StoreUnavailable, match=why):
        store.store_path(tmp_path, make_url(url))


def test_each_database_has_its_own_store_file_named_without_its_password(tmp_path):
    one = store.store_path(tmp_path, make_url("postgresql+psycopg://u:secret@h/one"))
    other = store.store_path(tmp_path, make_url("postgresql+psycopg://u:other@h/one"))
    assert one == other  # the password is not part of the name
    assert one != store.store_path(tmp_path, make_url("postgresql+psycopg://u:secret@h/two"))
    assert "secret" not in store.source_name(make_url("postgresql+psycopg://u:secret@h/one"))


PERIODS = ("2026-11", "2026-Q4", "2026-11-20..2026-12-05", "2026-12", "2026-12-01")


def without_areas(rows):
    return {key: {n: v for n, v in row.items() if n not in ("population", "staff")} for key, row in rows.items()}


def test_random_histories_match_a_plain_reading_of_the_definitions(world, db):
    play(db, world, cases=70, seed=11)
    for text in PERIODS:
        period = Period.parse(text, SH)
        for dimension in Dimension:
            computed = sql(db, period=period, dimension=dimension).rows
            assert without_areas(computed) == reference_rows(db, period, dimension), (text, dimension)


def test_every_base_count_is_documented():
    table = markdown_table()
    for count in BASE_COUNTS.values():
        assert f"| `{count.name}` | {count.zh} | {count.en} |" in table
        assert count.description.endswith(".")
    assert set(scenario.DISTRICT["410105"]) | {"unsatisfied", "confirmed_on_time", "rework"} <= set(BASE_COUNTS)
