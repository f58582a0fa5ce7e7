"""``dunpai import``: a bank's own history (CSV, Parquet, JSON lines) into a tenant's event log.

Rows become events by a mapping (``mapping.py``, ``convert.py``), in event-time order with each
fraud label at the time it became known. Each batch of events is validated exactly as the API
validates (``parse_event``: a bad row goes to the reject file naming its row, field and problem;
card numbers are tokenised) and committed with the import's progress in one transaction, so an
interrupted import resumes at the batch after the last one committed and a finished one is not
imported twice. Event ids already in the log are reported, not fatal. Then the new events are
replayed through the engine into the tenant's history store (``build.py``).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from dunpai.core.errors import DunpaiError, StateError
from dunpai.risk.events.ingest import PanProtector, event_to_json, pan_in_clear, parse_event
from dunpai.risk.events.schemas import AnyEvent, CardEvent, Label
from dunpai.risk.features.entities import label_category
from dunpai.risk.history.convert import convert, event_dict, iter_rows, ordered, read_source, source_columns
from dunpai.risk.history.fastpath import FastPath
from dunpai.risk.history.mapping import Mapping, duration_secs, load_mapping
from dunpai.risk.storage import repository as repo

BATCH = 20_000
LABEL_FILL = ("card_id", "account_id", "customer_id", "terminal_id", "merchant_id", "device_id", "payee_id", "ip")
Progress = Callable[[int, int, int, list[tuple[int, str]]], None]
"""``progress(done, total, last_seq, committed)``: rows of the ordered source done, of how many, the
log position of the last event committed so far, and the batch just committed as (log position,
body) pairs, in log order (what a replay would read back from the log)."""


@dataclass
class ImportResult:
    import_id: str
    tenant: str
    source: str
    status: str  # imported | resumed | already_imported
    rows: int = 0
    events: int = 0
    labels: int = 0
    reissues: int = 0
    duplicates_in_source: int = 0
    already_in_log: int = 0
    rejected: int = 0
    rejects_file: str | None = None
    resumed_at: int | None = None
    first_seq: int | None = None
    last_seq: int | None = None
    seconds: float = 0.0
    first_rejections: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _Rejects:
    """The reject file: one JSON object a line — ``file``, ``row`` (1-based, in that file),
    ``field`` and ``problem``. Never the values (they may be card numbers or personal data)."""

    def __init__(self, path: Path, keep_rows: int) -> None:
        """Resuming after ``keep_rows`` committed rejected rows: lines of later rows (written before
        a kill, never committed) are dropped."""
        self.path = path
        self.count = keep_rows
        self.first: list[dict[str, Any]] = []
        self._pending: list[str] = []
        kept: list[str] = []
        if keep_rows and path.exists():
            rows: list[tuple[str, int]] = []
            for line in path.read_text(encoding="utf-8").splitlines():
                record = json.loads(line)
                row = (record["file"], record["row"])
                if not rows or rows[-1] != row:
                    rows.append(row)
                if len(rows) > keep_rows:
                    break
                kept.append(line)
        if keep_rows or path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")

    def add(self, row: tuple[str, int], problems: list[tuple[str, str]]) -> None:
        for field_name, problem in problems:
            record = {"file": row[0], "row": row[1], "field": field_name, "problem": problem}
            self._pending.append(json.dumps(record, ensure_ascii=False))
            if len(self.first) < 5:
                self.first.append(record)
        self.count += 1

    def flush(self) -> None:
        """Write this batch's lines (before the batch commits: a kill then leaves lines that a
        resume drops, never a committed reject without its line)."""
        if not self._pending:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write("".join(line + "\n" for line in self._pending))
        self._pending = []


def _problems(exc: DunpaiError) -> list[tuple[str, str]]:
    return [(p.field, p.problem) for p in exc.problems] or [("$", exc.message)]


def _label(mapping: Mapping, event: AnyEvent, row: dict[str, Any]) -> dict[str, Any]:
    spec = mapping.spec.labels
    assert spec is not None
    if spec.time is not None:
        when = row["__label_time"]
    else:
        when = (event.event_time + timedelta(seconds=duration_secs(spec.delay or "0s"))).isoformat()
    label: dict[str, Any] = {
        "type": "label", "event_id": f"{event.event_id}.label"[:128], "event_time": when,
        "target_event_id": event.event_id, "target_event_time": event.event_time.isoformat(), "fraud": True,
        "source": spec.source, "blocks_card": spec.blocks_card,
    }
    for name in LABEL_FILL:
        value = getattr(event, name, None)
        if value is not None:
            label[name] = value
    category = label_category({"category": getattr(event, "category", None), "mcc": getattr(event, "mcc", None)})
    if category is not None:
        label["category"] = category
    attributes = getattr(event, "attributes", None)
    if attributes:
        texts = {k: v for k, v in attributes.items() if isinstance(v, str)}
        if texts:
            label["attributes"] = texts
    return label


def _without_pan(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k != "pan"}


def _token(protector: PanProtector | None, value: str) -> str:
    if protector is None:
        raise ValueError("no card-number token key")
    return protector.token(value)


def _reissue(mapping: Mapping, event: AnyEvent, row: dict[str, Any]) -> dict[str, Any] | None:
    """The card event that replaces a card blocked by this row's fraud label."""
    spec = mapping.spec.labels
    card = getattr(event, "card_id", None)
    if spec is None or spec.reissue_after is None or not spec.blocks_card or card is None:
        return None
    when = datetime.fromisoformat(_label(mapping, event, row)["event_time"])
    return {"type": "card", "action": "reissue", "event_id": f"{event.event_id}.reissue"[:128],
            "event_time": (when + timedelta(seconds=duration_secs(spec.reissue_after))).isoformat(),
            "card_id": card, "account_id": getattr(event, "account_id", None), "customer_id": event.customer_id}


def import_files(db: Any, sources: list[Path], mapping_path: Path, tenant: str, rejects_path: Path,
                protector: PanProtector | None, clock: Callable[[], float] = time.time,
                progress: Progress | None = None, batch: int = BATCH,
                stop_after: int | None = None) -> ImportResult:
    """Import ``sources`` (files of one layout) into ``tenant``'s event log by the mapping at
    ``mapping_path`` (idempotent, resumable). ``stop_after`` (for tests) stops after that many
    committed batches, as a kill would."""
    started = time.perf_counter()
    mapping_text = mapping_path.read_text(encoding="utf-8")
    mapping = load_mapping(mapping_text)
    lf = read_source(sources, mapping, sources[0].parent)
    mapping.check_columns(source_columns(lf))
    mapping.check_derived(lf)
    digest = hashlib.sha256()
    for path in sources:
        digest.update(sha256_file(path).encode())
    source_sha = digest.hexdigest()
    mapping_sha = hashlib.sha256(mapping_text.encode()).hexdigest()
    name = sources[0].name if len(sources) == 1 else f"{sources[0].name} (+{len(sources) - 1})"
    import_id = hashlib.sha256(f"{tenant}\0{source_sha}\0{mapping_sha}".encode()).hexdigest()[:32]
    with db.begin() as conn:
        run = repo.import_run_txn(conn, import_id)
    result = ImportResult(import_id, tenant, name, "imported")
    if run is not None and run["status"] == "done":
        result.status = "already_imported"
        for key in ("events", "labels", "rejected", "first_seq", "last_seq"):
            setattr(result, key, run[key])
        result.seconds = time.perf_counter() - started
        return result
    frame, plan = convert(mapping, lf)
    order = ordered(frame, mapping)
    total = len(order)
    result.rows = len(frame)
    position = 0
    if run is not None:
        position = int(run["position"])
        result.status, result.resumed_at = "resumed", position
        for key in ("events", "labels", "rejected", "first_seq"):
            setattr(result, key, run[key])
        result.duplicates_in_source = int(run["duplicates"])
    now = clock()
    run = run or {"import_id": import_id, "tenant": tenant, "source_name": name[:256],
                  "source_sha256": source_sha, "mapping_sha256": mapping_sha, "status": "running", "position": 0,
                  "total": total, "events": 0, "labels": 0, "duplicates": 0, "rejected": 0, "first_seq": None,
                  "last_seq": None, "started_at": now, "updated_at": now}
    rejects = _Rejects(rejects_path, keep_rows=int(run["rejected"]))
    seen: dict[str, str] = {}
    pending: list[tuple[tuple[str, int], AnyEvent, str | None]] = []
    committed = 0
    fast = FastPath(plan, dict(frame.schema), protector)
    for pos, kind, row, checked in iter_rows(frame, order, start=position, batch=batch, check=fast.accepted):
        raw, problems = event_dict(row, plan, checked)
        event = masked = None
        for field_name, prefix in plan.tokens:
            if field_name in raw:
                try:
                    raw[field_name] = prefix + _token(protector, str(raw[field_name]))
                except (ValueError, DunpaiError):
                    problems.append((field_name, "is not a card number (token: true reads card numbers)"))
        if isinstance(raw.get("pan"), str) and (leak := pan_in_clear(raw["pan"], _without_pan(raw))) is not None:
            problems.append((leak, "holds the card number in clear (map it with token: true or not at all)"))
        if checked and not problems:
            event, masked = fast.build(raw)  # every schema constraint was checked on its columns
        elif not problems:
            try:
                event, masked = parse_event(raw, protector)
            except DunpaiError as exc:
                problems = _problems(exc)
        if kind == 0:
            if event is not None:  # the label of a rejected row is not made
                label = parse_event(_label(mapping, event, row))[0]
                pending.append(((row["__file"], row["__row"]), label, None))
        elif kind == 2:
            if event is not None and (reissue := _reissue(mapping, event, row)) is not None:
                pending.append(((row["__file"], row["__row"]), parse_event(reissue)[0], None))
        elif problems or event is None:
            rejects.add((row["__file"], row["__row"]), problems)
        else:
            pending.append(((row["__file"], row["__row"]), event, masked))
        if (pos + 1 - position) % batch == 0 or pos == total - 1:
            logged = _commit(db, tenant, pending, run, result, rejects, seen, pos + 1, clock)
            pending = []
            committed += 1
            if progress is not None:
                progress(pos + 1, total, result.last_seq or 0, logged)
            if stop_after is not None and committed >= stop_after:
                return result
    run["status"] = "done"
    run["position"] = total
    with db.begin() as conn:
        repo.save_import_run_txn(conn, run)
    result.rejected = rejects.count
    result.rejects_file = str(rejects_path) if rejects.count else None
    result.first_rejections = rejects.first
    result.seconds = time.perf_counter() - started
    return result


def _commit(db: Any, tenant: str, pending: list[tuple[tuple[str, int], AnyEvent, str | None]], run: dict[str, Any],
            result: ImportResult, rejects: _Rejects, seen: dict[str, str], position: int,
            clock: Callable[[], float]) -> list[tuple[int, str]]:
    """Store one batch and the import's progress in one transaction; returns the (log position,
    body) of each event stored."""
    now = clock()
    bodies = []
    for row, event, masked in pending:
        body = event_to_json(event)
        bodies.append((row, event, masked, body, hashlib.sha256(body.encode()).hexdigest()))
    with db.begin() as conn:
        logged = repo.find_events_txn(conn, tenant, [b[1].event_id for b in bodies])
        rows = []
        for row, event, masked, body, digest in bodies:
            eid = event.event_id
            known = logged.get(eid)
            if eid in seen:
                if seen[eid] == digest:
                    result.duplicates_in_source += 1
                else:
                    rejects.add(row, [("event_id", "used earlier in the source for a different event")])
                continue
            if known is not None:
                if known.body_sha256 == digest:
                    result.already_in_log += 1
                else:
                    rejects.add(row, [("event_id", "already used in the log for a different event")])
                continue
            seen[eid] = digest
            rows.append((tenant, eid, event.type, event.event_time.timestamp(), body, digest, masked, now))
            if isinstance(event, Label):
                result.labels += 1
            elif isinstance(event, CardEvent) and eid.endswith(".reissue"):
                result.reissues += 1
            else:
                result.events += 1
        seqs = repo.insert_events_txn(conn, rows)
        logged_rows: list[tuple[int, str]] = []
        if seqs is not None:
            if seqs[1] - seqs[0] + 1 != len(rows):
                raise StateError("another writer appended to the event log during the import")
            result.first_seq = result.first_seq or seqs[0]
            result.last_seq = seqs[1]
            logged_rows = list(zip(range(seqs[0], seqs[1] + 1), (r[4] for r in rows), strict=True))
        run.update(position=position, events=result.events, labels=result.labels, rejected=rejects.count,
                   duplicates=result.duplicates_in_source, first_seq=result.first_seq, last_seq=result.last_seq,
                   updated_at=now)
        repo.save_import_run_txn(conn, run)
        rejects.flush()  # before the commit: see _Rejects.flush
    return logged_rows

