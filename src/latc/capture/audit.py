"""The audit trail: append-only, hash-chained (ICH E6(R3) §4.2.2; 21 CFR Part 11 §11.10(e)).

Each entry stores ``entry_hash = SHA-256(canonical JSON of every other column, prev_hash
included)``, and ``prev_hash`` = the previous entry's ``entry_hash`` (:data:`GENESIS_HASH` for the
first). Changing, removing or inserting an entry breaks the chain at that point, and
:func:`verify_chain` names the first broken link. The database refuses UPDATE and DELETE on the
table (triggers, migration 0002), so a change needs someone who can drop the trigger — and then
the chain shows it.

Appends are serialised so the chain never forks: PostgreSQL takes a transaction-scoped advisory
lock; SQLite transactions are ``BEGIN IMMEDIATE`` (the write lock is held from the start). Every
append runs inside the caller's transaction, so an entry exists exactly when its change does.

What the chain cannot show by itself: the removal of the newest entries (a truncated tail is a
valid shorter chain). ``latc capture verify-audit`` prints the head (last seq and hash) so it can
be recorded outside the database (backup log, monitoring report) and compared later.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone as dt_timezone

from django.db import connections, router, transaction
from django.utils import timezone

from latc.capture.models import AuditEntry

#: the ``prev_hash`` of the first entry
GENESIS_HASH = "0" * 64
#: the key of the PostgreSQL advisory lock that serialises appends ("LATCAUD" in ASCII)
ADVISORY_LOCK_KEY = 0x4C41544341554400 >> 8
#: columns covered by the hash, in this order (the JSON is key-sorted anyway)
HASHED = ("seq", "at", "username", "role", "center", "patient_id", "form", "instance", "field", "action",
          "old_value", "new_value", "reason", "client_addr", "prev_hash")


def _at_text(at: datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt_timezone.utc)
    return at.astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(entry: dict) -> str:
    """The text that is hashed: the HASHED columns, keys sorted, UTC time with microseconds,
    no whitespace, UTF-8 (``ensure_ascii=False``)."""
    doc = {}
    for k in HASHED:
        v = entry.get(k)
        if k == "at":
            v = _at_text(v) if isinstance(v, datetime) else v
        elif k in ("seq", "instance"):
            v = None if v is None else int(v)
        elif v is None:
            v = None
        else:
            v = str(v)
        doc[k] = v
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(entry: dict) -> str:
    return hashlib.sha256(canonical_json(entry).encode("utf-8")).hexdigest()


def _lock(using: str) -> None:
    conn = connections[using]
    if conn.vendor == "postgresql":
        with conn.cursor() as c:
            c.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])
    # SQLite: the surrounding transaction began with BEGIN IMMEDIATE and holds the write lock


@contextmanager
def atomic(using: str | None = None):
    """A write transaction that takes the audit chain's lock FIRST, before any row lock.

    Every write ends with an audit append, which needs the chain's lock; a transaction that locked
    rows (a patient ``SELECT … FOR UPDATE``, a new unique key) and only then waited for the chain's
    lock deadlocked with one holding the chain's lock and waiting for those rows (PostgreSQL,
    measured under load by benchmarks/bench_capture.py). One order — chain lock, then rows — for
    every writer removes the cycle. Validation runs before this, outside the lock."""
    using = using or router.db_for_write(AuditEntry)
    with transaction.atomic(using=using):
        _lock(using)
        yield


def _text(v) -> str:
    return "" if v is None else str(v)


def append(*, action: str, username: str = "", role: str = "", center: str = "", patient_id: str = "",
           form: str = "", instance: int | None = None, field: str = "", old_value: str | None = None,
           new_value: str | None = None, reason: str = "", client_addr: str = "",
           at: datetime | None = None) -> AuditEntry:
    """Append one entry (inside the caller's transaction; opens one if there is none)."""
    using = router.db_for_write(AuditEntry)
    with transaction.atomic(using=using):
        _lock(using)
        last = AuditEntry.objects.using(using).order_by("-seq").values_list("seq", "entry_hash").first()
        seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
        at = at or timezone.now()
        fields = dict(seq=seq, at=at, username=_text(username)[:150], role=_text(role), center=_text(center)[:200],
                      patient_id=_text(patient_id), form=_text(form), instance=instance, field=_text(field),
                      action=action, old_value=old_value, new_value=new_value, reason=_text(reason),
                      client_addr=_text(client_addr)[:64], prev_hash=prev)
        # the hash is computed on what the database will return (microsecond UTC time)
        fields["at"] = datetime.fromisoformat(_at_text(at).replace("Z", "+00:00"))
        e = AuditEntry(**fields, entry_hash=entry_hash(fields))
        e.save(using=using, force_insert=True)
        return e


def append_many(entries: list[dict], *, batch: int = 2000) -> int:
    """Append many entries in order (one lock, one chain walk, bulk inserts): for imports.
    Each dict takes the keyword arguments of :func:`append`. Returns the number appended."""
    if not entries:
        return 0
    using = router.db_for_write(AuditEntry)
    with transaction.atomic(using=using):
        _lock(using)
        last = AuditEntry.objects.using(using).order_by("-seq").values_list("seq", "entry_hash").first()
        seq, prev = (last[0], last[1]) if last else (0, GENESIS_HASH)
        now = datetime.fromisoformat(_at_text(timezone.now()).replace("Z", "+00:00"))
        objs = []
        for e in entries:
            seq += 1
            at = e.get("at")
            at = now if at is None else datetime.fromisoformat(_at_text(at).replace("Z", "+00:00"))
            fields = dict(seq=seq, at=at, username=_text(e.get("username"))[:150], role=_text(e.get("role")),
                          center=_text(e.get("center"))[:200], patient_id=_text(e.get("patient_id")),
                          form=_text(e.get("form")), instance=e.get("instance"), field=_text(e.get("field")),
                          action=e["action"], old_value=e.get("old_value"), new_value=e.get("new_value"),
                          reason=_text(e.get("reason")), client_addr=_text(e.get("client_addr"))[:64], prev_hash=prev)
            h = entry_hash(fields)
            objs.append(AuditEntry(**fields, entry_hash=h))
            prev = h
        for i in range(0, len(objs), batch):
            AuditEntry.objects.using(using).bulk_create(objs[i:i + batch])
        return len(objs)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    first_broken_seq: int | None = None
    reason: str = ""
    head_seq: int | None = None
    head_hash: str = ""

    def message(self) -> str:
        if self.ok:
            head = f"; head #{self.head_seq} {self.head_hash}" if self.head_seq else ""
            return f"audit trail intact: {self.entries:,} entries, every hash and link verified{head}"
        return f"audit trail BROKEN at entry #{self.first_broken_seq}: {self.reason}"


def verify_chain(using: str | None = None, batch: int = 2000) -> VerifyResult:
    """Recompute every hash and link in sequence order; the first mismatch is reported."""
    using = using or router.db_for_read(AuditEntry)
    prev_hash, prev_seq, n = GENESIS_HASH, 0, 0
    cols = [*HASHED, "entry_hash"]
    qs = AuditEntry.objects.using(using).order_by("seq").values_list(*cols)
    for row in qs.iterator(chunk_size=batch):
        e = dict(zip(cols, row))
        n += 1
        seq = e["seq"]
        if seq != prev_seq + 1:
            what = "missing" if seq > prev_seq + 1 else "out of order"
            return VerifyResult(False, n, seq, f"entries #{prev_seq + 1}–#{seq - 1} are {what} (sequence jumps from "
                                               f"#{prev_seq} to #{seq}): entries were removed")
        if e["prev_hash"] != prev_hash:
            return VerifyResult(False, n, seq, f"its prev_hash does not match the hash of entry #{prev_seq}: "
                                               "the entry before it was changed, removed or replaced")
        h = entry_hash(e)
        if h != e["entry_hash"]:
            return VerifyResult(False, n, seq, "its content does not match its stored hash: the entry was changed "
                                               "after it was written")
        prev_hash, prev_seq = e["entry_hash"], seq
    return VerifyResult(True, n, None, "", prev_seq or None, prev_hash if n else "")


#: audit actions that set a field's value (``new_value``) and the one that removes it
_SETS = ("create", "update", "import")
_REMOVES = ("delete",)


@dataclass(frozen=True)
class RecordCheck:
    """Whether every stored record equals what its audit trail says it should hold."""

    ok: bool
    records: int
    mismatches: tuple[str, ...] = ()

    def message(self) -> str:
        if self.ok:
            return f"records match the audit trail: {self.records:,} records replayed from their entries"
        more = f" (and {len(self.mismatches) - 5:,} more)" if len(self.mismatches) > 5 else ""
        return ("records DIFFER from the audit trail — changed outside latc capture: "
                + "; ".join(self.mismatches[:5]) + more)


def verify_records(using: str | None = None, batch: int = 5000) -> RecordCheck:
    """Replay the value entries (create / update / import set a field, delete removes it) in sequence
    order and compare the result with every stored record (Part 11 §11.10(e): the trail must
    account for the current value). A value edited directly in the database, bypassing the
    application, has no entry and is named here, even though the hash chain itself is intact."""
    from latc.capture.models import Record

    using = using or router.db_for_read(AuditEntry)
    expected: dict[tuple[str, str, int], dict[str, str]] = {}
    qs = (AuditEntry.objects.using(using).filter(action__in=_SETS + _REMOVES).exclude(form="").exclude(field="")
          .order_by("seq").values_list("action", "patient_id", "form", "instance", "field", "new_value"))
    for action, pid, form, instance, fld, new in qs.iterator(chunk_size=batch):
        vals = expected.setdefault((pid, form, int(instance or 0)), {})
        if action in _REMOVES or new in (None, ""):
            vals.pop(fld, None)
        else:
            vals[fld] = new
    actual = {}
    for pid, form, instance, data in (Record.objects.using(using).values_list("patient__patient_id", "form", "instance", "data")
                                      .iterator(chunk_size=batch)):
        actual[(pid, form, int(instance))] = {k: str(v) for k, v in (data or {}).items() if v not in (None, "")}
    bad = []
    for key in sorted(set(expected) | set(actual), key=lambda k: (k[0], k[1], k[2])):
        exp, act = expected.get(key, {}), actual.get(key)
        pid, form, instance = key
        if act is None:
            if exp:
                bad.append(f"{pid} {form} #{instance}: in the audit trail but not in the database (record deleted)")
            continue
        for fld in sorted(set(exp) | set(act)):
            if exp.get(fld) != act.get(fld):
                bad.append(f"{pid} {form} #{instance} field {fld}: stored value differs from the last audited value")
    return RecordCheck(not bad, len(actual), tuple(bad))
