"""Django forms: the case-report forms generated at run time from the data dictionary, and the few
fixed forms (login, new patient, query actions, signature, lock, users).

A CRF form class has one ``CharField`` per editable dictionary field (values are kept as the text
typed, as the study CSV holds them); it validates nothing itself: every check is the dictionary's
rule code, run by :func:`latc.capture.services.save_record` (one implementation, not two).
The widget carries what the person entering data needs: the unit, the range as a hint, a required
mark, ``inputmode`` for numbers, the saved value (``data-original``, for the reason-for-change
prompt) and, on the row, the branching condition (``data-show-if``, read by ``capture.js``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms

from latc.capture.web.conditions import condition_data, describe
from latc.capture.web.i18n import choice_labels, dictionary_translation, field_label, tr, tr_lazy
from latc.dictionary import Field, Form

#: form prefix of the CRF fields in POST data (``f-histology``): keeps dictionary names apart from
#: the page's own fields (base_version, reason, csrfmiddlewaretoken)
PREFIX = "f"
#: fields a record takes from its patient, never typed
PATIENT_FIELDS = ("patient_id", "center_id")


def _fmt(x: float | None) -> str:
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def range_hint(f: Field) -> str:
    """``1–250 mm; usually ≤ 150`` — the hard range, then the plausible range if narrower."""
    unit = f" {f.unit}" if f.unit else ""
    parts = []
    if f.min is not None or f.max is not None:
        if f.min is not None and f.max is not None:
            parts.append(f"{_fmt(f.min)}–{_fmt(f.max)}{unit}")
        elif f.min is not None:
            parts.append(f"≥ {_fmt(f.min)}{unit}")
        else:
            parts.append(f"≤ {_fmt(f.max)}{unit}")
    if f.soft_min is not None or f.soft_max is not None:
        lo = f"{_fmt(f.soft_min)}" if f.soft_min is not None else ""
        hi = f"{_fmt(f.soft_max)}" if f.soft_max is not None else ""
        if lo and hi:
            parts.append(f"usually {lo}–{hi}{unit}")
        elif hi:
            parts.append(f"usually ≤ {hi}{unit}")
        else:
            parts.append(f"usually ≥ {lo}{unit}")
    return "; ".join(parts)


def field_hint(f: Field) -> str:
    bits = []
    if f.type == "date":
        bits.append(tr("date yyyy-mm-dd"))
    elif f.type == "integer":
        bits.append(tr("whole number"))
    elif f.type == "number":
        bits.append(tr("number"))
    r = range_hint(f)
    if r:
        bits.append(r.replace("usually", tr("usually")))
    t = dictionary_translation()
    note = (t.note(f) if t else None) or f.note
    if note:
        bits.append(note)
    return " · ".join(bits)


def editable_fields(form: Form) -> list[Field]:
    return [f for f in form.fields if f.name not in PATIENT_FIELDS]


def _widget(f: Field, original: str) -> forms.Widget:
    attrs: dict[str, Any] = {"autocomplete": "off", "data-original": original}
    if f.required:
        attrs["aria-required"] = "true"
    if f.type in ("choice", "yesno"):
        return forms.Select(attrs=attrs)
    if f.type == "notes":
        attrs["rows"] = 3
        return forms.Textarea(attrs=attrs)
    if f.type == "integer":
        attrs.update(inputmode="numeric", size=8)
    elif f.type == "number":
        attrs.update(inputmode="decimal", size=10)
    elif f.type == "date":
        attrs.update(placeholder="yyyy-mm-dd", size=11, maxlength=10)
    return forms.TextInput(attrs=attrs)


def _choices(f: Field, current: str) -> list[tuple[str, str]]:
    out = [("", "—")] + list(choice_labels(f).items())
    if current and current not in f.choices:
        # a value imported from a source that is not a code: shown, never silently dropped
        out.append((current, f"⚠ {current} {tr('(not a code of the value set)')}"))
    return out


class CRFForm(forms.Form):
    """Base class of the generated forms; ``dictionary_form`` is set on each generated class."""

    dictionary_form: Form

    def values(self) -> dict[str, str]:
        """``{field: text}`` for every editable field ('' when blank or hidden by branching)."""
        out = {}
        for f in editable_fields(self.dictionary_form):
            v = self.cleaned_data.get(f.name) if hasattr(self, "cleaned_data") else None
            out[f.name] = "" if v is None else str(v)
        return out


def crf_form(form: Form, *, saved: dict[str, str] | None = None, data=None, initial: dict[str, str] | None = None,
             focus: str | None = None) -> CRFForm:
    """A bound (``data``) or unbound form for one dictionary form.

    ``saved``: the record's stored values (``data-original`` on each widget: the reason-for-change
    prompt appears when one of them is changed); ``initial``: what an unbound form shows (the saved
    values by default); ``focus``: the field that gets ``autofocus`` (the first by default).
    """
    saved = saved or {}
    shown = initial if initial is not None else saved
    fields: dict[str, forms.Field] = {}
    editable = editable_fields(form)
    focus = focus or (editable[0].name if editable else None)
    for f in editable:
        label = field_label(f)
        original = str(saved.get(f.name) or "")
        widget = _widget(f, original)
        if f.name == focus:
            widget.attrs["autofocus"] = True
        current = str((data.get(f"{PREFIX}-{f.name}") if data is not None else shown.get(f.name)) or "")
        if f.type in ("choice", "yesno"):
            # a CharField with a Select: the value set is checked by the dictionary's rules (on save),
            # not a second time here
            widget.choices = _choices(f, current)
            fields[f.name] = forms.CharField(label=label, required=False, widget=widget)
        else:
            fields[f.name] = forms.CharField(label=label, required=False, widget=widget, strip=f.type != "notes",
                                             max_length=None)
    cls = type(f"CRF_{form.name}", (CRFForm,), {**fields, "dictionary_form": form})
    if data is not None:
        return cls(data=data, prefix=PREFIX)
    return cls(initial={k: v for k, v in shown.items()}, prefix=PREFIX)


@dataclass
class Row:
    """One field of the rendered CRF: everything the template shows next to it."""

    field: Field
    bound: Any
    hint: str
    branch: str           # the show_if condition in the clinic's words ('' when always shown)
    show_if: str          # the condition as JSON for capture.js ('' when always shown)
    shown: bool           # server-side evaluation (the page renders correctly before the script runs)
    errors: list[str]
    warnings: list[str]
    queries: list[Any]    # open queries on this field
    history_url: str


def rows(form: Form, bound: CRFForm, *, shown: set[str], errors: dict[str, list[str]] | None = None,
         warnings: dict[str, list[str]] | None = None, queries: dict[str, list[Any]] | None = None,
         history_url=None) -> list[Row]:
    errors, warnings, queries = errors or {}, warnings or {}, queries or {}
    out = []
    for f in editable_fields(form):
        out.append(Row(
            field=f, bound=bound[f.name], hint=field_hint(f),
            branch=describe(f.show_if, form) if f.show_if else "",
            show_if=condition_data(f.show_if) if f.show_if else "",
            shown=f.name in shown, errors=errors.get(f.name, []), warnings=warnings.get(f.name, []),
            queries=queries.get(f.name, []), history_url=history_url(f.name) if history_url else "",
        ))
    return out


# -- fixed forms -------------------------------------------------------------------------------------

class NewPatientForm(forms.Form):
    patient_id = forms.CharField(label=tr_lazy("Pseudonymous patient identifier"), max_length=32,
                                 widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off",
                                                               "placeholder": "C01-0042"}))
    center = forms.ChoiceField(label=tr_lazy("Center"))

    def __init__(self, *args, centers=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["center"].choices = [(c.code, f"{c.code} — {c.name}" if c.name and c.name != c.code else c.code)
                                          for c in centers]


class ReasonForm(forms.Form):
    reason = forms.CharField(label=tr_lazy("Reason"), widget=forms.Textarea(attrs={"rows": 2, "autofocus": True}), max_length=2000)


class OpenQueryForm(forms.Form):
    field = forms.ChoiceField(label=tr_lazy("Field"))
    message = forms.CharField(label=tr_lazy("Question to the site"), widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)

    def __init__(self, *args, form: Form | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["field"].choices = [(f.name, field_label(f)) for f in editable_fields(form)] if form else []


class AnswerQueryForm(forms.Form):
    text = forms.CharField(label=tr_lazy("Answer (justification, or why the value is corrected)"),
                           widget=forms.Textarea(attrs={"rows": 2, "autofocus": True}), max_length=2000)
    new_value = forms.CharField(label=tr_lazy("Corrected value (leave blank to keep the value)"), required=False,
                                max_length=32767, widget=forms.TextInput(attrs={"autocomplete": "off"}))


class CommentForm(forms.Form):
    text = forms.CharField(label=tr_lazy("Comment"), required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


class SignForm(forms.Form):
    password = forms.CharField(label=tr_lazy("Your password (re-enter to sign)"),
                               widget=forms.PasswordInput(attrs={"autofocus": True, "autocomplete": "current-password"}))


class OTPForm(forms.Form):
    token = forms.CharField(label=tr_lazy("6-digit code from your authenticator app"), max_length=8,
                            widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "one-time-code",
                                                          "inputmode": "numeric"}))


class ExportForm(forms.Form):
    identified = forms.ChoiceField(label=tr_lazy("Export"), widget=forms.RadioSelect)

    def __init__(self, *args, allow_identified: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        ch = [("deidentified", tr("De-identified for analysis: keyed pseudonyms instead of the study ids, free text "
                                  "and identifier fields blanked; dates kept (the analysis needs them)"))]
        if allow_identified:
            ch.insert(0, ("identified", tr("As entered: the study's pseudonymous ids, free text and dates")))
        self.fields["identified"].choices = ch
        self.fields["identified"].initial = ch[0][0]


class UserForm(forms.Form):
    username = forms.CharField(label=tr_lazy("Username"), max_length=150, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    display_name = forms.CharField(label=tr_lazy("Full name (shown on signatures)"), max_length=200)
    role = forms.ChoiceField(label=tr_lazy("Role"))
    centers = forms.MultipleChoiceField(label=tr_lazy("Centers"), required=False, widget=forms.CheckboxSelectMultiple)
    expires_at = forms.DateField(label=tr_lazy("Account expires on (UTC, blank = never)"), required=False,
                                 widget=forms.TextInput(attrs={"placeholder": "yyyy-mm-dd", "autocomplete": "off"}))
    password = forms.CharField(label=tr_lazy("Initial password (new users)"), required=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    is_active = forms.BooleanField(label=tr_lazy("Active (an inactive user cannot log in)"), required=False, initial=True)

    def __init__(self, *args, roles=(), centers=(), editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [(code, tr(str(label))) for code, label in roles]
        self.fields["centers"].choices = [(c.code, c.code) for c in centers]
        if editing:
            self.fields["username"].disabled = True
            # a name may change (a typo, a new surname): audited as a permission change; a signature
            # keeps the name it was made under (Signature.signer_name)
            del self.fields["password"]
        else:
            del self.fields["is_active"]
