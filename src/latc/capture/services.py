"""Every change to capture data: one function per action, each in ONE transaction together with
its audit entries, each re-checking the user's rights through :mod:`latc.capture.scoping`.

Views and commands call these; they never write models themselves. A refused action raises an
exception of :mod:`latc.capture.errors` whose text is one line for the user.
"""

from __future__ import annotations

import contextvars

import getpass
import hashlib
import json
import re
from dataclasses import dataclass, field as dc_field
from datetime import datetime
from functools import lru_cache
from typing import Iterable, Mapping

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.db.models import Max
from django.utils import timezone

from latc.capture import audit
from latc.capture.errors import (
    CaptureError, ConflictError, Forbidden, Locked, ReasonRequired, SignatureFailed, ValidationFailed,
)
from latc.capture.models import (
    Center, Membership, Patient, Query, QueryMessage, QueryStatus, Record, RecordStatus, Role, Signature,
    validate_center_code, validate_patient_id,
)
from latc.capture import scoping
from latc.capture.scoping import can, membership
from latc.capture.texts import msg
from latc.capture.validation import INSTANCE, FieldProblem, validate_casebook

#: rules whose problems are not queried while a record is still marked incomplete (a form being
#: filled in; REDCap warns about blank required fields but raises no query)
_QUIET_WHILE_INCOMPLETE = frozenset({"required"})


@lru_cache(maxsize=1)
def dictionary():
    """The study data dictionary the capture forms are generated from (the bundled one, or the
    file named by ``settings.LATC_CAPTURE_DICTIONARY``)."""
    from django.conf import settings

    from latc.dictionary import load_dictionary

    return load_dictionary(getattr(settings, "LATC_CAPTURE_DICTIONARY", None))


# -- who is acting ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Actor:
    username: str
    role: str
    centers: str


def actor(user) -> Actor:
    """Audit identity: a logged-in user, or ``None`` = the command line (``cli:<os user>``)."""
    if user is None:
        try:
            who = getpass.getuser()
        except Exception:  # noqa: BLE001 - no login name in a container
            who = "unknown"
        return Actor(f"cli:{who}", "system", "")
    m = membership(user)
    if m is None:
        return Actor(user.get_username(), "", "")
    a = getattr(m, "_latc_actor", None)  # the membership is cached per request (scoping.membership)
    if a is None:
        centers = ",".join(m.centers.values_list("code", flat=True)) if m.role != Role.DATA_MANAGER else "*"
        a = m._latc_actor = Actor(user.get_username(), m.role, centers)
    return a


def _require(user, action: str, patient: Patient | None = None, *, center: Center | None = None) -> None:
    if user is None:  # the command line acts as the server's operator
        return
    if not can(user, action, patient, center=center):
        what = action.replace("_", " ")
        if patient is not None:
            raise Forbidden(msg("your role may not {action} for patient {patient}", action=what, patient=patient.patient_id))
        if center is not None:
            raise Forbidden(msg("your role may not {action} at center {center}", action=what, center=center.code))
        raise Forbidden(msg("your role may not {action}", action=what))


def _entry(user, action: str, *, patient: Patient | None = None, client_addr: str = "", **kw) -> None:
    a = actor(user)
    if patient is not None:
        kw.setdefault("patient_id", patient.patient_id)
        kw.setdefault("center", patient.center.code)
    else:
        kw.setdefault("center", a.centers)
    audit.append(action=action, username=a.username, role=a.role, client_addr=client_addr, **kw)


def _entries(user, patient: Patient, entries: list[dict], client_addr: str = "") -> None:
    """Several entries of one change about ``patient``, appended in one go (one chain walk, one
    bulk insert; :func:`latc.capture.audit.append_many`), in the caller's transaction."""
    if not entries:
        return
    a = actor(user)
    audit.append_many([{"username": a.username, "role": a.role, "client_addr": client_addr,
                        "patient_id": patient.patient_id, "center": patient.center.code, **e} for e in entries])


def client_addr_of(request) -> str:
    """The client's address: REMOTE_ADDR, or behind the TLS proxy (``SECURE_PROXY_SSL_HEADER``
    set) the address the proxy appended last to X-Forwarded-For."""
    from django.conf import settings

    if request is None:
        return ""
    addr = request.META.get("REMOTE_ADDR", "") or ""
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        xff = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if xff:
            addr = xff.split(",")[-1].strip() or addr
    return addr[:64]


def _clean(v) -> str:
    """A value as the CSV holds it: text, surrounding whitespace stripped ('' = blank)."""
    if v is None:
        return ""
    return str(v).strip()


#: the longest reason, query text, answer or signature meaning (the web forms say the same): a note
#: is a sentence or two, and whatever is accepted stays in the append-only audit trail for good
MAX_NOTE = 2000


#: Unicode direction controls (embeddings and overrides U+202A–U+202E, isolates U+2066–U+2069):
#: invisible, they make text display in another order than it was typed, so an audit entry or a
#: value could read differently from what it holds (CVE-2021-42574, "Trojan Source"). Refused in
#: everything typed into the capture; never needed in this study's English/Chinese text.
_DIRECTION_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def direction_control_problem(text: str) -> str | None:
    """The refusal message when ``text`` holds a direction control, else None."""
    m = _DIRECTION_CONTROLS.search(text or "")
    if m is None:
        return None
    return (f"contains an invisible direction control (U+{ord(m.group()):04X}) that makes text display in another "
            "order than it was typed; retype the text without it")


def _note(v) -> str:
    """A free-text note (reason for change, query text, answer, meaning), stripped; refused when longer
    than :data:`MAX_NOTE` characters or holding a direction control — for every caller (web,
    commands, imports), not only the form."""
    text = _clean(v)
    why = direction_control_problem(text)
    if why:
        raise CaptureError(f"the text {why}")
    if len(text) > MAX_NOTE:
        raise CaptureError(msg("a note may hold at most {max} characters (this one has {n}); shorten it, the "
                               "details belong in the source documents", max=f"{MAX_NOTE:,}", n=f"{len(text):,}"))
    return text


# -- centers and users -----------------------------------------------------------------------------

def create_center(actor_user, code: str, name: str = "", *, client_addr: str = "") -> Center:
    _require(actor_user, "manage_users")
    code = _clean(code)
    try:
        validate_center_code(code)
    except ValidationError as exc:
        raise CaptureError(exc.messages[0]) from None
    with audit.atomic():
        c, created = Center.objects.get_or_create(code=code, defaults={"name": name})
        if created:
            _entry(actor_user, "center_create", center=code, new_value=f"{code} {name}".strip(), client_addr=client_addr)
        return c


def _centers(codes: Iterable[str]) -> list[Center]:
    codes = [c for c in (_clean(x) for x in codes) if c]
    found = {c.code: c for c in Center.objects.filter(code__in=codes)}
    missing = [c for c in codes if c not in found]
    if missing:
        raise CaptureError(f"unknown center(s): {', '.join(missing)}; create them first")
    return [found[c] for c in codes]


def create_user(actor_user, username: str, password: str, role: str, centers: Iterable[str] = (), *,
                expires_at: datetime | None = None, display_name: str = "", client_addr: str = ""):
    """A new account with its role and centers (passwords checked by Django's validators and
    hashed with Django's default hasher)."""
    from django.contrib.auth.password_validation import validate_password

    _require(actor_user, "manage_users")
    if role not in Role.values:
        raise CaptureError(f"unknown role {role!r}; one of {', '.join(Role.values)}")
    User = get_user_model()
    username = _clean(username)
    if not username:
        raise CaptureError("a username is required")
    center_objs = _centers(centers)
    if role in (Role.SITE_ENTRY, Role.SITE_INVESTIGATOR, Role.MONITOR) and not center_objs:
        raise CaptureError(msg("role {role} needs at least one center (--center CODE)", role=role))
    candidate = User(username=username)
    try:
        validate_password(password, candidate)
    except ValidationError as exc:
        raise CaptureError("password refused: " + " ".join(exc.messages)) from None
    with audit.atomic():
        if User.objects.filter(username=username).exists():
            raise CaptureError(msg("user {user} exists", user=repr(username)))
        user = User.objects.create_user(username=username, password=password)
        m = Membership.objects.create(user=user, role=role, expires_at=expires_at, display_name=display_name)
        m.centers.set(center_objs)
        codes = ",".join(c.code for c in center_objs)
        _entry(actor_user, "user_create", field="membership", new_value=f"{username} role={role} centers={codes} "
               f"expires={expires_at.isoformat() if expires_at else '-'}", client_addr=client_addr)
    return user


_UNSET = object()


def set_language(user, language: str, *, client_addr: str = "") -> Membership:
    """A user's own choice of language for forms, labels and messages (audited like a permission change)."""
    m = Membership.objects.filter(user=user).first()
    if m is None:
        raise CaptureError("no membership: nothing to set")
    known = [c for c, _ in Membership._meta.get_field("language").choices]
    if language not in known:
        raise CaptureError(msg("unknown language {language} (known: {known})", language=repr(language),
                               known=", ".join(known)))
    if language != m.language:
        with audit.atomic():
            record_permission_change(user, user, "language", m.language, language, client_addr=client_addr)
            m.language = language
            m.save(update_fields=["language"])
        user.__dict__.pop("_latc_membership", None)
    return m


def set_membership(actor_user, target_user, *, role: str | None = None, centers: Iterable[str] | None = None,
                   expires_at=_UNSET, active: bool | None = None, display_name: str | None = None,
                   client_addr: str = "") -> Membership:
    """Change a user's role, centers, expiry, active flag or display name (each change audited)."""
    _require(actor_user, "manage_users")
    with audit.atomic():
        m, _ = Membership.objects.get_or_create(user=target_user, defaults={"role": role or Role.SITE_ENTRY})
        if role is not None and role != m.role:
            if role not in Role.values:
                raise CaptureError(f"unknown role {role!r}")
            record_permission_change(actor_user, target_user, "role", m.role, role, client_addr=client_addr)
            m.role = role
        if centers is not None:
            objs = _centers(centers)
            old = ",".join(m.centers.values_list("code", flat=True))
            new = ",".join(c.code for c in objs)
            if old != new:
                m.centers.set(objs)
                record_permission_change(actor_user, target_user, "centers", old, new, client_addr=client_addr)
        if expires_at is not _UNSET and expires_at != m.expires_at:
            record_permission_change(actor_user, target_user, "expires_at", m.expires_at and m.expires_at.isoformat(),
                                     expires_at and expires_at.isoformat(), client_addr=client_addr)
            m.expires_at = expires_at
        if active is not None and active != target_user.is_active:
            record_permission_change(actor_user, target_user, "is_active", str(target_user.is_active), str(active),
                                     client_addr=client_addr)
            target_user.is_active = active
            target_user.save(update_fields=["is_active"])
        if display_name is not None and _clean(display_name) != m.display_name:
            record_permission_change(actor_user, target_user, "display_name", m.display_name, _clean(display_name),
                                     client_addr=client_addr)
            m.display_name = _clean(display_name)
        m.save()
        target_user.__dict__.pop("_latc_membership", None)
        return m


def record_permission_change(actor_user, target_user, what: str, old, new, *, client_addr: str = "") -> None:
    _entry(actor_user, "permission_change", field=what, old_value=None if old is None else str(old),
           new_value=None if new is None else str(new), reason=f"user {target_user.get_username()}",
           client_addr=client_addr)


# -- login events (connected to Django's and axes' signals in apps.py) -----------------------------

def record_login(user, client_addr: str = "") -> None:
    _entry(user, "login", client_addr=client_addr)


def record_logout(user, client_addr: str = "") -> None:
    if user is not None:
        _entry(user, "logout", client_addr=client_addr)


def record_failed_login(username: str, client_addr: str = "", *, action: str = "login_failed") -> None:
    audit.append(action=action, username=_clean(username)[:150], client_addr=client_addr)


def _on_logged_in(sender, request=None, user=None, **kw):
    record_login(user, client_addr_of(request))


def _on_logged_out(sender, request=None, user=None, **kw):
    record_logout(user, client_addr_of(request))


def _on_login_failed(sender, credentials=None, request=None, **kw):
    record_failed_login((credentials or {}).get("username", ""), client_addr_of(request))


def _on_locked_out(sender, request=None, username=None, ip_address=None, **kw):
    record_failed_login(username or "", client_addr_of(request) or (ip_address or ""), action="lockout")


# -- patients and records --------------------------------------------------------------------------

@dataclass
class SaveResult:
    """What :func:`save_record` did. ``errors`` non-empty ⇒ nothing was saved."""

    record: Record | None
    errors: list[FieldProblem] = dc_field(default_factory=list)
    queries_opened: list[Query] = dc_field(default_factory=list)
    saved: bool = False
    changed: list[str] = dc_field(default_factory=list)


def create_patient(user, patient_id: str, center_code: str, *, client_addr: str = "") -> Patient:
    """Register a patient (pseudonymous id) at a center, with its ``patients`` form record."""
    patient_id, center_code = _clean(patient_id), _clean(center_code)
    try:
        validate_patient_id(patient_id)
    except ValidationError as exc:
        raise ValidationFailed(exc.messages[0]) from None
    center = Center.objects.filter(code=center_code).first()
    if center is None:
        raise CaptureError(f"unknown center {center_code!r}")
    _require(user, "create_patient", center=center)
    if patient_id.split("-", 1)[0] != center.code:
        # the dictionary's pseudonym is "center prefix + sequence number": an id of another center's
        # prefix would take that center's number (and tell whether it exists there)
        raise ValidationFailed(msg("a patient id of center {center} begins with {center}- (center prefix + sequence "
                                   "number, e.g. {center}-0042)", center=center.code))
    try:
        with audit.atomic():
            p = Patient.objects.create(patient_id=patient_id, center=center)
            now = timezone.now()
            data = {"patient_id": patient_id, "center_id": center.code}
            Record.objects.create(patient=p, form="patients", instance=1, data=data, version=1, created_at=now,
                                  updated_at=now, updated_by=user)
            _entry(user, "patient_create", patient=p, client_addr=client_addr)
            for k, v in data.items():
                _entry(user, "create", patient=p, form="patients", instance=1, field=k, new_value=v,
                       client_addr=client_addr)
    except IntegrityError:
        raise CaptureError(msg("patient {patient} already exists", patient=patient_id)) from None
    return p


def next_patient_id(user, center: Center) -> str:
    """The center's next free sequence number (``C01-0043`` after ``C01-0042``; four digits, or the
    width the center already uses); ``C01-0001`` for a center without patients. Only the user's
    own centers are looked at (scoping)."""
    width, top = 4, 0
    prefix = f"{center.code}-"
    for pid in scoping.patients_for(user).filter(center=center, patient_id__startswith=prefix).values_list(
            "patient_id", flat=True):
        tail = pid[len(prefix):]
        if tail.isdigit():
            top, width = max(top, int(tail)), max(width, len(tail))
    return f"{prefix}{top + 1:0{width}d}"


def casebook_rows(patient: Patient) -> dict[str, list[dict]]:
    """The patient's records as :func:`latc.capture.validation.validate_casebook` reads them."""
    rows: dict[str, list[dict]] = {}
    for form, inst, data in Record.objects.filter(patient=patient).order_by("form", "instance").values_list(
            "form", "instance", "data"):
        rows.setdefault(form, []).append({**data, INSTANCE: inst})
    return rows


def save_record(user, patient: Patient, form: str, instance: int | None, values: Mapping[str, str], *,
                base_version: int | None, reason: str | None = None, status: str | None = None,
                client_addr: str = "", validate: bool = True, create_instance: bool = False) -> SaveResult:
    """Save values of one form record, validated by latc.validate's rules (see module docs).

    ``instance``: 1 for a non-repeating form; for a repeating one the record's instance, or None
    for a new one. ``base_version``: the version the user's form was opened at (None for a record
    that did not exist); a stale one raises :class:`ConflictError` and nothing is written.
    ``values``: field → text; ``""`` clears a field; fields not given are kept.
    ``create_instance``: a repeating form's ``instance`` that does not exist is created with that
    number (imports that keep REDCap's repeat instances) instead of raising a conflict.
    """
    d = dictionary()
    if form not in d.forms:
        raise CaptureError(f"unknown form {form!r}")
    f = d.forms[form]
    unknown = [k for k in values if k not in f.field_names]
    if unknown:
        raise CaptureError(f"{form} has no field(s) {', '.join(sorted(unknown))}")
    if status is not None and status not in RecordStatus.values:
        raise CaptureError(f"unknown record status {status!r}")
    _require(user, "edit", patient)
    if not f.repeating:
        instance = 1
    hidden = [FieldProblem(form, instance, k, "direction_control", "error", why, True)
              for k, v in values.items() if (why := direction_control_problem(str(v or "")))]
    if hidden:  # nothing saved; the message stands next to each field
        return SaveResult(record=None, errors=hidden, saved=False, changed=[])
    # validate before taking the write lock (SQLite's IMMEDIATE transaction serialises all writers);
    # inside, the result is used only if the casebook is still exactly what was validated
    pre = _prevalidate(d, patient, form, instance, values, base_version) if validate else None
    with audit.atomic():
        patient = Patient.objects.select_for_update().select_related("center").get(pk=patient.pk)
        if patient.locked:
            raise Locked(msg("patient {patient} is locked by the data manager; no edits until unlocked",
                             patient=patient.patient_id))
        record = None
        if instance is not None:
            record = Record.objects.select_for_update().filter(patient=patient, form=form, instance=instance).first()
            if record is None and f.repeating and not create_instance:
                raise ConflictError(msg("{form} #{instance} of {patient} no longer exists (deleted by someone else?); "
                                        "reload the page", form=form, instance=instance, patient=patient.patient_id),
                                    current_version=None)
        if record is not None and base_version != record.version:
            raise ConflictError(msg(
                "{form} of {patient} was changed by {user} since you opened it (version {base} → {version}); "
                "nothing was saved — reload and redo your change", form=form, patient=patient.patient_id,
                user=record.updated_by.get_username() if record.updated_by else "someone else",
                base=base_version or "new", version=record.version), current_version=record.version)
        if record is None and not f.repeating and base_version not in (None, 0):
            raise ConflictError(msg("{form} of {patient} no longer exists; reload the page", form=form,
                                    patient=patient.patient_id))
        old: dict[str, str] = dict(record.data) if record is not None else {}
        new = _merge(old, values, f, patient, record is None)
        changed = [k for k in f.field_names if old.get(k) != new.get(k)]
        new_status = status or (record.status if record is not None else RecordStatus.INCOMPLETE)
        if record is not None and not changed and new_status == record.status:
            return SaveResult(record=record, saved=False, changed=[])
        corrected = [k for k in changed if old.get(k)]
        if record is not None and corrected and not _note(reason):
            raise ReasonRequired(msg("a reason for the change is required: {fields} already had a saved value",
                                     fields=", ".join(corrected)), fields=corrected)
        if instance is None:
            top = Record.objects.filter(patient=patient, form=form).aggregate(m=Max("instance"))["m"]
            instance = (top or 0) + 1
        problems: list[FieldProblem] = []
        if validate:
            if pre is not None and pre[1] == instance and pre[2] == new and pre[0] == _state(patient):
                problems = pre[3]
            else:
                problems = _validate(d, patient, form, instance, new)
            check = set(changed) if record is not None else set(new) | set(changed)
            blocking = [p for p in problems if p.blocking and p.form == form and p.instance == instance
                        and (p.field in check or not p.field)]
            if blocking:
                return SaveResult(record=record, errors=blocking, saved=False, changed=changed)
        now = timezone.now()
        is_new = record is None
        old_status = None if is_new else record.status
        if is_new:
            record = Record(patient=patient, form=form, instance=instance, created_at=now, version=0)
        record.data = new
        record.version = (record.version or 0) + 1
        record.status = new_status
        record.updated_at = now
        record.updated_by = user
        reverify = record.verified_at is not None and bool(changed)
        if reverify:
            record.verified_by, record.verified_at = None, None
        record.save()
        why = _note(reason)
        entries = [dict(action="create" if is_new else "update", form=form, instance=instance, field=k,
                        old_value=old.get(k), new_value=new.get(k), reason=why) for k in changed]
        if old_status != new_status:
            entries.append(dict(action="status", form=form, instance=instance, old_value=old_status, new_value=new_status))
        if reverify:
            entries.append(dict(action="unverify", form=form, instance=instance,
                                reason="source verification cleared by a change"))
        _entries(user, patient, entries, client_addr)
        if changed:
            _void_signatures(user, patient, f"{form} #{instance} changed ({', '.join(changed)})", client_addr)
        opened = _sync_rule_queries(user, patient, record, problems, client_addr) if validate else []
        return SaveResult(record=record, errors=[], queries_opened=opened, saved=True, changed=changed)


def _merge(old: dict, values: Mapping[str, str], f, patient: Patient, is_new: bool) -> dict:
    new = dict(old)
    for k, v in values.items():
        v = _clean(v)
        if v:
            new[k] = v
        else:
            new.pop(k, None)
    if "patient_id" in f.field_names:
        new["patient_id"] = patient.patient_id
    if is_new and "center_id" in f.field_names and "center_id" not in new:
        new["center_id"] = patient.center.code
    return new


def _state(patient: Patient) -> tuple:
    """What a validation of the casebook depends on: every record and its version."""
    return tuple(Record.objects.filter(patient=patient).order_by("pk").values_list("pk", "version"))


def _validate(d, patient: Patient, form: str, instance: int, new: dict) -> list[FieldProblem]:
    rows = casebook_rows(patient)
    mine = [r for r in rows.get(form, []) if r[INSTANCE] != instance]
    rows[form] = sorted(mine + [{**new, INSTANCE: instance}], key=lambda r: r[INSTANCE])
    return validate_casebook(d, rows, changed=(form, instance))


def _prevalidate(d, patient: Patient, form: str, instance: int | None, values, base_version):
    """(casebook state, instance, new data, problems) computed without a lock, or None."""
    f = d.forms[form]
    p = Patient.objects.select_related("center").filter(pk=patient.pk).first()
    if p is None or p.locked:
        return None
    rec = Record.objects.filter(patient=p, form=form, instance=instance).first() if instance is not None else None
    if (rec is not None and rec.version != base_version) or (rec is None and instance is not None and f.repeating):
        return None  # a conflict: the transaction reports it
    if instance is None:
        instance = (Record.objects.filter(patient=p, form=form).aggregate(m=Max("instance"))["m"] or 0) + 1
    state = _state(p)
    new = _merge(dict(rec.data) if rec is not None else {}, values, f, p, rec is None)
    return state, instance, new, _validate(d, p, form, instance, new)


def _void_signatures(user, patient: Patient, why: str, client_addr: str) -> None:
    now = timezone.now()
    for s in Signature.objects.select_for_update().filter(patient=patient, voided_at__isnull=True):
        s.voided_at = now
        s.void_reason = why
        s.save(update_fields=["voided_at", "void_reason"])
        _entry(user, "signature_void", patient=patient, old_value=s.data_hash,
               reason=f"signature of {s.signer_name or s.signer.get_username()} ({s.signed_at:%Y-%m-%dT%H:%M:%SZ}) voided: {why}",
               client_addr=client_addr)


def _sync_rule_queries(user, patient: Patient, record: Record, problems: list[FieldProblem],
                       client_addr: str) -> list[Query]:
    """Open a query per new soft problem (on whichever record it lies); mark the open rule
    queries of the saved record whose problem is gone as answered by the correction."""
    d = dictionary()
    records = {(r.form, r.instance): r for r in Record.objects.filter(patient=patient)}
    existing = {(q.record_id, q.field, q.rule, q.query_id): q
                for q in Query.objects.filter(record__patient=patient).exclude(status=QueryStatus.CLOSED)}
    opened: list[Query] = []
    seen = set()
    for p in problems:
        if p.blocking or p.instance is None:
            continue
        rec = records.get((p.form, p.instance))
        if rec is None or p.form not in d.forms:
            continue
        if p.rule in _QUIET_WHILE_INCOMPLETE and rec.status == RecordStatus.INCOMPLETE:
            continue
        key = (rec.pk, p.field, p.rule, p.query_id)
        seen.add(key)
        if key in existing:
            continue
        opened.append(_open(None, rec, p.field, p.message, rule=p.rule, severity=p.severity, query_id=p.query_id,
                            acting=user, client_addr=client_addr))
    now = timezone.now()
    for key, q in existing.items():
        if q.record_id != record.pk or q.opened_by_id is not None or key in seen or q.status != QueryStatus.OPEN:
            continue
        if q.rule in _QUIET_WHILE_INCOMPLETE and record.status == RecordStatus.INCOMPLETE and q.field not in record.data:
            continue  # still blank: the problem is only quiet, not solved
        if q.pk == _ANSWERING.get():
            continue  # answered by its own thread (answer_query): one answer, the site's, not two
        q.status = QueryStatus.ANSWERED
        q.save(update_fields=["status"])
        # the rule's own note: no user (shown as "study rules"); the audit entry names who saved
        QueryMessage.objects.create(query=q, user=None, at=now, action=QueryMessage.Action.ANSWER,
                                    text="the study rules no longer find this problem after the correction",
                                    new_value=record.data.get(q.field))
        _entry(user, "query_answer", patient=patient, form=record.form, instance=record.instance, field=q.field,
               new_value=record.data.get(q.field), reason=f"{q.rule} no longer fires (query {q.pk})", client_addr=client_addr)
    return opened


def delete_record(user, record: Record, *, reason: str, base_version: int | None = None, client_addr: str = "") -> None:
    """Delete one record of a repeating form (its values stay in the audit trail)."""
    patient = record.patient
    _require(user, "edit", patient)
    if not _note(reason):
        raise ReasonRequired(msg("a reason is required to delete a record"))
    d = dictionary()
    if record.form == "patients" or not d.forms[record.form].repeating:
        # a non-repeating form is cleared field by field (save_record with ""), never removed
        raise CaptureError(msg("{form} is not a repeating form; clear its values instead", form=record.form))
    with audit.atomic():
        patient = Patient.objects.select_for_update().select_related("center").get(pk=patient.pk)
        if patient.locked:
            raise Locked(msg("patient {patient} is locked; no edits until unlocked", patient=patient.patient_id))
        rec = Record.objects.select_for_update().filter(pk=record.pk).first()
        if rec is None:
            raise ConflictError(msg("the record was already deleted"))
        if base_version is not None and base_version != rec.version:
            raise ConflictError(msg("{form} #{instance} changed since you opened it; nothing deleted", form=rec.form,
                                    instance=rec.instance), current_version=rec.version)
        for k, v in sorted(rec.data.items()):
            _entry(user, "delete", patient=patient, form=rec.form, instance=rec.instance, field=k, old_value=v,
                   reason=_note(reason), client_addr=client_addr)
        _void_signatures(user, patient, f"{rec.form} #{rec.instance} deleted", client_addr)
        rec.delete()


# -- queries ---------------------------------------------------------------------------------------

def _open(user, record: Record, field: str, text: str, *, rule: str, severity: str, query_id: str = "",
          acting=None, client_addr: str = "") -> Query:
    now = timezone.now()
    q = Query.objects.create(record=record, field=field, rule=rule, severity=severity, message=text,
                             status=QueryStatus.OPEN, query_id=query_id, opened_by=user, opened_at=now)
    QueryMessage.objects.create(query=q, user=user, at=now, action=QueryMessage.Action.OPEN, text=text)
    _entry(user if user is not None else acting, "query_open", patient=record.patient, form=record.form,
           instance=record.instance, field=field, new_value=text,
           reason=f"rule {rule}" + (f" ({query_id})" if query_id else "") if user is None else "", client_addr=client_addr)
    return q


def open_query(user, record: Record, field: str, text: str, *, client_addr: str = "") -> Query:
    _require(user, "open_query", record.patient)
    text = _note(text)
    if not text:
        raise CaptureError(msg("a query needs a text"))
    if field and field not in dictionary().forms[record.form].field_names:
        raise CaptureError(f"{record.form} has no field {field!r}")
    with audit.atomic():
        return _open(user, record, field, text, rule="manual", severity="warning", client_addr=client_addr)


#: the query being answered with a corrected value (answer_query → save_record → _sync_rule_queries)
_ANSWERING: contextvars.ContextVar[int | None] = contextvars.ContextVar("latc_capture_answering", default=None)


def answer_query(user, query: Query, text: str, *, new_value: str | None = None, base_version: int | None = None,
                 client_addr: str = "") -> Query:
    """The site's answer: a justification, or a corrected value (saved through save_record with
    the answer as the reason for change; hard errors raise ValidationFailed)."""
    record = query.record
    _require(user, "answer_query", record.patient)
    text = _note(text)
    if not text:
        raise CaptureError(msg("an answer needs a text (the justification or the reason for the correction)"))
    if query.status == QueryStatus.CLOSED:
        raise CaptureError(msg("the query is closed; ask the data manager to re-open it"))
    with audit.atomic():
        if new_value is not None:
            if not query.field:
                raise CaptureError(msg("this query is not on a field; answer it with a text"))
            token = _ANSWERING.set(query.pk)
            try:
                res = save_record(user, record.patient, record.form, record.instance, {query.field: new_value},
                                  base_version=base_version if base_version is not None else record.version,
                                  reason=text, client_addr=client_addr)
            finally:
                _ANSWERING.reset(token)
            if res.errors:
                raise ValidationFailed("; ".join(f"{p.field}: {p.message}" for p in res.errors), problems=res.errors)
        q = Query.objects.select_for_update().get(pk=query.pk)
        q.status = QueryStatus.ANSWERED
        q.save(update_fields=["status"])
        QueryMessage.objects.create(query=q, user=user, action=QueryMessage.Action.ANSWER, text=text, new_value=new_value)
        _entry(user, "query_answer", patient=record.patient, form=record.form, instance=record.instance, field=q.field,
               new_value=new_value, reason=text, client_addr=client_addr)
        return q


def close_query(user, query: Query, text: str = "", *, client_addr: str = "") -> Query:
    record = query.record
    _require(user, "close_query", record.patient)
    with audit.atomic():
        q = Query.objects.select_for_update().get(pk=query.pk)
        if q.status == QueryStatus.CLOSED:
            return q
        q.status, q.closed_at = QueryStatus.CLOSED, timezone.now()
        q.save(update_fields=["status", "closed_at"])
        QueryMessage.objects.create(query=q, user=user, action=QueryMessage.Action.CLOSE, text=_note(text))
        _entry(user, "query_close", patient=record.patient, form=record.form, instance=record.instance, field=q.field,
               reason=_note(text), client_addr=client_addr)
        return q


def reopen_query(user, query: Query, text: str, *, client_addr: str = "") -> Query:
    record = query.record
    if not (can(user, "close_query", record.patient) or can(user, "open_query", record.patient)):
        raise Forbidden(msg("your role may not re-open queries for patient {patient}", patient=record.patient.patient_id))
    text = _note(text)
    if not text:
        raise CaptureError(msg("say why the query is re-opened"))
    with audit.atomic():
        q = Query.objects.select_for_update().get(pk=query.pk)
        q.status, q.closed_at = QueryStatus.OPEN, None
        q.save(update_fields=["status", "closed_at"])
        QueryMessage.objects.create(query=q, user=user, action=QueryMessage.Action.REOPEN, text=text)
        _entry(user, "query_reopen", patient=record.patient, form=record.form, instance=record.instance, field=q.field,
               reason=text, client_addr=client_addr)
        return q


# -- monitoring, signatures, locks -----------------------------------------------------------------

def verify_form(user, record: Record, *, client_addr: str = "") -> Record:
    """The monitor's source data verification of one record."""
    _require(user, "verify", record.patient)
    with audit.atomic():
        rec = Record.objects.select_for_update().get(pk=record.pk)
        rec.verified_by, rec.verified_at = user, timezone.now()
        rec.save(update_fields=["verified_by", "verified_at"])
        _entry(user, "verify", patient=rec.patient, form=rec.form, instance=rec.instance,
               new_value=f"version {rec.version}", client_addr=client_addr)
        return rec


def casebook_json(patient: Patient) -> str:
    """The canonical text of a casebook: what a signature is bound to."""
    recs = Record.objects.filter(patient=patient).order_by("form", "instance").values_list("form", "instance", "data")
    doc = {"patient_id": patient.patient_id, "center": patient.center.code,
           "records": [{"form": f, "instance": i, "data": dict(sorted(d.items()))} for f, i, d in recs]}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def casebook_hash(patient: Patient) -> str:
    return hashlib.sha256(casebook_json(patient).encode("utf-8")).hexdigest()


def current_signature(patient: Patient) -> Signature | None:
    return Signature.objects.filter(patient=patient, voided_at__isnull=True).order_by("-signed_at").first()


def sign_casebook(user, patient: Patient, password: str, meaning: str, *, client_addr: str = "") -> Signature:
    """The investigator signs the casebook by re-entering the password (Part 11 §11.200(a)(1));
    the signature shows name, UTC time and meaning (§11.50) and holds the casebook's SHA-256 (§11.70)."""
    _require(user, "sign", patient)
    meaning = _note(meaning)
    if not meaning:
        raise CaptureError("state the meaning of the signature (e.g. 'I approve the data of this casebook')")
    if not user.check_password(password or ""):
        with audit.atomic():
            _entry(user, "signature_failed", patient=patient, reason="wrong password", client_addr=client_addr)
        raise SignatureFailed(msg("the password is not correct; the casebook was not signed"))
    with audit.atomic():
        patient = Patient.objects.select_for_update().select_related("center").get(pk=patient.pk)
        h = casebook_hash(patient)
        m = membership(user)
        name = (m.display_name if m and m.display_name else "") or user.get_full_name() or user.get_username()
        s = Signature.objects.create(patient=patient, signer=user, signer_name=name, signed_at=timezone.now(),
                                     meaning=meaning, data_hash=h)
        _entry(user, "sign", patient=patient, new_value=h, reason=meaning, client_addr=client_addr)
        return s


def lock_patient(user, patient: Patient, reason: str, *, client_addr: str = "") -> Patient:
    return _set_lock(user, patient, True, reason, client_addr)


def unlock_patient(user, patient: Patient, reason: str, *, client_addr: str = "") -> Patient:
    return _set_lock(user, patient, False, reason, client_addr)


def _set_lock(user, patient: Patient, locked: bool, reason: str, client_addr: str) -> Patient:
    _require(user, "lock", patient)
    if not _note(reason):
        raise ReasonRequired(msg("a reason is required to lock a casebook") if locked else
                             msg("a reason is required to unlock a casebook"))
    with audit.atomic():
        p = Patient.objects.select_for_update().select_related("center").get(pk=patient.pk)
        if p.locked == locked:
            return p
        p.locked = locked
        p.locked_by = user if locked else None
        p.locked_at = timezone.now() if locked else None
        p.save(update_fields=["locked", "locked_by", "locked_at"])
        _entry(user, "lock" if locked else "unlock", patient=p, old_value=str(not locked).lower(),
               new_value=str(locked).lower(), reason=_note(reason), client_addr=client_addr)
        return p


def field_history(user, patient: Patient, form: str, instance: int, field: str):
    """Every audit entry of one field of one record, oldest first (the field's history view)."""
    from latc.capture.models import AuditEntry

    _require(user, "view", patient)
    return list(AuditEntry.objects.filter(patient_id=patient.patient_id, form=form, instance=instance,
                                          field=field).order_by("seq"))


def record_history(user, patient: Patient):
    """Every audit entry of one patient, oldest first."""
    from latc.capture.models import AuditEntry

    _require(user, "view", patient)
    return list(AuditEntry.objects.filter(patient_id=patient.patient_id).order_by("seq"))
