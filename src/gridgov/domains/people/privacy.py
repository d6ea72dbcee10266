"""Personal data of the resident register: the ONE place that declares which fields are personal and how each
is protected. Other modules call these functions and never touch ciphertext, keys or masks themselves.

- **Encrypted at rest** (`ENCRYPTED_FIELDS`): the identity number and the phone, AES-256-GCM under a key from
  the environment (GRIDGOV_PERSONAL_DATA_KEYS), stored as `<key id>:<base64 nonce+ciphertext+tag>` so keys can
  rotate (`gridgov keys rotate`). The column's name is bound into the ciphertext (associated data): a
  value copied into another column does not decrypt.
- **Blind index**: HMAC-SHA256 under a separate key (GRIDGOV_PERSONAL_DATA_INDEX_KEY) over the normalised value
  (identity numbers upper-cased, phones digits only), for exact-value search. It finds equal values only: no
  prefix, range or fuzzy search.
- **Masked by default** (`MASKED_FIELDS`): identity numbers `410105********1234`, phones `138****5678`; names
  `张*` and birth dates reduced to the year for roles that may not unmask. Clear values only through `unmask`,
  for resident.unmask, with a stated purpose.
- **Tags** of sensitive groups are personal data too: who sees a tag depends on its sensitivity (`TAG_VISIBILITY`).
- **Every read is audited** (`audit_read`): list, detail, household, search hit, unmask and export download,
  with who, whom (resident ids), why and how many.
- **Free text** bound for cases is cleaned by `redact`: cases refer to residents by id only.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.orm import Session

from gridgov.config import (
    DEV_PERSONAL_DATA_INDEX_KEY,
    DEV_PERSONAL_DATA_KEY,
    decode_key,
    get_settings,
    parse_key_ring,
)
from gridgov.core.db import transaction
from gridgov.core.errors import Invalid
from gridgov.core.permissions import can
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.people.checks import normalise_identity_number, phone_digits
from gridgov.domains.people.enums import Sensitivity
from gridgov.domains.people.models import Resident

log = logging.getLogger(__name__)

DEV_KEY_ID = "dev"
NONCE_BYTES = 12


class FieldKind(StrEnum):
    """What a personal value is, which decides its normalisation, blind index and mask."""

    identity_number = "identity_number"
    phone = "phone"


@dataclass(frozen=True, slots=True)
class PersonalField:
    """A personal value stored encrypted, with the column of its blind index."""

    name: str  # the field's name in schemas and files
    label: str  # its Chinese name
    kind: FieldKind
    column: str  # the Resident attribute holding the ciphertext
    index_column: str  # the Resident attribute holding the blind index

    @property
    def associated_data(self) -> bytes:
        """The column's name, bound into every ciphertext so a value only decrypts where it was written."""
        return f"{Resident.__tablename__}.{self.column}".encode()


ID_NUMBER = PersonalField("id_number", "公民身份号码", FieldKind.identity_number, "id_number_enc", "id_number_index")
PHONE = PersonalField("phone", "联系电话", FieldKind.phone, "phone_enc", "phone_index")
# Every encrypted column of the database: rotation and the key check walk exactly these.
ENCRYPTED_FIELDS: tuple[PersonalField, ...] = (ID_NUMBER, PHONE)
FIELDS_BY_NAME = {f.name: f for f in ENCRYPTED_FIELDS}

# Personal fields stored in clear (needed to find and count people) but shown masked to roles that may not unmask.
MASKED_FIELDS: dict[str, str] = {
    "name": "姓名: the surname and * for the rest (张*)",
    "birth_date": "出生日期: the year only",
}

# Who may see that a resident carries a tag of each sensitivity (分级).
TAG_VISIBILITY: dict[Sensitivity, str] = {
    Sensitivity.public: "every role with resident.view",
    Sensitivity.internal: "every role with resident.view (staff only; never on public pages)",
    Sensitivity.sensitive: "roles with resident.unmask (community secretary, grid worker)",
    Sensitivity.core: "the community secretary only",
}

MIN_PURPOSE_CHARS = 4
MAX_PURPOSE_CHARS = 200
# Words that state no purpose at all; an unmask or export purpose made of them alone is refused.
EMPTY_PURPOSES = frozenset(
    {"test", "测试", "查看", "看看", "查询", "无", "none", "n/a", "na", "xxx", "工作", "工作需要", "需要"}
)
AUDIT_MAX_IDS = 500  # resident ids listed in one audit entry (a page holds at most 200)


# --- keys -------------------------------------------------------------------------------------------------------


class KeyError_(Exception):  # noqa: N801 - not the builtin KeyError
    """A ciphertext cannot be read: its key is not configured, or it was altered or copied elsewhere."""


@dataclass(frozen=True)
class KeyRing:
    """The keys of the personal data: encryption keys by id, the one new values use, and the blind-index key."""

    keys: Mapping[str, bytes]
    current: str
    index_key: bytes
    development: bool = False

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise ValueError(f"current key {self.current!r} is not in the key ring")

    def encrypt(self, plaintext: str, *, associated_data: bytes) -> str:
        """Returns `<key id>:<base64(nonce + ciphertext + tag)>` of `plaintext` under the current key."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.keys[self.current]).encrypt(nonce, plaintext.encode("utf-8"), associated_data)
        return f"{self.current}:{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def decrypt(self, token: str, *, associated_data: bytes) -> str:
        """Returns the plaintext of a token made by `encrypt` with any key of the ring; raises KeyError_."""
        key_id, separator, encoded = token.partition(":")
        if not separator:
            raise KeyError_("not an encrypted value (no key id)")
        key = self.keys.get(key_id)
        if key is None:
            raise KeyError_(f"encrypted with key {key_id!r}, which is not in GRIDGOV_PERSONAL_DATA_KEYS")
        try:
            raw = base64.urlsafe_b64decode(encoded)
            return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated_data).decode("utf-8")
        except (InvalidTag, binascii.Error, ValueError):
            raise KeyError_(f"does not decrypt with key {key_id!r}: altered, or copied from another column") from None

    def blind_index(self, kind: FieldKind, normalised: str) -> str:
        """Returns the keyed hash (hex) of a normalised value; the kind keeps equal digits of two kinds apart."""
        mac = crypto_hmac.HMAC(self.index_key, hashes.SHA256())
        mac.update(f"{kind}\x00{normalised}".encode())
        return mac.finalize().hex()


def key_id_of(token: str) -> str:
    """Returns the id of the key a ciphertext was made with."""
    return token.partition(":")[0]


_override: KeyRing | None = None


def set_keyring(ring: KeyRing | None) -> None:
    """Replaces the configured key ring (tests, rotation drills); None restores the configured one."""
    global _override
    _override = ring


def keyring() -> KeyRing:
    """Returns the key ring of the settings (GRIDGOV_PERSONAL_DATA_KEYS, _KEY_ID, _INDEX_KEY)."""
    if _override is not None:
        return _override
    settings = get_settings()
    return _configured_ring(
        settings.personal_data_keys.get_secret_value(),
        settings.personal_data_key_id,
        settings.personal_data_index_key.get_secret_value(),
        settings.env,
    )


@lru_cache(maxsize=4)
def _configured_ring(keys: str, key_id: str | None, index_key: str, env: str) -> KeyRing:
    ring = parse_key_ring(keys)
    development = not ring
    if development:
        # NOTE: Settings refuses this in production; elsewhere a published key keeps development and tests going.
        ring = {DEV_KEY_ID: DEV_PERSONAL_DATA_KEY}
    index = decode_key(index_key, "GRIDGOV_PERSONAL_DATA_INDEX_KEY") if index_key.strip() else None
    if index is None:
        index = DEV_PERSONAL_DATA_INDEX_KEY
        development = True
    if development and env == "development":
        log.warning(
            "personal data is encrypted with the published development key: set GRIDGOV_PERSONAL_DATA_KEYS and "
            "GRIDGOV_PERSONAL_DATA_INDEX_KEY before storing real residents (see docs/privacy.md)"
        )
    return KeyRing(keys=ring, current=key_id or next(iter(ring)), index_key=index, development=development)


def generate_key() -> str:
    """Returns a new random 32-byte key, base64-encoded, for GRIDGOV_PERSONAL_DATA_KEYS or _INDEX_KEY."""
    return base64.b64encode(os.urandom(32)).decode("ascii")


# --- encrypting, indexing, reading ------------------------------------------------------------------------------


def normalise(personal: PersonalField, value: str) -> str:
    """Returns the form of a value its blind index is computed over."""
    if personal.kind is FieldKind.identity_number:
        return normalise_identity_number(value)
    return phone_digits(value)


def blind_index(personal: PersonalField, value: str, ring: KeyRing | None = None) -> str:
    """Returns the blind index of a value of `personal` (normalised first), for an exact-match query."""
    return (ring or keyring()).blind_index(personal.kind, normalise(personal, value))


def store(resident: Resident, personal: PersonalField, value: str | None, ring: KeyRing | None = None) -> None:
    """Sets a personal value on a resident: its ciphertext and its blind index (None clears both)."""
    ring = ring or keyring()
    if value is None:
        setattr(resident, personal.column, None)
        setattr(resident, personal.index_column, None)
        return
    setattr(resident, personal.column, ring.encrypt(value, associated_data=personal.associated_data))
    setattr(resident, personal.index_column, ring.blind_index(personal.kind, normalise(personal, value)))


def sealed_values(personal: PersonalField, value: str | None, ring: KeyRing | None = None) -> dict[str, str | None]:
    """Returns {column: ciphertext, index column: hash} of a value, for bulk inserts (the demo)."""
    ring = ring or keyring()
    if value is None:
        return {personal.column: None, personal.index_column: None}
    return {
        personal.column: ring.encrypt(value, associated_data=personal.associated_data),
        personal.index_column: ring.blind_index(personal.kind, normalise(personal, value)),
    }


def reveal(resident: Resident, personal: PersonalField, ring: KeyRing | None = None) -> str | None:
    """Returns the clear value of a resident's personal field (callers mask it or audit an unmask)."""
    token = getattr(resident, personal.column)
    if token is None:
        return None
    return (ring or keyring()).decrypt(token, associated_data=personal.associated_data)


# --- masking and visibility -------------------------------------------------------------------------------------


def mask_identity_number(value: str | None) -> str | None:
    """Returns `410105********1234`: the address code and the last four characters."""
    if not value:
        return value
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(value: str | None) -> str | None:
    """Returns `138****5678` for a mobile, `0371-****5678` for a landline."""
    if not value:
        return value
    if "-" in value:
        area, _, number = value.partition("-")
        return f"{area}-{'*' * max(len(number) - 4, 0)}{number[-4:]}"
    if len(value) == 11:
        return value[:3] + "****" + value[-4:]
    return "*" * max(len(value) - 4, 0) + value[-4:]


def mask_name(value: str | None) -> str | None:
    """Returns the surname followed by one * per further character (张三 → 张*, 欧阳明月 → 欧***)."""
    if not value:
        return value
    return value[0] + "*" * max(len(value) - 1, 1)


def mask(personal: PersonalField, value: str | None) -> str | None:
    """Returns the masked form of a value of `personal`."""
    return mask_identity_number(value) if personal.kind is FieldKind.identity_number else mask_phone(value)


def masked(resident: Resident, personal: PersonalField, ring: KeyRing | None = None) -> str | None:
    """Returns the masked form of a resident's stored value (decrypted on the server, never sent in clear)."""
    return mask(personal, reveal(resident, personal, ring))


def may_unmask(actor: Actor) -> bool:
    """Tells whether the actor's role may see identity numbers and phones in clear (with a purpose, audited)."""
    return can(actor, "resident.unmask")


def sees_names(actor: Actor) -> bool:
    """Tells whether the actor sees names and full birth dates; the others get 张* and the birth year."""
    return can(actor, "resident.unmask")


def show_name(actor: Actor, name: str | None) -> str | None:
    """Returns a resident's name as the actor may see it."""
    return name if sees_names(actor) else mask_name(name)


def show_birth(actor: Actor, born: dt.date | None) -> str | None:
    """Returns a birth date as the actor may see it: 1956-03-02, or 1956 for roles that may not unmask."""
    if born is None:
        return None
    return born.isoformat() if sees_names(actor) else str(born.year)


def may_see_tag(actor: Actor, sensitivity: Sensitivity) -> bool:
    """Tells whether the actor may see that a resident carries a tag of `sensitivity` (TAG_VISIBILITY)."""
    if sensitivity in (Sensitivity.public, Sensitivity.internal):
        return can(actor, "resident.view")
    if sensitivity is Sensitivity.sensitive:
        return can(actor, "resident.unmask")
    return actor.role == Role.community_secretary and can(actor, "resident.unmask")


def visible_sensitivities(actor: Actor) -> list[Sensitivity]:
    """Returns the sensitivities whose tags the actor may see."""
    return [level for level in Sensitivity if may_see_tag(actor, level)]


def present_changes(actor: Actor, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Returns an event's changes as the actor may see them (names and birth dates masked for most roles)."""
    shown: dict[str, Any] = {}
    for name, values in changes.items():
        if name == "name" and not sees_names(actor) and isinstance(values, list):
            shown[name] = [mask_name(v) for v in values]
        elif name == "birth_date" and not sees_names(actor) and isinstance(values, list):
            shown[name] = [v[:4] if isinstance(v, str) else v for v in values]
        else:
            shown[name] = values
    return shown


def check_purpose(purpose: str | None, *, field: str = "purpose") -> str:
    """Returns a stated purpose (trimmed) or raises Invalid: required, at least 4 characters, not a filler word."""
    text = (purpose or "").strip()
    if len(text) < MIN_PURPOSE_CHARS:
        raise Invalid(
            f"state why you need the personal data (at least {MIN_PURPOSE_CHARS} characters, e.g. "
            "入户走访核实联系方式); it is written to the audit log",
            code="purpose_required",
            field=field,
        )
    if len(text) > MAX_PURPOSE_CHARS:
        raise Invalid(f"the purpose is limited to {MAX_PURPOSE_CHARS} characters", code="purpose_too_long", field=field)
    if text.casefold() in EMPTY_PURPOSES or len(set(text)) == 1:
        raise Invalid(
            f"{text!r} states no purpose: say what for (the matter, the visit, the case number)",
            code="purpose_empty",
            field=field,
        )
    return text


# --- the audit of reads -----------------------------------------------------------------------------------------


class ReadKind(StrEnum):
    """Reads of personal data, each its own audit action."""

    list = "resident.list"
    read = "resident.read"
    household = "resident.household_read"
    search = "resident.search"
    unmask = "resident.unmask"
    export = "resident.export_download"


def audit_read(
    *,
    db: Session,
    actor: Actor,
    kind: ReadKind,
    resident_ids: Iterable[int],
    purpose: str | None = None,
    source_address: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Writes a read of personal data to the audit log: who (actor), whom (resident ids), why and how many."""
    ids = sorted(set(resident_ids))
    auth_service.write_audit(
        db=db,
        actor=actor,
        action=str(kind),
        target_type="resident",
        target_id=ids[0] if len(ids) == 1 else None,
        purpose=purpose,
        source_address=source_address,
        detail={"count": len(ids), "resident_ids": ids[:AUDIT_MAX_IDS], **(detail or {})},
    )


# --- free text --------------------------------------------------------------------------------------------------

_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_MOBILE_IN_TEXT = re.compile(r"(?<![\d+])(?:(?:\+|00)?86[ -]?)?(1[3-9]\d)[ -]?(\d{4})[ -]?(\d{4})(?!\d)")
_LANDLINE_IN_TEXT = re.compile(r"(?<!\d)(0\d{2,3})[ -]?(\d{3,4})[ -]?(\d{4})(?!\d)")


def redact(text: str) -> str:
    """Returns `text` with identity numbers and phone numbers masked, for free text that leaves the register
    (case titles and descriptions made from visit findings)."""

    def identity(match: re.Match[str]) -> str:
        whole = match.group(0)
        # NOTE: 18-digit building codes are no identity numbers: those have a birth date in digits 7-14. A number
        # with a wrong check digit is still someone's (mistyped) number, so it is masked too.
        try:
            dt.date(int(whole[6:10]), int(whole[10:12]), int(whole[12:14]))
        except ValueError:
            return whole
        return mask_identity_number(whole.upper()) or whole

    text = _ID_IN_TEXT.sub(identity, text)
    text = _MOBILE_IN_TEXT.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    return _LANDLINE_IN_TEXT.sub(lambda m: f"{m.group(1)}-****{m.group(3)}", text)


# --- rotation and checks of the keys ----------------------------------------------------------------------------


@dataclass
class RotationReport:
    """What `rotate` did: values read, re-encrypted with the current key, blind indexes rewritten, batches."""

    current_key: str
    scanned: int = 0
    reencrypted: int = 0
    reindexed: int = 0
    changed_meanwhile: int = 0  # rewritten by the application during the run (already under the current key)
    batches: int = 0
    by_field: dict[str, int] = field(default_factory=dict)


@dataclass
class KeyCheckReport:
    """What `check` found: values by key id, and those that do not decrypt or whose blind index is stale."""

    values: int = 0
    by_key: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[str, int, str]] = field(default_factory=list)  # (field, resident id, problem)
    stale_indexes: int = 0

    @property
    def ok(self) -> bool:
        return not self.failures and not self.stale_indexes


def rotate(
    *,
    engine: Engine,
    batch_size: int = 500,
    reindex: bool = False,
    ring: KeyRing | None = None,
    progress: Callable[[RotationReport], None] | None = None,
) -> RotationReport:
    """Re-encrypts every personal value not under the current key, one transaction per batch (resumable).

    A run that stops half-way leaves committed batches under the new key and the rest under the old one, both
    readable: run it again and it carries on with what is left. `reindex` also recomputes every blind index
    (after GRIDGOV_PERSONAL_DATA_INDEX_KEY changed); without it only the values of old keys are read.
    """
    ring = ring or keyring()
    report = RotationReport(current_key=ring.current)
    prefix = f"{ring.current}:"
    table = Resident.__table__
    for personal in ENCRYPTED_FIELDS:
        column = getattr(Resident, personal.column)
        index_column = getattr(Resident, personal.index_column)
        # NOTE: compare-and-set, one statement per batch: a value the application changed meanwhile (already under
        # the current key) is left as it now is.
        rewrite = (
            update(table)
            .where(table.c.id == bindparam("rid"), table.c[personal.column] == bindparam("old"))
            .values({personal.column: bindparam("new_value"), personal.index_column: bindparam("new_index")})
        )
        done = 0
        last_id = 0
        while True:
            with transaction(engine) as db:
                stmt = select(Resident.id, column, index_column).where(Resident.id > last_id, column.is_not(None))
                if not reindex:
                    stmt = stmt.where(~column.startswith(prefix, autoescape=True))
                rows = db.execute(stmt.order_by(Resident.id).limit(batch_size)).all()
                if not rows:
                    break
                params = []
                for row_id, token, stored_index in rows:
                    report.scanned += 1
                    plain = ring.decrypt(token, associated_data=personal.associated_data)
                    new_value = token
                    if key_id_of(token) != ring.current:
                        new_value = ring.encrypt(plain, associated_data=personal.associated_data)
                    new_index = stored_index
                    if reindex:
                        new_index = ring.blind_index(personal.kind, normalise(personal, plain))
                    if new_value == token and new_index == stored_index:
                        continue
                    report.reencrypted += new_value != token
                    report.reindexed += new_index != stored_index
                    params.append({"rid": row_id, "old": token, "new_value": new_value, "new_index": new_index})
                if params:
                    result = db.connection().execute(rewrite, params)
                    if engine.dialect.supports_sane_multi_rowcount and result.rowcount >= 0:
                        report.changed_meanwhile += len(params) - result.rowcount
                    done += len(params)
                last_id = rows[-1][0]
            report.batches += 1
            if progress is not None:
                progress(report)
        report.by_field[personal.name] = done
    return report


def check(*, engine: Engine, batch_size: int = 1000, ring: KeyRing | None = None) -> KeyCheckReport:
    """Verifies that every personal value decrypts with the configured keys and that its blind index is current."""
    ring = ring or keyring()
    report = KeyCheckReport()
    for personal in ENCRYPTED_FIELDS:
        column = getattr(Resident, personal.column)
        index_column = getattr(Resident, personal.index_column)
        last_id = 0
        while True:
            with transaction(engine, write=False) as db:
                stmt = select(Resident.id, column, index_column).where(Resident.id > last_id, column.is_not(None))
                rows = db.execute(stmt.order_by(Resident.id).limit(batch_size)).all()
            if not rows:
                break
            for row_id, token, stored_index in rows:
                report.values += 1
                report.by_key[key_id_of(token)] += 1
                try:
                    plain = ring.decrypt(token, associated_data=personal.associated_data)
                except KeyError_ as exc:
                    report.failures.append((personal.name, row_id, str(exc)))
                    continue
                if ring.blind_index(personal.kind, normalise(personal, plain)) != stored_index:
                    report.stale_indexes += 1
            last_id = rows[-1][0]
    return report
