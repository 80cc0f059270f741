"""The pages of ``latc capture``.

Rules of this module: every view is wrapped by :func:`latc.capture.web.access.rule` (its access
rule); patient data is read only through :mod:`latc.capture.scoping` querysets and written only
through :mod:`latc.capture.services` (which re-check the rule and write the audit trail in the same
transaction); templates escape everything (no ``|safe`` on data).
"""

from __future__ import annotations

import base64
from collections import Counter, defaultdict
from datetime import datetime, time, timezone as dt_timezone
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login as auth_login, logout as auth_logout
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Max
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import static as static_views

from latc.capture import scoping, services
from latc.capture.errors import (CaptureError, ConflictError, Forbidden, Locked, ReasonRequired,
                                 SignatureFailed, ValidationFailed)
from latc.capture.models import QueryStatus, Role
from latc.capture.web import forms as wf, i18n
from latc.capture.web.i18n import field_label, form_label, localize, msg, tr, trn
from latc.capture.web.access import forbidden, needs_otp, rule, with_csp
from latc.capture.web.conditions import shown_fields
from latc.dictionary import load_dictionary

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: the meaning of the investigator's signature (21 CFR 11.50(a)(3)), shown before and after signing
SIGNATURE_MEANING = ("Investigator approval: I have reviewed this casebook and confirm that its data are "
                     "complete and accurate")
#: audit actions on the whole casebook shown under a field's history
CASEBOOK_EVENTS = ("sign", "signature_void", "lock", "unlock")
#: statuses of a dashboard cell, in the order of the legend
STATUSES = ("empty", "incomplete", "complete", "verified", "signed", "locked")
#: the one-letter code of each status in a dashboard cell (the legend spells them out)
ABBR = {"empty": "–", "incomplete": "I", "complete": "C", "verified": "V", "signed": "S", "locked": "L"}


# -- helpers ---------------------------------------------------------------------------------------

def dictionary():
    return load_dictionary(getattr(settings, "LATC_CAPTURE_DICTIONARY", None))


def dform_or_404(name: str):
    try:
        return dictionary()[name]
    except KeyError:
        raise Http404(f"No form {name!r} in the data dictionary.") from None


def client_addr(request) -> str:
    fn = getattr(services, "client_addr_of", None)
    return fn(request) if fn else request.META.get("REMOTE_ADDR", "")


def _can(user, action, **kw) -> bool:
    return scoping.can(user, action, **kw)


def nav_for(request) -> dict:
    user = request.user
    if not user.is_authenticated or scoping.membership(user) is None:
        return {"items": [], "who": None}
    m = scoping.membership(user)
    items = []
    path = request.path

    def add(label, url_name, ok=True):
        if ok:
            url = reverse(url_name)
            items.append({"label": label, "url": url, "current": path == url})

    t = i18n.tr
    add(t("Dashboard"), "home")
    add(t("Queries"), "queries", _can(user, "view"))
    add(t("New patient"), "patient_new", _can(user, "create_patient"))
    add(t("Export"), "export", _can(user, "export_deidentified") or _can(user, "export_identified"))
    add(t("Audit trail"), "audit", _can(user, "view_audit"))
    add(t("Users"), "users", _can(user, "manage_users"))
    centers = ", ".join(c.code for c in m.centers.all()) if m.role not in scoping.ALL_CENTER_ROLES else t("all centers")
    return {"items": items, "language": m.language, "who": {"name": m.display_name or user.get_username(), "username": user.get_username(),
                                    "role": t(Role(m.role).label), "centers": centers}}


def render_page(request, template: str, ctx: dict | None = None, status: int = 200):
    ctx = dict(ctx or {})
    ctx.setdefault("nav", nav_for(request))
    resp = with_csp(render(request, template, ctx, status=status))
    if getattr(request, "user", None) is not None and request.user.is_authenticated:
        add_never_cache_headers(resp)  # patient data: not kept in the browser cache (Back after log-out)
    return resp


def _next_url(request, default: str = "/") -> str:
    nxt = request.POST.get("next") or request.GET.get("next") or ""
    if nxt and url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()},
                                               require_https=request.is_secure()):
        return nxt
    return default


def record_url(patient, form: str, instance: int) -> str:
    return reverse("record", kwargs={"pid": patient.patient_id, "form": form, "instance": instance})


def _records(user, patient, form: str | None = None):
    qs = scoping.records_for(user).filter(patient=patient)
    return qs.filter(form=form) if form else qs


def _open_queries(user, **filters):
    return scoping.queries_for(user).filter(status__in=[QueryStatus.OPEN, QueryStatus.ANSWERED], **filters)


def _signature(patient):
    fn = getattr(services, "current_signature", None)
    if fn:
        return fn(patient)
    return patient.signatures.filter(voided_at__isnull=True).order_by("-signed_at").first()


def _problems_by_field(problems, dform, instance) -> tuple[dict[str, list[str]], list[str]]:
    """Blocking problems per editable field of this record, and the others (another form or
    record, a field taken from the patient, no field) as sentences."""
    by, other = defaultdict(list), []
    editable = {f.name for f in wf.editable_fields(dform)}
    for p in problems:
        field = getattr(p, "field", "") or ""
        form = getattr(p, "form", dform.name) or dform.name
        inst = getattr(p, "instance", None)
        if form == dform.name and field in editable and (inst is None or instance is None or inst == instance):
            by[field].append(i18n.rule_message(getattr(p, "rule", None), p.message))
        else:
            d = dictionary()
            where = form_label(d.forms[form]) if form in d.forms else form
            label = field_label(d[form][field]) if form in d.forms and field in d[form].field_names else field
            text = i18n.rule_message(getattr(p, "rule", None), p.message)
            other.append(f"{where}{f' #{inst}' if inst else ''}{f' · {label}' if label else ''}: {text}")
    return by, other


# -- login, second factor, logout ---------------------------------------------------------------------

@rule(methods=("GET", "POST"), public=True)
def login_view(request):
    if request.user.is_authenticated and scoping.membership(request.user) is not None and request.method == "GET":
        return redirect(_next_url(request))
    if request.method == "POST":  # per client address (django-axes locks per user name)
        from latc.capture import ratelimit

        addr = services.client_addr_of(request)
        hit = ratelimit.hit("login_addr", addr)
        if not hit.allowed:
            services.record_failed_login(request.POST.get("username", ""), addr, action="login_rate_limited")
            return ratelimit.too_many(hit, tr("log-in attempts from this address"))
    form = AuthenticationForm(request, data=request.POST if request.method == "POST" else None)
    form.error_messages["invalid_login"] = tr("Wrong username or password, or the account has expired or is "
                                              "disabled. After 5 failed attempts the account is locked for a while.")
    if request.method == "POST" and form.is_valid():
        auth_login(request, form.get_user())
        nxt = _next_url(request)
        if needs_otp(request):
            return redirect(f"{reverse('otp_verify')}?{urlencode({'next': nxt})}")
        return redirect(nxt)
    return render_page(request, "capture/login.html", {"form": form, "next": request.GET.get("next", "")})


def locked_out(request, original_response=None, credentials=None):
    """django-axes lockout response (``AXES_LOCKOUT_CALLABLE``) — the template is used otherwise."""
    return render_page(request, "capture/locked_out.html", {"failure_limit": settings.AXES_FAILURE_LIMIT,
                                                            "cooloff_timedelta": settings.AXES_COOLOFF_TIME},
                       status=429)


def _said(exc) -> str | None:
    """What a refusal said (a :func:`~latc.capture.web.i18n.msg` stays one, to be shown translated)."""
    return exc.args[0] if exc.args else None


@rule(methods=("POST",), public=True)
def set_language(request):
    """The language switch: a user's own ``Membership.language`` (audited); before log-in, a cookie
    (the log-in page's switch). The cookie is set in both cases, so the log-in page after a log-out
    stays in the user's language."""
    lang = request.POST.get("language", "")
    resp = redirect(_next_url(request, reverse("home")))
    if request.user.is_authenticated:
        try:
            services.set_language(request.user, lang, client_addr=client_addr(request))
        except CaptureError as exc:
            messages.error(request, localize(exc))
            return resp
    elif lang not in i18n.LANGUAGES:
        return resp
    resp.set_cookie(settings.LANGUAGE_COOKIE_NAME, lang, max_age=365 * 24 * 3600,
                    secure=settings.LANGUAGE_COOKIE_SECURE, httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                    samesite=settings.LANGUAGE_COOKIE_SAMESITE)
    return resp


@rule(methods=("POST",), public=True)
def logout_view(request):
    auth_logout(request)
    return redirect(settings.LOGIN_URL)


def _totp_devices(user, confirmed=None):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    qs = TOTPDevice.objects.filter(user=user)
    return qs if confirmed is None else qs.filter(confirmed=confirmed)


@rule(methods=("GET", "POST"), otp_exempt=True)
def otp_verify(request):
    from django_otp import login as otp_login

    nxt = _next_url(request)
    if not needs_otp(request):
        return redirect(nxt)
    form = wf.OTPForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        token = form.cleaned_data["token"].strip()
        for device in _totp_devices(request.user, confirmed=True):
            if device.verify_token(token):
                otp_login(request, device)
                return redirect(nxt)
        form.add_error("token", tr("This code is not valid (codes change every 30 seconds; check the phone's clock)."))
        if hasattr(services, "record_failed_login"):
            services.record_failed_login(request.user.get_username(), client_addr(request))
    return render_page(request, "capture/otp_verify.html", {"form": form, "next": nxt})


def _qr_rows(uri: str):
    """The otpauth URI as a QR code in table cells (no image service, no inline markup), if segno is
    installed; None otherwise (the page then shows the key and the URI as text)."""
    try:
        import segno
    except ImportError:
        return None
    qr = segno.make(uri, error="m")
    return [[bool(c) for c in row] for row in qr.matrix_iter(scale=1, border=2)]


@rule(methods=("GET", "POST"))
def otp_setup(request):
    from django_otp import login as otp_login

    user = request.user
    pending = _totp_devices(user, confirmed=False).first()
    confirmed = list(_totp_devices(user, confirmed=True))
    form = wf.OTPForm(request.POST or None)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "remove":
            for d in confirmed:
                d.delete()
            services.record_permission_change(user, user, "totp_device", "enabled", "removed",
                                              client_addr=client_addr(request))
            messages.success(request, tr("The second factor is removed."))
            return redirect("otp_setup")
        if action == "confirm" and pending is not None and form.is_valid():
            if pending.verify_token(form.cleaned_data["token"].strip()):
                pending.confirmed = True
                pending.save()
                otp_login(request, pending)
                services.record_permission_change(user, user, "totp_device", "", "enabled",
                                                  client_addr=client_addr(request))
                messages.success(request, tr("The second factor is on: from now on you enter a code after your password."))
                return redirect("otp_setup")
            form.add_error("token", tr("This code is not valid; try the current one."))
    if pending is None and not confirmed:
        from django_otp.plugins.otp_totp.models import TOTPDevice

        pending = TOTPDevice.objects.create(user=user, name="authenticator app", confirmed=False)
    ctx = {"confirmed": confirmed, "pending": pending if not confirmed else None, "form": form}
    if ctx["pending"] is not None:
        uri = pending.config_url
        ctx.update(uri=uri, key=base64.b32encode(pending.bin_key).decode("ascii"), qr=_qr_rows(uri))
    return render_page(request, "capture/otp_setup.html", ctx)


# -- dashboard -----------------------------------------------------------------------------------------

def _cell_status(records, locked: bool, signed: bool) -> str:
    if locked:
        return "locked"
    if not records:
        return "empty"
    if signed:
        return "signed"
    if all(r["verified_at"] is not None for r in records):
        return "verified"
    if all(r["status"] == "complete" for r in records):
        return "complete"
    return "incomplete"


@rule()
def home(request):
    user = request.user
    if not _can(user, "view"):
        return render_page(request, "capture/home_other.html", {
            "can_export": _can(user, "export_deidentified") or _can(user, "export_identified"),
            "can_users": _can(user, "manage_users"), "can_audit": _can(user, "view_audit")})
    centers = list(scoping.visible_centers(user))
    code = request.GET.get("center", "")
    if code and code not in {c.code for c in centers}:  # not one of the user's centers: say so, show theirs
        messages.warning(request, tr("{center} is not one of your centers; showing all of yours.", center=code))
        code = ""
    patients = scoping.patients_for(user).select_related("center")
    if code:
        patients = patients.filter(center__code=code)
    q = request.GET.get("q", "").strip()
    if q:
        patients = patients.filter(patient_id__icontains=q)
    page = Paginator(patients.order_by("patient_id"), 100).get_page(request.GET.get("page"))
    plist = list(page.object_list)
    d = dictionary()
    recs = defaultdict(list)
    for r in scoping.records_for(user).filter(patient__in=plist).values("patient_id", "form", "status", "verified_at"):
        recs[(r["patient_id"], r["form"])].append(r)
    open_q = Counter()
    for row in (_open_queries(user, record__patient__in=plist)
                .values("record__patient_id", "record__form").annotate(n=Count("id"))):
        open_q[(row["record__patient_id"], row["record__form"])] = row["n"]
    signed = {s for s in scoping.patients_for(user).filter(pk__in=[p.pk for p in plist],
                                                           signatures__voided_at__isnull=True,
                                                           signatures__isnull=False).values_list("pk", flat=True)}
    rows, totals = [], Counter()
    labels = {n: form_label(f) for n, f in d.forms.items()}
    for p in plist:
        cells = []
        for fname, f in d.forms.items():
            rr = recs.get((p.pk, fname), [])
            st = _cell_status(rr, p.locked, p.pk in signed)
            totals[st] += 1
            if f.repeating:
                url = reverse("patient", kwargs={"pid": p.patient_id}) + f"#form-{fname}"
            else:
                url = record_url(p, fname, 1)
            cells.append({"form": fname, "status": st, "abbr": ABBR[st], "n": len(rr), "queries": open_q.get((p.pk, fname), 0),
                          "url": url, "title": f"{p.patient_id} · {labels[fname]}: {tr(st)}"})
        rows.append({"patient": p, "cells": cells, "queries": sum(c["queries"] for c in cells)})
    return render_page(request, "capture/home.html", {
        "centers": centers, "center": code, "q": q, "rows": rows, "page": page,
        # column heads: the form's name in words ("Lesion assessments"), its full label on hover
        "form_heads": [{"short": tr(n.replace("_", " ").capitalize()), "label": labels[n]} for n in d.forms],
        "statuses": STATUSES, "totals": [(s, ABBR[s], totals[s]) for s in STATUSES],
        # unresolved = open (awaiting the site) + answered (awaiting the data manager's review)
        "query_counts": _query_counts(user), "can_create": _can(user, "create_patient")})


def _query_counts(user) -> dict[str, int]:
    """The user's unresolved queries: ``open`` (awaiting the site), ``answered`` (awaiting review)."""
    by = dict(_open_queries(user).order_by().values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    return {"open": by.get(QueryStatus.OPEN, 0), "answered": by.get(QueryStatus.ANSWERED, 0)}


# -- patients ------------------------------------------------------------------------------------------

@rule(get="create_patient", post="create_patient", methods=("GET", "POST"))
def patient_new(request):
    user = request.user
    centers = [c for c in scoping.visible_centers(user) if _can(user, "create_patient", center=c)]
    form = wf.NewPatientForm(request.POST or None, centers=centers,
                             initial={"patient_id": services.next_patient_id(user, centers[0]) if len(centers) == 1 else ""})
    if request.method == "POST" and form.is_valid():
        try:
            p = services.create_patient(user, form.cleaned_data["patient_id"].strip(), form.cleaned_data["center"],
                                        client_addr=client_addr(request))
        except Forbidden as exc:
            return forbidden(request, _said(exc))
        except (CaptureError, ValidationError) as exc:
            form.add_error("patient_id", _message(exc))
        else:
            messages.success(request, tr("Patient {patient} created.", patient=p.patient_id))
            return redirect(record_url(p, "patients", 1))
    return render_page(request, "capture/patient_new.html", {"form": form})


def _message(exc) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    return localize(exc)


def _shown_code(form, name, value) -> str:
    """A key value as the casebook lists it: a code by its label (“Thyroglobulin (Tg)”, not “tg”)."""
    field = form[name] if name in form.field_names else None
    choices = i18n.choice_labels(field) if getattr(field, "choices", None) else {}
    return str(choices.get(value, value))


@rule(get="view", patient=True)
def patient_view(request, patient):
    user = request.user
    d = dictionary()
    by_form = defaultdict(list)
    for r in _records(user, patient).order_by("form", "instance"):
        by_form[r.form].append(r)
    open_q = Counter(_open_queries(user, record__patient=patient).values_list("record_id", flat=True))
    forms_ = []
    for fname, f in d.forms.items():
        instances = []
        for r in by_form.get(fname, []):
            keys = [_shown_code(f, k, r.data.get(k)) for k in f.key if k not in wf.PATIENT_FIELDS and r.data.get(k)]
            date = r.data.get(f.record_date, "") if f.record_date and f.record_date not in f.key else ""
            instances.append({"record": r, "url": record_url(patient, fname, r.instance), "queries": open_q.get(r.pk, 0),
                              "summary": " · ".join(x for x in keys + [date] if x),
                              "status": "verified" if r.verified_at else r.status})
        forms_.append({"form": f, "label": form_label(f), "instances": instances,
                       "url": record_url(patient, fname, 1) if not f.repeating else "",
                       "new_url": reverse("record_new", kwargs={"pid": patient.patient_id, "form": fname})
                       if f.repeating else ""})
    sigs = list(patient.signatures.order_by("-signed_at"))
    return render_page(request, "capture/patient.html", {
        "patient": patient, "forms": forms_, "signature": _signature(patient),
        "voided_signature": sigs[0] if sigs and sigs[0].voided_at else None,
        "signatures": sigs if len(sigs) > 1 or any(s.voided_at for s in sigs) else [],
        "can_edit": _can(user, "edit", patient=patient) and not patient.locked,
        "can_sign": _can(user, "sign", patient=patient), "can_lock": _can(user, "lock", patient=patient)})


# -- the case-report form -------------------------------------------------------------------------------

def _record_context(request, patient, dform, record, bound, *, errors=None, other_errors=(), reason_forced=False,
                    reason_error="", new_query_ids=()):
    user = request.user
    values = {f.name: (bound.data.get(f"{wf.PREFIX}-{f.name}", "") if bound.is_bound else
                       (bound.initial.get(f.name) or "")) for f in wf.editable_fields(dform)}
    queries = defaultdict(list)
    if record is not None:
        for q in _open_queries(user, record=record).order_by("opened_at"):
            q.is_new = q.pk in new_query_ids
            queries[q.field].append(q)
    instance = record.instance if record else None

    def hist(field):
        return reverse("field_history", kwargs={"pid": patient.patient_id, "form": dform.name,
                                                "instance": instance, "field": field}) if record else ""

    tr_d = i18n.dictionary_translation()
    rows = wf.rows(dform, bound, shown=shown_fields(dform, values), errors=errors, queries=queries, history_url=hist)
    editable = _can(user, "edit", patient=patient) and not patient.locked
    posted_status = request.POST.get("status") if request.method == "POST" else None
    return {
        "patient": patient, "dform": dform, "record": record, "rows": rows, "prefix": wf.PREFIX,
        "form_status": posted_status or (record.status if record else "incomplete"),
        "base_version": record.version if record else 0, "editable": editable,
        "reason_forced": reason_forced, "reason_error": reason_error, "other_errors": list(other_errors),
        "signature": _signature(patient) if editable else None,
        "reason_value": request.POST.get("reason", "") if request.method == "POST" else "",
        "has_errors": bool(errors) or bool(other_errors),
        "can_verify": record is not None and _can(user, "verify", patient=patient),
        "can_open_query": record is not None and _can(user, "open_query", patient=patient),
        "query_form": wf.OpenQueryForm(form=dform) if record is not None else None,
        "can_delete": record is not None and dform.repeating and editable,
        "other_queries": [q for k, qs in queries.items() if k not in {f.name for f in dform.fields} for q in qs],
        "form_label": (tr_d.form_label(dform) if tr_d else dform.label),
        "form_note": (tr_d.form_note(dform) if tr_d else dform.note),
        "patient_fields": [((tr_d.label(f) if tr_d else f.label), record.data.get(f.name, "") if record else
                            (patient.patient_id if f.name == "patient_id" else patient.center.code))
                           for f in dform.fields if f.name in wf.PATIENT_FIELDS],
    }


def _submitted(request, dform) -> dict[str, str]:
    out = {}
    for f in wf.editable_fields(dform):
        v = request.POST.get(f"{wf.PREFIX}-{f.name}", "")
        out[f.name] = v if f.type == "notes" else v.strip()
    return out


@rule(get="view", post="edit", methods=("GET", "POST"), patient=True)
def record_view(request, patient, form, instance):
    dform = dform_or_404(form)
    if not dform.repeating and instance != 1:
        raise Http404(msg("This form has one record per patient."))
    record = _records(request.user, patient, form).filter(instance=instance).first()
    if record is None and dform.repeating:
        raise Http404(msg("No such instance of this form."))
    return _record_page(request, patient, dform, record, instance)


@rule(get="edit", post="edit", methods=("GET", "POST"), patient=True)
def record_new(request, patient, form):
    dform = dform_or_404(form)
    if not dform.repeating:
        return redirect(record_url(patient, form, 1))
    return _record_page(request, patient, dform, None, None)


def _initial_new(dform, patient, user) -> dict[str, str]:
    """A new repeating instance: an integer counter key (course_id, surgery_id …) starts at the next number."""
    initial = {}
    n = _records(user, patient, dform.name).aggregate(m=Max("instance"))["m"] or 0
    for k in dform.key:
        if k not in wf.PATIENT_FIELDS and dform[k].type == "integer":
            initial[k] = str(n + 1)
    return initial


def _record_page(request, patient, dform, record, instance):
    user = request.user
    saved = dict(record.data) if record else {}
    if request.method == "GET":
        initial = saved if record else _initial_new(dform, patient, user)
        bound = wf.crf_form(dform, saved=saved, initial=initial)
        new_ids = set(request.session.pop("capture_new_queries", []))
        return render_page(request, "capture/record.html",
                           _record_context(request, patient, dform, record, bound, new_query_ids=new_ids))
    values = _submitted(request, dform)
    try:
        base_version = int(request.POST.get("base_version") or 0)
    except ValueError:
        base_version = 0
    reason = request.POST.get("reason", "").strip() or None
    form_status = request.POST.get("status") if request.POST.get("status") in ("incomplete", "complete") else None
    problems, other, forced, reason_error, status = [], [], False, "", 200
    signed_before = _signature(patient)
    try:
        if reason and len(reason) > MAX_REASON:
            raise ReasonRequired(msg("The reason for the change is too long ({n} characters; at most {max}).",
                                     n=f"{len(reason):,}", max=f"{MAX_REASON:,}"))
        res = services.save_record(user, patient, dform.name, instance, values, base_version=base_version or None,
                                   reason=reason, status=form_status, client_addr=client_addr(request))
    except ConflictError as exc:
        return _conflict(request, patient, dform, instance, values, base_version, exc)
    except ReasonRequired as exc:
        forced, reason_error = True, _reason_message(exc, dform)
    except Forbidden as exc:
        return forbidden(request, _said(exc))
    except Locked as exc:
        other, status = [localize(exc)], 409
    except ValidationFailed as exc:
        problems = exc.problems or []
        if not problems:
            other = [localize(exc)]
    except CaptureError as exc:  # any other refusal of the service (a note too long, …): said, nothing saved
        other, status = [localize(exc)], 400
    else:
        if res.errors and not getattr(res, "saved", False):
            problems = res.errors
        else:
            rec = res.record
            opened = list(res.queries_opened or [])
            what = form_label(dform) + (f" #{rec.instance}" if dform.repeating else "")
            done = (tr("Saved {form} (version {version}).", form=what, version=rec.version) if res.saved else
                    tr("Nothing changed in {form}.", form=form_label(dform)))
            messages.success(request, done)
            if opened:
                request.session["capture_new_queries"] = [q.pk for q in opened]
                found = "; ".join(f"{field_label(dform[q.field]) if q.field in dform.field_names else q.field} "
                                  f"{i18n.rule_message(q.rule, q.message)}" for q in opened)
                messages.warning(request, trn("{n} query opened by the study rules: {queries}",
                                              "{n} queries opened by the study rules: {queries}", len(opened),
                                              queries=found))
            if signed_before is not None and res.saved and _signature(patient) is None:
                messages.warning(request, tr("This change voided the investigator's signature of casebook {patient} "
                                             "(signed by {signer} on {at} UTC): it must be signed again.",
                                             patient=patient.patient_id,
                                             signer=signed_before.signer_name or signed_before.signer,
                                             at=f"{signed_before.signed_at:%Y-%m-%d %H:%M}"))
            if request.POST.get("then") == "casebook":
                return redirect(reverse("patient", kwargs={"pid": patient.patient_id}) + f"#form-{dform.name}")
            if request.POST.get("then") == "another" and dform.repeating:
                return redirect("record_new", pid=patient.patient_id, form=dform.name)
            return redirect(record_url(patient, dform.name, rec.instance))
    by_field, unplaced = _problems_by_field(problems, dform, instance)
    other = list(other) + unplaced
    first_bad = next((f.name for f in wf.editable_fields(dform) if f.name in by_field), None)
    bound = wf.crf_form(dform, saved=saved, data=request.POST, focus=first_bad)
    ctx = _record_context(request, patient, dform, record, bound, errors=by_field, other_errors=other,
                          reason_forced=forced, reason_error=reason_error)
    ctx["base_version"] = base_version
    return render_page(request, "capture/record.html", ctx, status=status)


MAX_REASON = 2000  # as the other free-text boxes (forms.ReasonForm …): the audit trail keeps every character


def _reason_message(exc, dform) -> str:
    """The refusal of a save without a reason, naming the fields by their labels (not their codes)."""
    fields = getattr(exc, "fields", None) or []
    if not fields:
        return localize(exc)
    labels = ", ".join(f"“{field_label(dform[f])}”" if f in dform.field_names else f for f in fields)
    return tr("{fields} already had a saved value: say why it is changed, then save again.", fields=labels)


def _conflict(request, patient, dform, instance, values, base_version, exc):
    current = None
    if instance is not None:
        current = _records(request.user, patient, dform.name).filter(instance=instance).first()
    now = current.data if current else {}
    rows = [{"field": f, "label": field_label(f), "yours": values.get(f.name, ""), "saved": now.get(f.name, ""),
             "differs": (values.get(f.name, "") or "") != (now.get(f.name, "") or "")}
            for f in wf.editable_fields(dform)]
    rows = [r for r in rows if r["differs"]]
    return render_page(request, "capture/conflict.html", {
        "patient": patient, "dform": dform, "current": current, "rows": rows, "message": localize(exc),
        "form_label": form_label(dform),
        "base_version": base_version, "current_version": getattr(exc, "current_version", None),
        "url": record_url(patient, dform.name, instance) if instance else
        reverse("patient", kwargs={"pid": patient.patient_id})}, status=409)


def _record_or_404(request, patient, form, instance):
    dform_or_404(form)
    return get_object_or_404(_records(request.user, patient, form), instance=instance)


@rule(post="edit", methods=("POST",), patient=True)
def record_delete(request, patient, form, instance):
    record = _record_or_404(request, patient, form, instance)
    reason = request.POST.get("reason", "").strip()
    if not reason or len(reason) > MAX_REASON:
        messages.error(request, tr("Deleting a record needs a reason.") if not reason else
                       tr("The reason is too long ({n} characters; at most {max}).", n=f"{len(reason):,}",
                          max=f"{MAX_REASON:,}"))
        return redirect(record_url(patient, form, instance))
    try:
        services.delete_record(request.user, record, reason=reason, base_version=record.version,
                               client_addr=client_addr(request))
    except Forbidden as exc:
        return forbidden(request, _said(exc))
    except CaptureError as exc:
        messages.error(request, localize(exc))
        return redirect(record_url(patient, form, instance))
    messages.success(request, tr("{form} #{instance} deleted.", form=form_label(dictionary()[form]), instance=instance))
    return redirect("patient", pid=patient.patient_id)


@rule(post="verify", methods=("POST",), patient=True)
def record_verify(request, patient, form, instance):
    record = _record_or_404(request, patient, form, instance)
    try:
        services.verify_form(request.user, record, client_addr=client_addr(request))
    except Forbidden as exc:
        return forbidden(request, _said(exc))
    except CaptureError as exc:
        messages.error(request, localize(exc))
    else:
        messages.success(request, tr("Form marked as source-verified."))
    return redirect(record_url(patient, form, instance))


@rule(post="open_query", methods=("POST",), patient=True)
def query_open(request, patient, form, instance):
    record = _record_or_404(request, patient, form, instance)
    qf = wf.OpenQueryForm(request.POST, form=dictionary()[form])
    if not qf.is_valid():
        messages.error(request, tr("A query needs a field and a question."))
        return redirect(record_url(patient, form, instance))
    try:
        q = services.open_query(request.user, record, qf.cleaned_data["field"], qf.cleaned_data["message"],
                                client_addr=client_addr(request))
    except Forbidden as exc:
        return forbidden(request, _said(exc))
    except CaptureError as exc:
        messages.error(request, localize(exc))
        return redirect(record_url(patient, form, instance))
    messages.success(request, tr("Query opened; the site sees it in its query list."))
    return redirect("query", pk=q.pk)


@rule(get="view", patient=True)
def field_history(request, patient, form, instance, field):
    dform = dform_or_404(form)
    try:
        f = dform[field]
    except KeyError:
        raise Http404(msg("No such field.")) from None
    entries = services.field_history(request.user, patient, form, instance, field)
    events = []
    if entries:
        events = [e for e in services.record_history(request.user, patient)
                  if e.seq > entries[0].seq and e.action in CASEBOOK_EVENTS]
    return render_page(request, "capture/field_history.html", {
        "patient": patient, "dform": dform, "field": f, "instance": instance, "entries": entries,
        "form_label": form_label(dform), "field_label": field_label(f),
        "casebook_events": events,
        "record_url": record_url(patient, form, instance)})


# -- queries ---------------------------------------------------------------------------------------------

@rule(get="view")
def queries(request):
    user = request.user
    qs = scoping.queries_for(user).select_related("record__patient__center", "opened_by")
    status = request.GET.get("status", "open")
    if status == "open":
        qs = qs.filter(status__in=[QueryStatus.OPEN, QueryStatus.ANSWERED])
    elif status in (QueryStatus.OPEN, QueryStatus.ANSWERED, QueryStatus.CLOSED) or status == "unanswered":
        qs = qs.filter(status=QueryStatus.OPEN if status == "unanswered" else status)
    code = request.GET.get("center", "")
    if code:
        qs = qs.filter(record__patient__center__code=code)
    form = request.GET.get("form", "")
    if form:
        qs = qs.filter(record__form=form)
    pid = request.GET.get("patient", "").strip()
    if pid:
        qs = qs.filter(record__patient__patient_id__icontains=pid)
    page = Paginator(qs.order_by("opened_at", "id"), 100).get_page(request.GET.get("page"))
    now = timezone.now()
    d = dictionary()
    items = []
    for q in page.object_list:
        f = d.forms.get(q.record.form)
        label = field_label(f[q.field]) if f is not None and q.field in f.field_names else q.field
        end = q.closed_at if q.status == QueryStatus.CLOSED and q.closed_at else now
        items.append({"q": q, "age": (end - q.opened_at).days, "form_label": form_label(f) if f else q.record.form,
                      "field_label": label, "value": q.record.data.get(q.field, ""), "message": i18n.query_text(q)})
    by_center = Counter(_open_queries(user).values_list("record__patient__center__code", flat=True))
    return render_page(request, "capture/queries.html", {
        "items": items, "page": page, "status": status, "center": code, "form": form, "patient": pid,
        "centers": list(scoping.visible_centers(user)),
        "forms": [{"name": n, "label": form_label(f)} for n, f in d.forms.items()],
        "by_center": sorted(by_center.items())})


@rule(get="view", post="*", methods=("GET", "POST"))
def query_thread(request, pk):
    user = request.user
    q = get_object_or_404(scoping.queries_for(user).select_related("record__patient__center"), pk=pk)
    patient = q.record.patient
    if not _can(user, "view", patient=patient):
        return forbidden(request)
    answer_form = wf.AnswerQueryForm(request.POST if request.POST.get("action") == "answer" else None)
    qform = dictionary().forms.get(q.record.form)
    qfield = qform[q.field] if qform is not None and q.field in qform.field_names else None
    if qfield is not None and getattr(qfield, "choices", None):
        # a coded field is corrected by choosing, as on the form: the site never types a code
        answer_form.fields["new_value"].widget = wf.forms.Select(
            choices=[("", tr("— keep the value —"))] + list(i18n.choice_labels(qfield).items()))
    comment_form = wf.CommentForm(request.POST if request.POST.get("action") in ("close", "reopen") else None)
    if request.method == "POST":
        action = request.POST.get("action")
        need = {"answer": "answer_query", "close": "close_query", "reopen": "close_query"}.get(action)
        if need is None:
            return render_page(request, "capture/error.html", {"title": msg("Unknown action"),
                                                               "message": msg("Unknown action.")}, status=400)
        if not _can(user, need, patient=patient):
            return forbidden(request)
        try:
            if action == "answer" and answer_form.is_valid():
                nv = answer_form.cleaned_data["new_value"]
                services.answer_query(user, q, answer_form.cleaned_data["text"], new_value=nv if nv != "" else None,
                                      base_version=int(request.POST.get("base_version") or 0) or None,
                                      client_addr=client_addr(request))
                messages.success(request, tr("Answer sent and the value corrected.") if nv else tr("Answer sent."))
                return redirect("query", pk=q.pk)
            if action == "close" and comment_form.is_valid():
                services.close_query(user, q, comment_form.cleaned_data["text"], client_addr=client_addr(request))
                messages.success(request, tr("Query closed."))
                return redirect("query", pk=q.pk)
            if action == "reopen" and comment_form.is_valid():
                text = comment_form.cleaned_data["text"]
                if not text:
                    comment_form.add_error("text", tr("Say why the query is re-opened."))
                else:
                    services.reopen_query(user, q, text, client_addr=client_addr(request))
                    messages.success(request, tr("Query re-opened."))
                    return redirect("query", pk=q.pk)
        except Forbidden as exc:
            return forbidden(request, _said(exc))
        except ConflictError as exc:
            messages.error(request, tr("{problem} Reload the query and try again.", problem=localize(exc)))
        except ReasonRequired as exc:
            messages.error(request, localize(exc))
        except ValidationFailed as exc:
            msgs = [i18n.rule_message(p.rule, p.message) for p in (exc.problems or [])] or [localize(exc)]
            answer_form.add_error("new_value", "; ".join(msgs))
        except CaptureError as exc:
            messages.error(request, localize(exc))
    d = dictionary()
    f = d.forms.get(q.record.form)
    field = f[q.field] if f is not None and q.field in f.field_names else None
    return render_page(request, "capture/query.html", {
        "q": q, "patient": patient, "dform": f, "field": field, "value": q.record.data.get(q.field, ""),
        "form_label": form_label(f) if f is not None else q.record.form,
        "field_label": field_label(field) if field is not None else q.field, "message": i18n.query_text(q),
        "value_label": i18n.choice_labels(field).get(q.record.data.get(q.field, ""), "") if field is not None
        and field.choices else "",
        "thread": list(q.messages.select_related("user").order_by("at", "id")),
        "record_url": record_url(patient, q.record.form, q.record.instance),
        "history_url": reverse("field_history", kwargs={"pid": patient.patient_id, "form": q.record.form,
                                                        "instance": q.record.instance, "field": q.field})
        if q.field else "",
        "can_answer": q.status != QueryStatus.CLOSED and _can(user, "answer_query", patient=patient),
        "can_close": q.status != QueryStatus.CLOSED and _can(user, "close_query", patient=patient),
        # re-open a closed query, or send an answer back that does not settle it (the data manager)
        "can_reopen": q.status in (QueryStatus.CLOSED, QueryStatus.ANSWERED) and _can(user, "close_query", patient=patient),
        "answer_form": answer_form, "comment_form": comment_form, "age": (timezone.now() - q.opened_at).days})


# -- signature and lock ------------------------------------------------------------------------------------

@rule(get="sign", post="sign", methods=("GET", "POST"), patient=True)
def sign(request, patient):
    user = request.user
    form = wf.SignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.sign_casebook(user, patient, form.cleaned_data["password"], SIGNATURE_MEANING,
                                   client_addr=client_addr(request))
        except SignatureFailed as exc:
            form.add_error("password", localize(exc) or tr("The password is not correct."))
        except Forbidden as exc:
            return forbidden(request, _said(exc))
        except CaptureError as exc:
            form.add_error(None, localize(exc))
        else:
            messages.success(request, tr("Casebook signed."))
            return redirect("patient", pid=patient.patient_id)
    d = dictionary()
    counts = Counter(_records(user, patient).values_list("form", flat=True))
    return render_page(request, "capture/sign.html", {
        "patient": patient, "form": form, "meaning": SIGNATURE_MEANING, "signature": _signature(patient),
        "name": (scoping.membership(user).display_name or user.get_username()),
        "summary": [(form_label(f), counts.get(n, 0)) for n, f in d.forms.items()],
        **_unfinished(user, patient)})


def _unfinished(user, patient) -> dict[str, int]:
    """What a signature or a lock would leave unresolved: ``open_queries`` (open or answered) and
    ``incomplete`` forms — the warnings of the signing and the lock pages."""
    return {"open_queries": _open_queries(user, record__patient=patient).count(),
            "incomplete": _records(user, patient).filter(status="incomplete").count()}


def _lock_page(request, patient, lock: bool):
    user = request.user
    form = wf.ReasonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        fn = services.lock_patient if lock else services.unlock_patient
        try:
            fn(user, patient, form.cleaned_data["reason"], client_addr=client_addr(request))
        except Forbidden as exc:
            return forbidden(request, _said(exc))
        except CaptureError as exc:
            form.add_error(None, localize(exc))
        else:
            messages.success(request, tr("Casebook locked.") if lock else tr("Casebook unlocked."))
            return redirect("patient", pid=patient.patient_id)
    return render_page(request, "capture/lock.html", {
        "patient": patient, "form": form, "lock": lock, **(_unfinished(user, patient) if lock else {})})


@rule(get="lock", post="lock", methods=("GET", "POST"), patient=True)
def lock(request, patient):
    return _lock_page(request, patient, True)


@rule(get="lock", post="lock", methods=("GET", "POST"), patient=True)
def unlock(request, patient):
    return _lock_page(request, patient, False)


# -- export, audit ---------------------------------------------------------------------------------------

@rule(get="*", post="*", methods=("GET", "POST"), any_of=("export_identified", "export_deidentified"))
def export(request):
    user = request.user
    allow_id = _can(user, "export_identified")
    if not (allow_id or _can(user, "export_deidentified")):
        return forbidden(request)
    form = wf.ExportForm(request.POST or None, allow_identified=allow_id)
    if request.method == "POST" and form.is_valid():
        identified = form.cleaned_data["identified"] == "identified"
        if not _can(user, "export_identified" if identified else "export_deidentified"):
            return forbidden(request)
        try:
            zipped = _export_zip(user, identified=identified, addr=client_addr(request))
        except Forbidden as exc:
            return forbidden(request, _said(exc))
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        name = f"latc-capture-{'identified' if identified else 'deidentified'}-{stamp}.zip"
        return with_csp(FileResponse(zipped, as_attachment=True, filename=name, content_type="application/zip"))
    return render_page(request, "capture/export.html", {"form": form, "allow_identified": allow_id})


def _export_zip(user, *, identified: bool, addr: str):
    """The core's export (study folder + REDCap export + export.json, audited) as a zip in an
    anonymous temporary file (gone when the response closes it)."""
    import tempfile
    import zipfile

    from latc.capture import interchange

    tmp = tempfile.TemporaryFile()
    with tempfile.TemporaryDirectory(prefix="latc-export-") as d:
        interchange.export_study(d, user=user, deidentified=not identified, client_addr=addr)
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for path in sorted(Path(d).rglob("*")):
                if path.is_file():
                    z.write(path, path.relative_to(d).as_posix())
    tmp.seek(0)
    return tmp


@rule(get="view_audit")
def audit(request):
    qs = scoping.audit_for(request.user)
    filters = {k: request.GET.get(k, "").strip() for k in ("patient_id", "username", "action", "form")}
    for k, v in filters.items():
        if v:
            qs = qs.filter(**{k: v})
    page = Paginator(qs.order_by("-seq"), 100).get_page(request.GET.get("page"))
    actions = sorted(set(scoping.audit_for(request.user).values_list("action", flat=True).distinct()))
    query = urlencode({k: v for k, v in filters.items() if v})
    return render_page(request, "capture/audit.html", {"page": page, "filters": filters, "actions": actions,
                                                       "query": query})


# -- users (administrator) --------------------------------------------------------------------------------

def _centers_all():
    from latc.capture.models import Center

    return list(Center.objects.all())  # the list of centers itself (no patient data): admin pages only


def _expiry(d):
    return datetime.combine(d, time(23, 59, 59), tzinfo=dt_timezone.utc) if d else None


@rule(get="manage_users")
def users(request):
    User = get_user_model()
    rows = []
    for u in User.objects.order_by("username").select_related("membership"):
        m = getattr(u, "membership", None)
        rows.append({"user": u, "m": m, "centers": ", ".join(c.code for c in m.centers.all()) if m else "",
                     "expired": m.expired() if m else False})
    return render_page(request, "capture/users.html", {"rows": rows})


@rule(get="manage_users", post="manage_users", methods=("GET", "POST"))
def user_new(request):
    form = wf.UserForm(request.POST or None, roles=Role.choices, centers=_centers_all())
    if request.method == "POST" and form.is_valid():
        cd = form.cleaned_data
        if not cd["password"]:
            form.add_error("password", tr("A new user needs an initial password."))
        else:
            try:
                from django.contrib.auth.password_validation import validate_password

                validate_password(cd["password"])
                services.create_user(request.user, cd["username"], cd["password"], cd["role"], cd["centers"],
                                     expires_at=_expiry(cd["expires_at"]), display_name=cd["display_name"],
                                     client_addr=client_addr(request))
            except ValidationError as exc:
                form.add_error("password", exc)
            except Forbidden as exc:
                return forbidden(request, _said(exc))
            except CaptureError as exc:
                form.add_error(None, localize(exc))
            else:
                messages.success(request, tr("User {user} created.", user=cd["username"]))
                return redirect("users")
    return render_page(request, "capture/user_form.html", {"form": form, "editing": None})


@rule(get="manage_users", post="manage_users", methods=("GET", "POST"))
def user_edit(request, pk):
    target = get_object_or_404(get_user_model(), pk=pk)
    m = getattr(target, "membership", None)
    initial = {"username": target.get_username(), "display_name": m.display_name if m else "",
               "role": m.role if m else "", "centers": [c.code for c in m.centers.all()] if m else [],
               "expires_at": m.expires_at.date() if m and m.expires_at else None}
    initial["is_active"] = target.is_active
    form = wf.UserForm(request.POST or None, roles=Role.choices, centers=_centers_all(), editing=True, initial=initial)
    if request.method == "POST" and form.is_valid():
        cd = form.cleaned_data
        try:
            services.set_membership(request.user, target, role=cd["role"], centers=cd["centers"],
                                    expires_at=_expiry(cd["expires_at"]), active=cd["is_active"],
                                    display_name=cd["display_name"], client_addr=client_addr(request))
        except Forbidden as exc:
            return forbidden(request, _said(exc))
        except CaptureError as exc:
            form.add_error(None, localize(exc))
        else:
            messages.success(request, tr("User {user} updated.", user=target.get_username()))
            return redirect("users")
    return render_page(request, "capture/user_form.html", {"form": form, "editing": target})


# -- static files and error pages -------------------------------------------------------------------------

@rule(public=True)
def static(request, path):
    """The UI's own CSS and JS (a reverse proxy may serve ``/static/`` itself after collectstatic)."""
    return static_views.serve(request, path, document_root=str(STATIC_DIR))


def page_not_found(request, exception=None):
    return render_page(request, "capture/error.html", {"title": msg("Not found"),
                                                       "message": msg("This page does not exist, or it is not in your centers.")},
                       status=404)


def permission_denied(request, exception=None):
    return render_page(request, "capture/error.html", {"title": msg("Not allowed"),
                                                       "message": msg("Your role does not allow this.")}, status=403)


def server_error(request):
    return with_csp(render(request, "capture/error.html", {"title": msg("Server error"),
                                                           "message": msg("Something went wrong; nothing was half-saved. "
                                                                          "Tell the data manager what you were doing.")},
                           status=500))


def csrf_failure(request, reason=""):
    return HttpResponse("Forbidden (CSRF check failed): reload the page and try again.", status=403,
                        content_type="text/plain")
