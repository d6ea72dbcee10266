"""The demo corpus and the shipped default model trained from it.

The corpus (`gridgov/demo/data/triage/corpus-*.yaml`: matter type code → descriptions) was written for the
project: varied Chinese reports in the voices of citizens, 12345 operators and grid workers, at least 34 per
demo matter type. `gridgov demo load` trains the default model from it with the parameters the
cross-validated search chose (docs/triage.md has the scores), adds it as a version and activates it.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import stat
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from sqlalchemy.orm import Session

from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.triage import registry
from gridgov.domains.triage.text import LEXICON

if TYPE_CHECKING:
    from gridgov.domains.triage.model import Classifier

TEXT_COLUMN, LABEL_COLUMN = "问题描述", "事项编码"
CV_FOLDS = 5  # the default model records its cross-validated scores (docs/triage.md)
DEMO_ACTOR = Actor(name="gridgov demo", role=Role.system)


def corpus() -> list[tuple[str, str]]:
    """Returns the demo corpus as (text, matter type code) pairs, in file order."""
    folder = resources.files("gridgov.demo").joinpath("data/triage")
    pairs: list[tuple[str, str]] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.startswith("corpus-") and entry.name.endswith(".yaml"):
            document = yaml.safe_load(entry.read_text(encoding="utf-8")) or {}
            pairs.extend((str(text), str(code)) for code, texts in document.items() for text in texts)
    return pairs


def corpus_csv() -> str:
    """Returns the demo corpus as CSV with the Chinese column names of an export (问题描述, 事项编码)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([TEXT_COLUMN, LABEL_COLUMN])
    writer.writerows(corpus())
    return out.getvalue()


def default_model_bytes() -> bytes:
    """Returns the default model file, trained once per corpus and library version, then kept in this user's
    private cache (~/.cache/gridgov): training is deterministic, so every demo load (and test) would train the same
    model. A cached file that someone else could have written is ignored and trained again."""
    # NOTE: imported here: scikit-learn loads only when a model is trained.
    from gridgov.domains.triage.model import DEFAULT_PARAMS, FORMAT_VERSION, versions, write_atomic

    pairs = corpus()
    recipe = [pairs, DEFAULT_PARAMS, CV_FOLDS, FORMAT_VERSION, versions(), LEXICON.read_bytes().hex()]
    key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    cached = _cache_dir() / f"demo-triage-{key}.model"
    if _private(cached):
        return cached.read_bytes()
    data = train_default(pairs).to_bytes()
    write_atomic(cached, data)
    cached.chmod(0o600)
    return data


def _cache_dir() -> Path:
    """Returns this user's private cache folder (mode 0700): a model file is code, so nobody else may plant one."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gridgov"
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    return base


def _private(path: Path) -> bool:
    """Tells whether `path` and its folder exist, belong to this user and are writable by nobody else."""
    try:
        for item in (path.parent, path):
            info = item.stat()
            if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                return False
    except FileNotFoundError:
        return False
    return True


def train_default(pairs: list[tuple[str, str]] | None = None) -> Classifier:
    """Trains the default model on the demo corpus with the parameters the search chose (model.DEFAULT_PARAMS),
    cross-validating them for the record."""
    from gridgov.domains.triage.model import train

    pairs = pairs if pairs is not None else corpus()
    texts, labels = [t for t, _ in pairs], [c for _, c in pairs]
    source = {"file": "gridgov demo corpus", "rows": len(pairs), "built": dt.date.today().isoformat()}
    return train(
        texts,
        labels,
        text_columns=(TEXT_COLUMN,),
        label_column=LABEL_COLUMN,
        source=source,
        search=False,
        folds=CV_FOLDS,
    )


def load_default_model(*, db: Session) -> dict[str, int]:
    """Trains the default model, stores it as a version and activates it; returns what the demo report shows."""
    row = registry.add_model(
        db=db, data=default_model_bytes(), actor=DEMO_ACTOR, note="demo corpus default", source="demo model"
    )
    registry.activate(db=db, version=row.version, actor=DEMO_ACTOR)
    return {"triage model labels": len(row.meta["labels"]), "triage training texts": row.meta["training_size"]}
