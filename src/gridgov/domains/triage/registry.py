"""The classifier's versions in the database, the one intake uses, and classification at intake.

A model file (`gridgov triage train`) is added as the next version; its labels are resolved through the
catalogue — matter type codes or names, or the 12345 categories of the catalogue's crosswalk, or handling
units — and one version is active. Every app process loads the active version's bytes once (checked against its
sha256) and re-reads only when another version becomes active.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gridgov.core import clock
from gridgov.core.errors import Conflict, InputError, Invalid, NotFoundError
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.schemas import Actor, AuditRecord
from gridgov.domains.catalog.models import MatterType, Unit
from gridgov.domains.triage.enums import LabelTarget
from gridgov.domains.triage.models import TriageModel
from gridgov.domains.triage.text import clean_text

if TYPE_CHECKING:
    from gridgov.domains.triage.model import Classifier, Prediction

log = logging.getLogger(__name__)

SUGGESTIONS = 3  # what the dispatcher's queue shows for a case the model was unsure of
EXPLAINED_WORDS = 5


@dataclass(frozen=True)
class LabelMap:
    """How a model's labels resolve in the catalogue: label → matter type code (or unit code)."""

    target: LabelTarget
    codes: dict[str, str]
    names: dict[str, str]
    unresolved: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Classification:
    """A text's classification by the active model, resolved to the catalogue (what a case stores)."""

    code: str  # the matter type (or unit) code of the best label
    confidence: float
    model_version: int
    target: LabelTarget
    suggestions: list[dict[str, Any]]  # top labels: {code, name, label, probability}
    words: list[str]

    def as_case_data(self) -> dict[str, Any]:
        """Returns the classification as stored on the case (`Case.classification`)."""
        return {
            "label": self.code,
            "confidence": round(self.confidence, 4),
            "model": f"v{self.model_version}",
            "target": str(self.target),
            "suggestions": self.suggestions,
            "words": self.words,
        }


@dataclass(frozen=True)
class ModelSummary:
    """What a stored version is, read from its metadata (no unpickling)."""

    version: int
    active: bool
    sha256: str
    size_bytes: int
    label_target: LabelTarget
    labels: int
    unresolved: int
    training_size: int | None
    trained_at: str | None
    cv_macro_f1: float | None
    cv_accuracy: float | None
    note: str | None
    added_at: str
    activated_at: str | None


def summary(row: TriageModel) -> ModelSummary:
    """Returns a stored version's summary for listings."""
    meta, cv = row.meta or {}, (row.meta or {}).get("cv") or {}
    return ModelSummary(
        version=row.version,
        active=row.is_active,
        sha256=row.sha256,
        size_bytes=row.size_bytes,
        label_target=row.label_target,
        labels=len(meta.get("labels", [])),
        unresolved=len(meta.get("unresolved_labels", [])),
        training_size=meta.get("training_size"),
        trained_at=meta.get("trained_at"),
        cv_macro_f1=cv.get("macro_f1"),
        cv_accuracy=cv.get("accuracy"),
        note=row.note,
        added_at=row.created_at.isoformat(),
        activated_at=row.activated_at.isoformat() if row.activated_at else None,
    )


def resolve_labels(*, db: Session, labels: list[str]) -> LabelMap:
    """Resolves labels to matter types (code, name, or a 12345 category of the crosswalk) or else to units."""
    # NOTE: imported here: the hotline domain imports intake, which imports this module.
    from gridgov.domains.hotline.service import Resolver

    matters = {m.code: m.name for m in db.scalars(select(MatterType).where(MatterType.is_active))}
    by_name: dict[str, list[str]] = {}
    for code, name in matters.items():
        by_name.setdefault(name, []).append(code)
    crosswalk = Resolver(db=db)
    found: dict[str, str] = {}
    for label in labels:
        text = label.strip()
        if text in matters:
            found[label] = text
        elif len(by_name.get(text, [])) == 1:
            found[label] = by_name[text][0]
        elif (code := crosswalk.category(text)) is not None and code in matters:
            found[label] = code
    if len(found) * 2 >= len(labels):
        missing = [label for label in labels if label not in found]
        return LabelMap(LabelTarget.matter_type, found, {c: matters[c] for c in found.values()}, missing)
    units = {u.code: u.name for u in db.scalars(select(Unit).where(Unit.is_active))}
    unit_by_name = {name: code for code, name in units.items()}
    unit_found = {
        label: label.strip() if label.strip() in units else unit_by_name[label.strip()]
        for label in labels
        if label.strip() in units or label.strip() in unit_by_name
    }
    if len(unit_found) > len(found):
        missing = [label for label in labels if label not in unit_found]
        return LabelMap(LabelTarget.unit, unit_found, {c: units[c] for c in unit_found.values()}, missing)
    missing = [label for label in labels if label not in found]
    return LabelMap(LabelTarget.matter_type, found, {c: matters[c] for c in found.values()}, missing)


def add_model(*, db: Session, data: bytes, actor: Actor, note: str | None = None, source: str = "model") -> TriageModel:
    """Stores a model file as the next version (not yet active); refuses a file that is not a model or a copy."""
    from gridgov.domains.triage.model import Classifier  # scikit-learn loads only where a model is used

    classifier = Classifier.from_bytes(data, source=source)
    digest = hashlib.sha256(data).hexdigest()
    existing = db.scalars(select(TriageModel).where(TriageModel.sha256 == digest)).first()
    if existing is not None:
        raise Conflict(f"this model file is already stored as version {existing.version}", code="model_exists")
    labels = resolve_labels(db=db, labels=list(classifier.labels))
    if not labels.codes:
        raise Invalid(
            f"{source}: none of the model's {len(classifier.labels)} labels is a matter type (code or name), a 12345 "
            "category of the catalogue's crosswalk, or a unit; import the crosswalk first (see docs/catalog.md)",
            code="labels_unresolved",
            unresolved=labels.unresolved[:50],
        )
    version = (db.scalar(select(func.max(TriageModel.version))) or 0) + 1
    row = TriageModel(
        version=version,
        sha256=digest,
        label_target=labels.target,
        meta={**classifier.meta, "unresolved_labels": labels.unresolved},
        data=data,
        size_bytes=len(data),
        note=note,
        is_active=False,
        added_by_user_id=actor.user_id,
    )
    try:
        with db.begin_nested():
            db.add(row)
            db.flush()
    except IntegrityError:
        raise Conflict("another model was added at the same time; add this one again", code="model_race") from None
    _audit(db, actor, "triage.model_add", row, {"sha256": digest, "labels": len(classifier.labels)})
    return row


def activate(*, db: Session, version: int, actor: Actor) -> TriageModel:
    """Makes `version` the model intake uses (the previous one stays stored, for a roll-back)."""
    row = get_model(db=db, version=version)
    if row.is_active:
        return row
    load_classifier(row=row)  # a version this gridgov cannot load (another scikit-learn) is refused here
    try:
        with db.begin_nested():
            db.execute(update(TriageModel).where(TriageModel.is_active).values(is_active=False))
            row.is_active = True
            row.activated_at = clock.now()
            row.activated_by_user_id = actor.user_id
            db.flush()
    except IntegrityError:
        raise Conflict(
            "another version was activated at the same time; look again and retry", code="model_race"
        ) from None
    _audit(db, actor, "triage.model_activate", row, {"sha256": row.sha256})
    return row


def deactivate(*, db: Session, actor: Actor) -> TriageModel | None:
    """Switches classification at intake off; returns the version that was active."""
    row = db.scalars(select(TriageModel).where(TriageModel.is_active)).first()
    if row is not None:
        row.is_active = False
        db.flush()
        _audit(db, actor, "triage.model_deactivate", row, {})
    return row


def get_model(*, db: Session, version: int) -> TriageModel:
    """Returns a stored version; 404 when there is none."""
    row = db.scalars(select(TriageModel).where(TriageModel.version == version)).first()
    if row is None:
        raise NotFoundError(f"no triage model version {version}")
    return row


def list_models(*, db: Session) -> list[TriageModel]:
    """Returns every stored version, newest first."""
    return list(db.scalars(select(TriageModel).order_by(TriageModel.version.desc())))


def _audit(db: Session, actor: Actor, action: str, row: TriageModel, detail: dict[str, Any]) -> None:
    record = AuditRecord.of(
        actor, action, target_type="triage_model", target_id=str(row.version), detail={"version": row.version, **detail}
    )
    auth_service.add_audit(db=db, record=record)


LABELS_TTL_S = 60.0  # a crosswalk imported or a matter type retired is seen by every process within a minute

_cache_lock = threading.Lock()
_loaded: LoadedModel | None = None
_failed: dict[tuple[int, str], str] = {}  # versions this process could not load, and why (not retried)


@dataclass(frozen=True)
class LoadedModel:
    """The active version, unpickled once per process; its label map is refreshed every LABELS_TTL_S."""

    version: int
    sha256: str
    classifier: Classifier
    labels: LabelMap
    labels_at: float


def forget() -> None:
    """Drops this process's loaded model, label map and load failures (tests; a long-lived shell)."""
    global _loaded
    with _cache_lock:
        _loaded = None
        _failed.clear()


def load_classifier(*, row: TriageModel) -> Classifier:
    """Unpickles a stored version after checking its bytes against its sha256 (ModelFileError, Conflict)."""
    from gridgov.domains.triage.model import Classifier  # scikit-learn loads only where a model is used

    if hashlib.sha256(row.data).hexdigest() != row.sha256:
        raise Conflict(
            f"the stored bytes of triage model version {row.version} do not match its sha256; add the file again",
            code="model_corrupt",
        )
    return Classifier.from_bytes(row.data, source=f"triage model version {row.version}")


def active_model(*, db: Session) -> LoadedModel | None:
    """Returns the active version, unpickling it only when it differs from the one this process holds.

    A version that cannot be loaded here (corrupt bytes, another scikit-learn) is logged once and treated as no
    model: intake then works as without triage instead of refusing reports.
    """
    global _loaded
    head = db.execute(
        select(TriageModel.id, TriageModel.version, TriageModel.sha256).where(TriageModel.is_active)
    ).first()
    if head is None or (head.version, head.sha256) in _failed:
        return None
    with _cache_lock:
        held = _loaded
        if held is None or (held.version, held.sha256) != (head.version, head.sha256):
            try:
                classifier = load_classifier(row=db.get_one(TriageModel, head.id))
            except (InputError, Conflict) as error:
                _failed[(head.version, head.sha256)] = str(error)
                log.error(
                    "triage model version %s cannot be loaded, intake goes on without it: %s", head.version, error
                )
                return None
            held = None
        if held is None or time.monotonic() - held.labels_at > LABELS_TTL_S:
            labels = resolve_labels(db=db, labels=list(classifier.labels if held is None else held.classifier.labels))
            held = LoadedModel(
                head.version, head.sha256, classifier if held is None else held.classifier, labels, time.monotonic()
            )
            _loaded = held
        return held


def classifies_matter_types(*, db: Session) -> bool:
    """Tells whether an active model gives matter types (so a report may leave its type to the model)."""
    loaded = active_model(db=db)
    return loaded is not None and loaded.labels.target == LabelTarget.matter_type


def classify(*, db: Session, text: str) -> Classification | None:
    """Classifies a report's text with the active model; None when no model is active or no label resolves."""
    loaded = active_model(db=db)
    cleaned = clean_text(text)
    if loaded is None or not cleaned:
        return None
    prediction = loaded.classifier.predict([cleaned], top=SUGGESTIONS + 2, explain=EXPLAINED_WORDS)[0]
    found = _resolve(loaded, prediction)
    if found is None or found.target != LabelTarget.matter_type:
        return found
    # NOTE: a matter type retired since the label map was read is never given to a case.
    codes = [s["code"] for s in found.suggestions]
    active = set(db.scalars(select(MatterType.code).where(MatterType.code.in_(codes), MatterType.is_active)))
    kept = [s for s in found.suggestions if s["code"] in active]
    if not kept:
        return None
    return replace(found, code=kept[0]["code"], confidence=kept[0]["probability"], suggestions=kept)


def _resolve(loaded: LoadedModel, prediction: Prediction) -> Classification | None:
    suggestions = [
        {
            "code": loaded.labels.codes[s.label],
            "name": loaded.labels.names[loaded.labels.codes[s.label]],
            "label": s.label,
            "probability": round(s.probability, 4),
        }
        for s in prediction.suggestions
        if s.label in loaded.labels.codes
    ][:SUGGESTIONS]
    if not suggestions:
        return None
    return Classification(
        code=suggestions[0]["code"],
        confidence=suggestions[0]["probability"],
        model_version=loaded.version,
        target=loaded.labels.target,
        suggestions=suggestions,
        words=[word for word, _ in prediction.words],
    )
