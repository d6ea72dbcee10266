"""privacy.py: encryption at rest with key ids, the blind index, masks, purposes, tag visibility, redaction of free
text (visit findings becoming cases), and the refusal of development keys in production."""

from __future__ import annotations

import base64
import os

import pytest
from pydantic import ValidationError

from gridgov.config import DEV_PERSONAL_DATA_INDEX_KEY, DEV_PERSONAL_DATA_KEY, Settings, parse_key_ring
from gridgov.core.errors import Invalid
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.cases.models import Case
from gridgov.domains.people import privacy
from gridgov.domains.people.enums import Sensitivity
from gridgov.domains.people.models import Resident
from tests.domains.cases.conftest import world  # noqa: F401 - the case world, for the visit test
from tests.domains.cases.test_api import GRID_WORKER, api, now  # noqa: F401
from tests.domains.cases.world import point


def ring(*ids: str, current: str | None = None) -> privacy.KeyRing:
    keys = {key_id: os.urandom(32) for key_id in ids}
    return privacy.KeyRing(keys=keys, current=current or ids[0], index_key=os.urandom(32))


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_values_are_encrypted_with_a_key_id_prefix_and_a_fresh_nonce():
    keys = ring("k1")
    first = keys.encrypt("41010519500302011X", associated_data=b"t.c")
    second = keys.encrypt("41010519500302011X", associated_data=b"t.c")
    assert first.startswith("k1:") and second.startswith("k1:") and first != second
    assert "41010519500302011X" not in first and keys.decrypt(first, associated_data=b"t.c") == "41010519500302011X"


def test_a_value_decrypts_only_with_its_key_in_its_own_column_and_unaltered():
    keys = ring("k1")
    token = keys.encrypt("13800138000", associated_data=privacy.PHONE.associated_data)
    with pytest.raises(privacy.KeyError_, match="copied from another column"):
        keys.decrypt(token, associated_data=privacy.ID_NUMBER.associated_data)
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(privacy.KeyError_, match="altered"):
        keys.decrypt(tampered, associated_data=privacy.PHONE.associated_data)
    other = privacy.KeyRing(keys={"k2": os.urandom(32)}, current="k2", index_key=keys.index_key)
    with pytest.raises(privacy.KeyError_, match="key 'k1', which is not in GRIDGOV_PERSONAL_DATA_KEYS"):
        other.decrypt(token, associated_data=privacy.PHONE.associated_data)


def test_an_old_key_still_reads_while_new_values_use_the_current_one():
    old = ring("k1")
    token = old.encrypt("x", associated_data=b"a")
    both = privacy.KeyRing(keys={"k2": os.urandom(32), **old.keys}, current="k2", index_key=old.index_key)
    assert both.decrypt(token, associated_data=b"a") == "x"
    assert privacy.key_id_of(both.encrypt("x", associated_data=b"a")) == "k2"


def test_the_blind_index_is_keyed_normalised_and_kind_separated():
    keys = ring("k1")
    number = "11010519491231002X"
    assert privacy.blind_index(privacy.ID_NUMBER, number, keys) == privacy.blind_index(
        privacy.ID_NUMBER, " 11010519491231002x", keys
    )
    assert privacy.blind_index(privacy.PHONE, "0371-65881234", keys) == privacy.blind_index(
        privacy.PHONE, "0371 6588 1234", keys
    )
    assert privacy.blind_index(privacy.PHONE, "13800138000", keys) != privacy.blind_index(
        privacy.ID_NUMBER, "13800138000", keys
    )
    other = privacy.KeyRing(keys=keys.keys, current="k1", index_key=os.urandom(32))
    assert privacy.blind_index(privacy.ID_NUMBER, number, keys) != privacy.blind_index(privacy.ID_NUMBER, number, other)
    assert number not in privacy.blind_index(privacy.ID_NUMBER, number, keys)


def test_store_sets_ciphertext_and_index_and_reveal_reads_it_back():
    keys = ring("k1")
    resident = Resident()
    privacy.store(resident, privacy.ID_NUMBER, "11010519491231002X", keys)
    assert resident.id_number_enc.startswith("k1:") and len(resident.id_number_index) == 64
    assert privacy.reveal(resident, privacy.ID_NUMBER, keys) == "11010519491231002X"
    assert privacy.masked(resident, privacy.ID_NUMBER, keys) == "110105********002X"
    privacy.store(resident, privacy.ID_NUMBER, None, keys)
    assert resident.id_number_enc is None and resident.id_number_index is None


def test_masks():
    assert privacy.mask_identity_number("410105195003020119") == "410105********0119"
    assert privacy.mask_phone("13856785678") == "138****5678"
    assert privacy.mask_phone("0371-65881234") == "0371-****1234"
    assert (
        privacy.mask_name("张三") == "张*"
        and privacy.mask_name("欧阳明月") == "欧***"
        and privacy.mask_name("张") == "张*"
    )


def test_names_and_birth_dates_are_masked_for_roles_that_may_not_unmask():
    import datetime as dt

    leader = Actor(name="l", role=Role.district_leader)
    worker = Actor(name="w", role=Role.grid_worker)
    born = dt.date(1950, 3, 2)
    assert (privacy.show_name(leader, "张三"), privacy.show_birth(leader, born)) == ("张*", "1950")
    assert (privacy.show_name(worker, "张三"), privacy.show_birth(worker, born)) == ("张三", "1950-03-02")
    assert privacy.present_changes(leader, {"name": ["张三", "张叁"], "phone": [None, "138****8000"]}) == {
        "name": ["张*", "张*"],
        "phone": [None, "138****8000"],
    }


def test_tag_visibility_by_sensitivity_and_role():
    expected = {
        Role.district_leader: {Sensitivity.public, Sensitivity.internal},
        Role.district_dispatcher: {Sensitivity.public, Sensitivity.internal},
        Role.street_dispatcher: {Sensitivity.public, Sensitivity.internal},
        Role.grid_worker: {Sensitivity.public, Sensitivity.internal, Sensitivity.sensitive},
        Role.community_secretary: set(Sensitivity),
        Role.unit_handler: set(),
        Role.admin: set(),
        Role.auditor: set(),
    }
    for role, levels in expected.items():
        assert set(privacy.visible_sensitivities(Actor(name="x", role=role))) == levels, role


@pytest.mark.parametrize("purpose", [None, "", "  ", "abc", "测试", "查看", "1111", "test"])
def test_an_empty_or_filler_purpose_is_refused(purpose):
    with pytest.raises(Invalid) as refused:
        privacy.check_purpose(purpose)
    assert refused.value.details["field"] == "purpose"


def test_a_real_purpose_is_kept_trimmed():
    assert privacy.check_purpose("  入户走访核实联系方式 ") == "入户走访核实联系方式"


def test_redact_masks_identity_numbers_and_phones_but_not_area_codes():
    text = "户主张三 身份证41010519500302011X，手机 138 0013 8000，座机0371-65881234，楼院410105001001001001"
    cleaned = privacy.redact(text)
    assert "41010519500302011X" not in cleaned and "410105********011X" in cleaned
    assert "13800138000" not in cleaned.replace(" ", "") and "138****8000" in cleaned
    assert "65881234" not in cleaned and "0371-****1234" in cleaned
    assert "410105001001001001" in cleaned  # a building code is no identity number (no birth date in it)


def test_a_visit_finding_with_personal_data_becomes_a_case_without_it(api, db):  # noqa: F811
    lng, lat = point()
    finding = "住户李四（身份证41010519520709022X，电话13912345678）家门口下水道堵塞"
    body = {
        "household_ref": "3号楼2单元501",
        "lng": lng,
        "lat": lat,
        "summary": "例行走访",
        "findings": [{"description": finding, "create_case": True, "matter_type": "SJ0102"}],
    }
    response = api.post("/api/v1/visits", json=body, headers=GRID_WORKER)
    assert response.status_code == 201, response.text
    case = db.get(Case, response.json()["case_ids"][0])
    for text in (case.title, case.description):
        assert "41010519520709022X" not in text and "13912345678" not in text
    assert "410105********022X" in case.description and "139****5678" in case.description


def test_key_rings_are_parsed_and_bad_ones_refused():
    key = os.urandom(32)
    assert parse_key_ring(f"k2:{b64(key)}, k1:{b64(os.urandom(32))}")["k2"] == key
    for bad, message in (
        ("k1", "id:base64key"),
        (f"k1:{b64(os.urandom(16))}", "32 bytes"),
        ("k1:***", "not base64"),
        (f"k1:{b64(key)},k1:{b64(key)}", "appears twice"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_key_ring(bad)


def test_production_refuses_missing_or_development_keys_and_accepts_real_ones():
    base = {"_env_file": None, "env": "production", "secret_key": "x" * 40}
    real, index = b64(os.urandom(32)), b64(os.urandom(32))
    with pytest.raises(ValidationError, match="GRIDGOV_PERSONAL_DATA_KEYS is not set"):
        Settings(**base, personal_data_index_key=index)
    with pytest.raises(ValidationError, match="holds the development key"):
        Settings(**base, personal_data_keys=f"dev:{b64(DEV_PERSONAL_DATA_KEY)}", personal_data_index_key=index)
    with pytest.raises(ValidationError, match="GRIDGOV_PERSONAL_DATA_INDEX_KEY is not set"):
        Settings(**base, personal_data_keys=f"k1:{real}")
    with pytest.raises(ValidationError, match="development key"):
        Settings(**base, personal_data_keys=f"k1:{real}", personal_data_index_key=b64(DEV_PERSONAL_DATA_INDEX_KEY))
    with pytest.raises(ValidationError, match="not among"):
        Settings(**base, personal_data_keys=f"k1:{real}", personal_data_index_key=index, personal_data_key_id="k9")
    settings = Settings(**base, personal_data_keys=f"k2:{b64(os.urandom(32))},k1:{real}", personal_data_index_key=index)
    assert "k1:" not in repr(settings)  # the keys are secrets: never in a repr or a log line
    development = Settings(_env_file=None, env="development")
    assert development.personal_data_keys.get_secret_value() == ""


def test_the_configured_ring_uses_the_first_key_unless_one_is_named(monkeypatch):
    k1, k2, index = b64(os.urandom(32)), b64(os.urandom(32)), b64(os.urandom(32))
    first = privacy._configured_ring(f"k2:{k2},k1:{k1}", None, index, "test")
    named = privacy._configured_ring(f"k2:{k2},k1:{k1}", "k1", index, "test")
    assert (first.current, named.current, first.development) == ("k2", "k1", False)
    development = privacy._configured_ring("", None, "", "test")
    assert development.development and development.current == privacy.DEV_KEY_ID
