"""``latc capture backup`` / ``latc capture restore``: a portable, checksummed copy of capture.

The file (gzip, mode 0600, written to a temporary name and renamed, so a crash leaves no half
file) holds one manifest line and Django's serialisation of every table that carries study
state — accounts (``auth.user``), memberships, centers, patients, records, queries and their
messages, signatures, quarantined rows, API tokens (hashes only), TOTP devices and the **audit
trail with its original sequence numbers and hashes**. Rate-limit counters, sessions and
failed-login counters are left out (transient). The manifest records the format, the applied
migrations, the row count per table, the audit chain's head and the SHA-256 of the data.

Restore goes into an *empty, migrated* database only (``latc capture init`` first), of either
vendor (a SQLite backup restores into PostgreSQL and back): it checks the checksum, refuses a
database that already holds patients, accounts or audit entries, loads everything in one
transaction (the append-only triggers allow INSERT; sequences are reset by Django's loader), then
recomputes the whole hash chain and compares its head with the manifest's — a restore that does not
reproduce the chain is rolled back. The PostgreSQL ``pg_dump`` drill in docs/capture.md stays the
tool for a whole server; this file is the one for moving a study between installations and
vendors, and for a site without a DBA.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
from pathlib import Path

from latc.capture.errors import CaptureError

FORMAT = "latc-capture-backup/1"
MODELS = ["auth.user", "capture.center", "capture.membership", "capture.membership_centers", "capture.patient",
          "capture.record", "capture.query", "capture.querymessage", "capture.signature", "capture.quarantinedrow",
          "capture.apitoken", "otp_totp.totpdevice", "capture.auditentry"]


def _model(label: str):
    from django.apps import apps

    if label == "capture.membership_centers":
        return apps.get_model("capture.membership").centers.through
    return apps.get_model(label)


def _dump() -> dict[str, list[dict]]:
    """Every row of every table as column → JSON value; date-times in full ISO precision (Django's
    own serialiser keeps milliseconds only, which would break the audit chain's hashes)."""
    from datetime import date, datetime

    out = {}
    for label in MODELS:
        m = _model(label)
        cols = [f.attname for f in m._meta.concrete_fields]
        rows = []
        for r in m.objects.order_by("pk").values_list(*cols):
            rows.append({c: (v.isoformat() if isinstance(v, (datetime, date)) else v) for c, v in zip(cols, r)})
        out[label] = rows
    return out


def _load(tables: dict[str, list[dict]]) -> None:
    from datetime import date, datetime

    from django.core.management.color import no_style
    from django.db import connection, models

    touched = []
    for label in MODELS:
        m = _model(label)
        kinds = {f.attname: f for f in m._meta.concrete_fields}
        objs = []
        for r in tables.get(label, []):
            vals = {}
            for c, v in r.items():
                f = kinds.get(c)
                if f is None:
                    raise CaptureError(f"backup table {label} has a column {c!r} this version does not know")
                if v is not None and isinstance(f, models.DateTimeField):
                    v = datetime.fromisoformat(v)
                elif v is not None and isinstance(f, models.DateField):
                    v = date.fromisoformat(v)
                vals[c] = v
            objs.append(m(**vals))
        m.objects.bulk_create(objs, batch_size=1000)
        touched.append(m)
    with connection.cursor() as cur:
        for sql in connection.ops.sequence_reset_sql(no_style(), touched):
            cur.execute(sql)


def _applied() -> list[str]:
    from django.db.migrations.recorder import MigrationRecorder

    from django.db import connection

    return sorted(f"{a}.{n}" for a, n in MigrationRecorder(connection).applied_migrations())


def _head() -> dict:
    from latc.capture.models import AuditEntry

    last = AuditEntry.objects.order_by("-seq").values("seq", "entry_hash").first()
    return {"seq": last["seq"], "hash": last["entry_hash"]} if last else {"seq": None, "hash": None}


def backup(out: str | Path) -> dict:
    """Write the backup file; returns its manifest."""
    from django.utils import timezone

    from latc.capture import audit

    out = Path(out)
    with audit.atomic():  # the chain's lock: no write happens between the tables' snapshots
        tables = _dump()
        head = _head()
        applied = _applied()
    counts = {m: len(rows) for m, rows in tables.items()}
    data = json.dumps(tables, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    manifest = {"format": FORMAT, "created_at": timezone.now().isoformat(), "migrations": applied,
                "counts": counts, "audit_head": head, "sha256": hashlib.sha256(data).hexdigest()}
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".backup-", dir=out.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write(json.dumps(manifest, sort_keys=True).encode() + b"\n" + data)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return manifest


def read_backup(path: str | Path) -> tuple[dict, bytes]:
    """(manifest, data) of a backup file, checked; CaptureError naming what is wrong."""
    path = Path(path)
    try:
        with gzip.open(path, "rb") as gz:
            content = gz.read()
    except (OSError, EOFError) as e:
        raise CaptureError(f"{path.name}: not a readable latc capture backup ({e.__class__.__name__})") from None
    head, _, data = content.partition(b"\n")
    try:
        manifest = json.loads(head)
    except ValueError:
        raise CaptureError(f"{path.name}: not a latc capture backup (no manifest line)") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CaptureError(f"{path.name}: not a {FORMAT} file")
    if hashlib.sha256(data).hexdigest() != manifest.get("sha256"):
        raise CaptureError(f"{path.name}: checksum mismatch — the file was changed or damaged after the backup; "
                           "nothing was restored")
    return manifest, data


def restore(path: str | Path) -> dict:
    """Load a backup into the current (empty, migrated) database; returns the manifest."""
    from django.contrib.auth import get_user_model

    from latc.capture import audit
    from latc.capture.models import AuditEntry, Center, Patient

    manifest, data = read_backup(path)
    missing = sorted(set(manifest["migrations"]) - set(_applied()))
    if missing:
        raise CaptureError(f"the database lacks migrations the backup was made with ({', '.join(missing[:3])}): "
                           "run `latc capture init` with this version first")
    if Patient.objects.exists() or AuditEntry.objects.exists() or get_user_model().objects.exists() \
            or Center.objects.exists():
        raise CaptureError("the target database is not empty (patients, accounts, centers or audit entries): "
                           "restore only into a fresh database made by `latc capture init`")
    try:
        tables = json.loads(data)
    except ValueError:
        raise CaptureError("the backup's data is not readable JSON; nothing was restored") from None
    with audit.atomic():
        _load(tables)
        result = audit.verify_chain()
        replay = audit.verify_records()
        if not replay.ok:
            raise CaptureError(f"the restored records do not match their audit trail ({replay.message()}); "
                               "nothing was restored")
        if not result.ok or _head() != manifest["audit_head"]:
            raise CaptureError("the restored audit trail does not reproduce the backup's chain "
                               f"({result.message()}); nothing was restored")
    return manifest
