"""`gridgov triage`: train, evaluate and try a classifier on a district's own history; manage the model
versions intake uses; find hotspots (高频事项) in an exported history.

Exit status: 0 on success; 1 when the input cannot be used (nothing written), with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gridgov.core.db import transaction
from gridgov.core.errors import DomainError, InputError, Issue, NotFoundError
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.triage import files, registry

if TYPE_CHECKING:
    from gridgov.domains.triage.model import Classifier, Evaluation

NAME = "triage"
app = typer.Typer(
    help="AI triage: train and evaluate the text classifier, manage its versions, find hotspots (高频事项).",
    no_args_is_help=True,
)
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


# --- classifier: train, evaluate, predict -------------------------------------------------------------------------

SHOWN_SKIPPED = 10
CONFUSION_MATRIX_MAX = 12  # more labels than this: the top confusions instead of the whole matrix


def _classifier_error(error: InputError) -> NoReturn:
    """Prints an unusable input's problems to stderr and exits 1 (nothing was written)."""
    for line in str(error).splitlines():
        err_console.print(line, markup=False)
    raise typer.Exit(1)


def _print_read(data: files.TrainingData) -> None:
    skipped = len(data.rows_skipped)
    console.print(
        f"read {data.source}: {data.rows_used:,} rows used, {skipped:,} skipped; {len(data.class_counts)} classes",
        markup=False,
    )
    for issue in data.rows_skipped[:SHOWN_SKIPPED]:
        console.print(f"  skipped {issue}", markup=False)
    if skipped > SHOWN_SKIPPED:
        console.print(f"  … and {skipped - SHOWN_SKIPPED} more rows without a text or a label", markup=False)


def _write_json(path: Path, document: object) -> None:
    import json

    from gridgov.domains.triage.model import write_atomic

    try:
        write_atomic(path, json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8"))
    except OSError as exc:
        _classifier_error(InputError([Issue(str(path), f"cannot write: {exc.strerror or exc}")], "not written"))
    console.print(f"wrote {path}", markup=False)


@app.command("train")
def train_command(
    data: Annotated[Path, typer.Argument(help="labelled history: .xlsx, or .csv (UTF-8, with or without BOM, or GBK)")],
    text_col: Annotated[
        list[str], typer.Option("--text-col", help="column holding the text (诉求内容); repeat to join several (标题)")
    ],
    label_col: Annotated[str, typer.Option("--label-col", help="label column (事项类型, 问题分类, 承办单位)")],
    out: Annotated[Path, typer.Option("--out", help="the model file to write (replaced only when training succeeds)")],
    sheet: Annotated[str | None, typer.Option(help="XLSX sheet (default: the first)")] = None,
    no_search: Annotated[
        bool, typer.Option("--no-search", help="skip the parameter search: train with --c (default: the demo's)")
    ] = False,
    folds: Annotated[
        int | None,
        typer.Option("--folds", min=0, help="cross-validation folds (default: 5 with the search, none without)"),
    ] = None,
    c: Annotated[
        float | None, typer.Option("--c", min=0.0001, help="regularisation C with --no-search (larger: less)")
    ] = None,
) -> None:
    """Train a classifier on labelled history; its parameters chosen by cross-validated macro-F1."""
    import time

    from gridgov.domains.triage import model

    if c is not None and not no_search:
        _classifier_error(InputError([Issue("--c", "give --c with --no-search (the search chooses C itself)")]))
    started = time.perf_counter()
    try:
        training = files.read_training(data, text_columns=text_col, label_column=label_col, sheet=sheet)
        _print_read(training)
        classifier = model.train(
            training.texts,
            training.labels,
            text_columns=text_col,
            label_column=label_col,
            source=training.source_meta(),
            search=not no_search,
            params={"C": c} if c is not None else None,
            folds=folds,
            progress=lambda line: console.print(line, markup=False),
        )
        payload = classifier.to_bytes()
        model.write_atomic(out, payload)
    except InputError as error:
        _classifier_error(error)
    except OSError as exc:
        _classifier_error(InputError([Issue(str(out), f"cannot write: {exc.strerror or exc}")], "model not written"))
    meta = classifier.meta
    dropped = meta["dropped_classes"]
    if dropped:
        shown = ", ".join(f"{label} ({count})" for label, count in dropped.items())
        console.print(
            f"[yellow]dropped {len(dropped)} class(es) with fewer than 2 examples (they cannot be "
            f"cross-validated, and the model will never suggest them):[/yellow] {escape(shown)}"
        )
    counts = meta["class_counts"]
    smallest = min(counts, key=lambda label: (counts[label], label))
    largest = max(counts, key=lambda label: (counts[label], label))
    console.print(
        f"{len(counts)} classes, {meta['training_size']:,} texts (smallest {smallest}: {counts[smallest]}, "
        f"largest {largest}: {counts[largest]})",
        markup=False,
    )
    params = meta["params"]
    console.print(f"parameters: C={params['C']:g}, char n-grams {params['char_ngram'][0]}–{params['char_ngram'][1]}")
    cv = meta["cv"]
    if cv:
        console.print(
            f"cross-validated ({cv['folds']} folds): macro-F1 {cv['macro_f1']:.3f}, accuracy {cv['accuracy']:.3f}, "
            f"top-3 accuracy {cv['top3_accuracy']:.3f}"
        )
    else:
        console.print("not cross-validated (--no-search without --folds)")
    seconds = time.perf_counter() - started
    console.print(f"wrote {out} ({len(payload) / 1e6:.1f} MB) in {seconds:.1f} s", markup=False)


@app.command("evaluate")
def evaluate_command(
    data: Annotated[Path, typer.Option("--data", help="labelled texts: .xlsx or .csv (UTF-8 or GBK)")],
    model_file: Annotated[
        Path | None, typer.Option("--model", help="score this model on DATA (held out: not trained on)")
    ] = None,
    cv: Annotated[
        int | None, typer.Option("--cv", min=2, help="instead: cross-validate a new classifier on DATA, K folds")
    ] = None,
    text_col: Annotated[
        list[str] | None, typer.Option("--text-col", help="text column(s) (default with --model: the model's)")
    ] = None,
    label_col: Annotated[
        str | None, typer.Option("--label-col", help="label column (default with --model: the model's)")
    ] = None,
    sheet: Annotated[str | None, typer.Option(help="XLSX sheet (default: the first)")] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="write the evaluation (full confusion matrix) to this file")
    ] = None,
) -> None:
    """Score a model on held-out data (--model), or cross-validate on DATA (--cv K): per class and overall."""
    from gridgov.domains.triage import model

    if (model_file is None) == (cv is None):
        _classifier_error(InputError([Issue("evaluate", "give either --model MODEL or --cv K (not both)")]))
    try:
        classifier = meta = None
        if model_file is not None:
            classifier = model.Classifier.load(model_file)
            meta = classifier.meta
            text_col = text_col or list(meta.get("text_columns") or [])
            label_col = label_col or meta.get("label_column")
        if not text_col or not label_col:
            _classifier_error(InputError([Issue("evaluate", "name the --text-col and --label-col of DATA")]))
        evaluation_data = files.read_training(
            data, text_columns=text_col, label_column=label_col, sheet=sheet, min_classes=1 if classifier else 2
        )
        _print_read(evaluation_data)
        if classifier is not None:
            result = model.evaluate(classifier, evaluation_data.texts, evaluation_data.labels)
        else:
            result = model.cross_validate(
                evaluation_data.texts,
                evaluation_data.labels,
                folds=cv or 5,
                progress=lambda line: console.print(line, markup=False),
            )
    except InputError as error:
        _classifier_error(error)
    _print_evaluation(result, classifier)
    if json_out is not None:
        document = {
            "data": evaluation_data.source_meta(),
            "model": {"file": str(model_file), **{k: meta.get(k) for k in ("trained_at", "params", "cv")}}
            if meta
            else None,
            **result.to_dict(),
        }
        _write_json(json_out, document)


def _print_evaluation(result: Evaluation, classifier: Classifier | None) -> None:
    known = set(classifier.labels) if classifier is not None else None
    table = Table(title=f"per class ({'cross-validated' if result.kind == 'cv' else 'held-out data'})")
    for column in ("label", "precision", "recall", "F1", "support"):
        table.add_column(column, justify="left" if column == "label" else "right")
    for label in result.labels:
        scores = result.per_class[label]
        note = " (unknown to the model)" if known is not None and label not in known else ""
        table.add_row(
            escape(label + note),
            f"{scores['precision']:.3f}",
            f"{scores['recall']:.3f}",
            f"{scores['f1']:.3f}",
            str(scores["support"]),
        )
    console.print(table)
    folds = f", {result.folds} folds" if result.folds else ""
    console.print(
        f"{result.n:,} texts{folds}: macro-F1 {result.macro_f1:.3f}, weighted-F1 {result.weighted_f1:.3f}, "
        f"accuracy {result.accuracy:.3f}"
        + (f", top-3 accuracy {result.top3_accuracy:.3f}" if result.top3_accuracy is not None else "")
    )
    if result.dropped_classes:
        shown = ", ".join(f"{label} ({count})" for label, count in result.dropped_classes.items())
        console.print(f"[yellow]left out, fewer than 2 examples:[/yellow] {escape(shown)}")
    if len(result.labels) <= CONFUSION_MATRIX_MAX:
        matrix = Table(title="confusion matrix (rows: true label, columns: predicted)")
        matrix.add_column("true \\ predicted")
        for label in result.labels:
            matrix.add_column(escape(label), justify="right")
        for label, row in zip(result.labels, result.confusion, strict=True):
            matrix.add_row(escape(label), *(str(n) if n else "·" for n in row))
        console.print(matrix)
        return
    confusions = result.top_confusions(15)
    if not confusions:
        console.print("no confusions: every text got its true label")
        return
    console.print("most frequent confusions (true → predicted: texts; the JSON has the whole matrix):")
    for true, predicted, count in confusions:
        console.print(f"  {true} → {predicted}: {count}", markup=False)


@app.command("predict")
def predict_command(
    model_file: Annotated[Path, typer.Argument(metavar="MODEL", help="a model file from `gridgov triage train`")],
    texts: Annotated[list[str], typer.Argument(metavar="TEXT...", help="one or more descriptions to classify")],
    top: Annotated[int, typer.Option(min=1, help="labels shown per text")] = 3,
    words: Annotated[int, typer.Option(min=0, help="words shown that drove the best label (0: none)")] = 8,
) -> None:
    """Classify texts: the top labels with probabilities, and the words that drove the best one."""
    from gridgov.domains.triage import model

    try:
        classifier = model.Classifier.load(model_file)
    except InputError as error:
        _classifier_error(error)
    for text, prediction in zip(texts, classifier.predict(texts, top=top, explain=words), strict=True):
        console.print(text, markup=False)
        for rank, suggestion in enumerate(prediction.suggestions, start=1):
            console.print(f"  {rank}. {suggestion.label}  {suggestion.probability:.3f}", markup=False)
        if prediction.words:
            shown = ", ".join(f"{word} ({weight:.2f})" for word, weight in prediction.words)
            console.print(f"  words: {shown}", markup=False)


@app.command("info")
def info_command(
    model_file: Annotated[Path, typer.Argument(metavar="MODEL", help="a model file from `gridgov triage train`")],
    as_json: Annotated[bool, typer.Option("--json", help="print the whole metadata as JSON")] = False,
) -> None:
    """Show a model file's metadata (read without loading the model): labels, data, scores, versions."""
    import json

    from gridgov.domains.triage import model

    try:
        meta = model.read_meta_file(model_file)
    except InputError as error:
        _classifier_error(error)
    if as_json:
        typer.echo(json.dumps(meta, ensure_ascii=False, indent=2))
        return
    labels, source, params, cv = meta.get("labels", []), meta.get("source") or {}, meta.get("params") or {}, meta["cv"]
    lines = [
        f"{model_file}: {meta['format']} format version {meta['format_version']}",
        f"trained {meta.get('trained_at')} on {meta.get('training_size', 0):,} texts of {source.get('file') or '?'}"
        + (f" (sha256 {source['sha256'][:12]}…)" if source.get("sha256") else ""),
        f"columns: text {' + '.join(meta.get('text_columns', []))}, label {meta.get('label_column')}",
        f"{len(labels)} labels: {', '.join(labels[:12])}{' …' if len(labels) > 12 else ''}",
        f"parameters: C={params.get('C', 0):g}, char n-grams {'–'.join(map(str, params.get('char_ngram', [])))}",
    ]
    if meta.get("dropped_classes"):
        lines.append(f"dropped (fewer than 2 examples): {', '.join(meta['dropped_classes'])}")
    if cv:
        lines.append(
            f"cross-validated ({cv['folds']} folds): macro-F1 {cv['macro_f1']:.3f}, accuracy {cv['accuracy']:.3f}, "
            f"top-3 accuracy {cv['top3_accuracy']:.3f}"
        )
    else:
        lines.append("not cross-validated")
    lines.append("versions: " + ", ".join(f"{k} {v}" for k, v in (meta.get("versions") or {}).items()))
    for line in lines:
        console.print(line, markup=False)
    problem = model.incompatibility(meta)
    if problem:
        console.print(f"[yellow]cannot be loaded here:[/yellow] {escape(problem)}")


# --- model versions: add, activate, list ------------------------------------------------------------------------

VERSIONS_ACTOR = Actor(name="triage models (command line)", role=Role.system)


@app.command("add")
def add_model(
    model: Annotated[Path, typer.Argument(help="a model file written by `gridgov triage train`")],
    note: Annotated[str | None, typer.Option(help="why this version (kept with it)")] = None,
    activate: Annotated[bool, typer.Option("--activate", help="make it the model intake uses at once")] = False,
) -> None:
    """Store a model file as the next version (its labels resolved through the catalogue)."""
    try:
        data = model.read_bytes()
    except OSError as exc:
        _fail_with(f"{model}: cannot read the file: {exc.strerror or exc}")
    try:
        with transaction() as db:
            row = registry.add_model(db=db, data=data, actor=VERSIONS_ACTOR, note=note, source=str(model))
            if activate:
                registry.activate(db=db, version=row.version, actor=VERSIONS_ACTOR)
            version, target, unresolved = row.version, row.label_target, list(row.meta.get("unresolved_labels", []))
            labels = len(row.meta.get("labels", []))
    except (DomainError, InputError, NotFoundError) as exc:
        _fail_with(str(exc), exc)
    state = "active" if activate else f"stored (activate with `gridgov triage activate {version}`)"
    console.print(f"version {version}: {labels} labels → {target}s; {state}")
    if unresolved:
        shown = ", ".join(unresolved[:20]) + (" …" if len(unresolved) > 20 else "")
        console.print(
            f"[yellow]{len(unresolved)} labels are not in the catalogue (cases never get them): {shown}[/yellow]"
        )


@app.command("activate")
def activate_model(version: Annotated[int, typer.Argument(help="the version to use at intake")]) -> None:
    """Make a stored version the model intake uses (the previous one stays stored for a roll-back)."""
    try:
        with transaction() as db:
            registry.activate(db=db, version=version, actor=VERSIONS_ACTOR)
    except (DomainError, InputError, NotFoundError) as exc:
        _fail_with(str(exc), exc)
    console.print(f"version {version} is active")


@app.command("deactivate")
def deactivate_model() -> None:
    """Stop classifying at intake (reports must then name their matter type)."""
    with transaction() as db:
        row = registry.deactivate(db=db, actor=VERSIONS_ACTOR)
        version = row.version if row else None
    console.print(f"version {version} is no longer active" if version else "no version was active")


@app.command("models")
def list_models() -> None:
    """List the stored versions: which is active, when trained, on how much data, and how well."""
    with transaction() as db:
        rows = [registry.summary(row) for row in registry.list_models(db=db)]
    if not rows:
        console.print("no model stored; train one (`gridgov triage train`) and add it (`gridgov triage add`)")
        return
    table = Table("version", "active", "trained", "texts", "labels", "→", "CV macro-F1", "accuracy", "note")
    for row in rows:
        table.add_row(
            str(row.version),
            "●" if row.active else "",
            (row.trained_at or "")[:16],
            f"{row.training_size:,}" if row.training_size is not None else "—",
            f"{row.labels}" + (f" ({row.unresolved} unknown)" if row.unresolved else ""),
            str(row.label_target),
            f"{row.cv_macro_f1:.3f}" if row.cv_macro_f1 is not None else "—",
            f"{row.cv_accuracy:.3f}" if row.cv_accuracy is not None else "—",
            row.note or "",
        )
    console.print(table)


def _fail_with(message: str, error: Exception | None = None) -> NoReturn:
    err_console.print(f"[red]error:[/red] {message}")
    if isinstance(error, InputError):
        for issue in error.issues:
            err_console.print(f"  {issue}")
    raise typer.Exit(1)


# --- hotspots ---------------------------------------------------------------------------------------------------


def _hotspot_error(message: str, error: InputError | None = None) -> NoReturn:
    from rich.markup import escape

    # NOTE: every data string is escaped: file names, column names and cell values may hold [ ] (rich markup).
    err_console.print(f"[red]error:[/red] {escape(message if error is None else error.summary)}")
    for issue in error.issues if error is not None else []:
        err_console.print(f"  - {escape(str(issue))}")
    raise typer.Exit(1)


@app.command("hotspots")
def hotspots_command(
    data: Annotated[Path, typer.Argument(help="an exported history: .xlsx or .csv (UTF-8 or GBK)")],
    text_col: Annotated[
        list[str], typer.Option("--text-col", help="column holding the text; repeat to join several (标题, 内容)")
    ],
    time_col: Annotated[str, typer.Option("--time-col", help="column holding the report time (受理时间)")],
    id_col: Annotated[
        str | None, typer.Option("--id-col", help="column holding each row's id (default: row number)")
    ] = None,
    likes_col: Annotated[str | None, typer.Option("--likes-col", help="column holding likes / supporters")] = None,
    lng_col: Annotated[str | None, typer.Option("--lng-col", help="longitude column (with --lat-col)")] = None,
    lat_col: Annotated[str | None, typer.Option("--lat-col", help="latitude column (with --lng-col)")] = None,
    crs: Annotated[str, typer.Option(help="coordinate system of the file: wgs84, gcj02 or bd09")] = "wgs84",
    sheet: Annotated[str | None, typer.Option(help="XLSX sheet (default: the first)")] = None,
    window_days: Annotated[
        float | None, typer.Option("--window-days", help="the last N days up to the newest message")
    ] = None,
    since: Annotated[str | None, typer.Option(help="window start: a date or a time (district time zone)")] = None,
    until: Annotated[str | None, typer.Option(help="window end: a time, or a date (its whole day included)")] = None,
    min_size: Annotated[int | None, typer.Option("--min-size", help="default: GRIDGOV_HOTSPOT_MIN_SIZE")] = None,
    min_similarity: Annotated[
        float | None, typer.Option("--min-similarity", help="default: GRIDGOV_HOTSPOT_MIN_SIMILARITY")
    ] = None,
    radius_m: Annotated[float | None, typer.Option("--radius-m", help="default: GRIDGOV_HOTSPOT_RADIUS_M")] = None,
    top: Annotated[int, typer.Option(min=1, help="hotspots shown in the table (the JSON holds all)")] = 10,
    json_out: Annotated[Path | None, typer.Option("--json", help="write every hotspot, in full, to this file")] = None,
) -> None:
    """Find hotspots (高频事项) in an exported history: clusters of similar messages, ranked by heat."""
    # NOTE: imported here: the classifier commands above need none of this, and `gridgov --help` stays fast.
    import datetime as dt
    import json
    import time

    from rich.markup import escape

    from gridgov.config import get_settings
    from gridgov.core.geo import Crs
    from gridgov.domains.triage import hotspot_files, hotspots

    settings = get_settings()
    tz = settings.tz
    if window_days is not None and (since or until):
        _hotspot_error("give either --window-days or --since/--until, not both")
    if window_days is not None and window_days <= 0:
        _hotspot_error("--window-days must be more than 0")
    try:
        coordinates = Crs(crs)
    except ValueError:
        _hotspot_error(f"unknown --crs {crs!r}: use wgs84, gcj02 or bd09")
    try:
        start = hotspot_files.parse_time(since, tz) if since else None
        end = hotspot_files.parse_time(until, tz) if until else None
    except ValueError as exc:
        _hotspot_error(f"--since/--until: {exc}")
    if end is not None and until and ":" not in until and "时" not in until:
        end += dt.timedelta(days=1)  # a date alone: the whole day
    try:
        options = hotspots.HotspotOptions(
            min_size=min_size if min_size is not None else settings.hotspot_min_size,
            min_similarity=min_similarity if min_similarity is not None else settings.hotspot_min_similarity,
            radius_m=radius_m if radius_m is not None else settings.hotspot_radius_m,
        )
    except ValueError as exc:
        _hotspot_error(str(exc))
    try:
        history = hotspot_files.read_history(
            data,
            text_columns=text_col,
            time_column=time_col,
            tz=tz,
            id_column=id_col,
            likes_column=likes_col,
            lng_column=lng_col,
            lat_column=lat_col,
            crs=coordinates,
            sheet=sheet,
        )
    except InputError as exc:
        _hotspot_error(str(exc), exc)
    times = [m.at for m in history.messages]
    end = end or max(times)
    start = start or (end - dt.timedelta(days=window_days) if window_days is not None else min(times))
    if end <= start:
        _hotspot_error(f"the window ends ({end.isoformat()}) before it starts ({start.isoformat()})")
    in_window = sum(1 for t in times if start <= t <= end)
    started = time.perf_counter()
    found = hotspots.find_hotspots(history.messages, start=start, end=end, options=options)
    seconds = time.perf_counter() - started

    def local(value: dt.datetime) -> str:
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")

    console.print(
        f"{escape(history.source)}: {in_window} messages in {local(start)} – {local(end)} "
        f"({history.unlocated} without coordinates, {history.empty_texts} empty rows skipped); "
        f"{len(found)} hotspot{'s' if len(found) != 1 else ''} in {seconds:.1f} s"
    )
    if found:
        table = Table()
        table.add_column("#", justify="right", no_wrap=True)
        table.add_column("heat", justify="right", no_wrap=True)
        table.add_column("count", justify="right", no_wrap=True)
        table.add_column("span", no_wrap=True)
        table.add_column("title", ratio=3, overflow="fold")
        table.add_column("keywords", ratio=2, overflow="fold")
        for rank, spot in enumerate(found[:top], start=1):
            first, last = spot.first_at.astimezone(tz), spot.last_at.astimezone(tz)
            span = f"{first:%m-%d %H:%M} – {last:%m-%d %H:%M}"
            keywords = "、".join(spot.keywords)
            table.add_row(str(rank), f"{spot.heat:.1f}", str(spot.size), span, escape(spot.title), escape(keywords))
        console.print(table)
        if len(found) > top:
            console.print(f"… and {len(found) - top} more (--top, or --json for all)")
    if json_out is not None:
        document = {
            "source": history.source,
            "window": {"start": start.isoformat(), "end": end.isoformat()},
            "options": {
                "min_size": options.min_size,
                "min_similarity": options.min_similarity,
                "radius_m": options.radius_m,
            },
            "columns": history.columns,
            "messages": in_window,
            "unlocated": history.unlocated,
            "empty_rows": history.empty_texts,
            "seconds": round(seconds, 3),
            "hotspots": [{"rank": rank, **spot.as_dict()} for rank, spot in enumerate(found, start=1)],
        }
        try:
            json_out.write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
        except OSError as exc:
            _hotspot_error(f"{json_out}: cannot write: {exc.strerror or exc}")
        console.print(f"wrote {escape(str(json_out))}")
