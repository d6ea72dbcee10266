"""A citizen reporter's contact is personal data: never in listings, readable only with a purpose, always audited."""

from __future__ import annotations

from sqlalchemy import select

from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.models import AuditEntry
from gridgov.domains.cases.enums import Channel
from gridgov.domains.intake import service as intake
from gridgov.domains.intake.schemas import ContactIn
from tests.domains.cases.test_flow import ctx, report
from tests.domains.cases.world import STREET_E, STREET_W, add_token_user, bearer

PHONE = "13800001234"
PII_SCOPES = ("cases:read", "residents:read")


def test_the_contact_is_read_only_with_a_purpose_and_every_read_is_audited(client, db, world):
    case = intake.submit(
        db=db,
        report=report(channel=Channel.snapshot, contact=ContactIn(name="张三", phone=PHONE)),
        ctx=ctx(world.citizen),
    ).case
    _, token = add_token_user(db, "street_w", Role.street_dispatcher, f"{STREET_W}-CYZX", STREET_W, scopes=PII_SCOPES)
    _, no_pii = add_token_user(db, "street_w2", Role.street_dispatcher, f"{STREET_W}-CYZX", STREET_W)
    _, east = add_token_user(db, "street_e", Role.street_dispatcher, f"{STREET_E}-CYZX", STREET_E, scopes=PII_SCOPES)
    _, handler = add_token_user(db, "hws", Role.unit_handler, f"{STREET_W}-HWS", None)
    url = f"/api/v1/cases/{case.id}/contact"

    # the case and its list entry never carry the contact
    assert PHONE not in client.get(f"/api/v1/cases/{case.id}", headers=bearer(token)).text
    assert PHONE not in client.get("/api/v1/cases", headers=bearer(token)).text

    assert client.get(url, headers=bearer(token)).status_code == 422  # no purpose
    response = client.get(url, params={"purpose": "回访核实现场情况"}, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json() == {"name": "张三", "phone": PHONE, "email": None}
    reads = db.scalars(select(AuditEntry).where(AuditEntry.action == "case.contact_read")).all()
    assert [(r.target_id, r.purpose, r.actor_name) for r in reads] == [(str(case.id), "回访核实现场情况", "street_w")]

    assert client.get(url, params={"purpose": "回访"}, headers=bearer(no_pii)).status_code == 403  # token scope
    assert client.get(url, params={"purpose": "看看电话"}, headers=bearer(east)).status_code == 404  # out of scope
    # a handling unit may not read it at all (its role cannot even hold a personal-data token)
    assert client.get(url, params={"purpose": "看看电话"}, headers=bearer(handler)).status_code == 403
