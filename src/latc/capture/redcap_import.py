"""``latc capture import-redcap``: move a study's REDCap project into capture.

Input: the project's data dictionary CSV (REDCap's "Data Dictionary" download) and its flat raw
record export ("CSV / Microsoft Excel (raw data)"), optionally the instrument–event mapping of a
longitudinal project. What is kept: record ids (the pseudonymous patient ids), repeat instances
(``Record.instance`` = ``redcap_repeat_instance``), event names (``Record.event``), form status
(``<form>_complete``: 2 → complete), the center (``center_id``, else the data access group).

The dictionary: capture's forms are the study dictionary in use (``services.dictionary()``); the
REDCap project must be that study's project, as ``latc dictionary``/``latc capture export`` write
it (:mod:`latc.dictionary.redcap`). Every variable of DD.csv and every column of the export must
be a variable of the study dictionary (REDCap's own columns and ``<form>_complete`` aside):
otherwise the import is refused before anything is written, listing the unknown names — a field
silently dropped would be data lost. (A project with other fields: add them to the study
dictionary first — ``LATC_CAPTURE_DICTIONARY``.)

Each record is imported all or nothing (one transaction per record): every row goes through the
web forms' own save (:func:`latc.capture.api.imports.apply`), so validation, rule queries and the
audit trail are those of data entry. A record with any hard problem is not written at all; its
rows go to capture's quarantine (``QuarantinedRow``, one per form row, with the rules) and to
``refused_records.csv`` in the report folder (record, form, instance, field, rule, message; the
message of an identifier field is replaced, so no identifier is copied into the report). A record
already in capture is updated only where blank (a stored value is never changed by this command;
change it in the forms, with a reason). Running the command twice imports nothing new.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from latc.capture.errors import CaptureError

REFUSED_FILE = "refused_records.csv"


@dataclass
class RedcapImportReport:
    records_read: int = 0
    rows_read: int = 0
    imported: list[str] = field(default_factory=list)
    refused: dict[str, list] = field(default_factory=dict)  # record → problems
    centers_created: list[str] = field(default_factory=list)
    report_dir: Path | None = None

    def summary(self) -> str:
        rules = Counter(p.rule for ps in self.refused.values() for p in ps)
        why = ", ".join(f"{r} {n}" for r, n in rules.most_common(6))
        return (f"{self.records_read:,} records ({self.rows_read:,} rows) read: {len(self.imported):,} imported, "
                f"{len(self.refused):,} refused{f' ({why})' if why else ''}")


class _Refused(Exception):
    pass


def _check_dictionary(dd_path: Path, study_dictionary) -> None:
    from latc.dictionary.redcap import C_TYPE, C_VAR, RedcapDictionaryError, _read_dictionary_frame, redcap_naming

    try:
        frame = _read_dictionary_frame(dd_path)
    except RedcapDictionaryError as e:
        raise CaptureError(str(e)) from None
    naming = redcap_naming(study_dictionary)
    unknown = [v for v, t in zip(frame[C_VAR], frame[C_TYPE]) if t != "descriptive" and v not in naming.fields]
    if unknown:
        raise CaptureError(f"{dd_path.name}: {len(unknown)} variable(s) are not fields of the study dictionary in use "
                           f"({', '.join(unknown[:10])}{' …' if len(unknown) > 10 else ''}); nothing was imported")


def import_redcap(dictionary_csv: str | Path, records_csv: str | Path, *, event_mapping: str | Path | None = None,
                  user=None, out: str | Path | None = None, client_addr: str = "") -> RedcapImportReport:
    """Import a REDCap project's flat export (see module docs). Raises :class:`CaptureError` with
    a one-line message when the files cannot be used at all."""
    from latc.capture import audit, services
    from latc.capture.api.dispatch import ApiError
    from latc.capture.api.imports import Problem, apply, parse_rows, plan
    from latc.capture.models import Center, QuarantinedRow
    from latc.io._csv import decode_csv

    dictionary_csv, records_csv = Path(dictionary_csv), Path(records_csv)
    d = services.dictionary()
    _check_dictionary(dictionary_csv, d)
    from latc.io._study import StudyReadError

    try:
        text = decode_csv(records_csv.read_bytes(), str(records_csv))[0].decode("utf-8")
    except OSError as e:
        raise CaptureError(f"{records_csv}: cannot read ({e.strerror or e})") from None
    except StudyReadError as e:
        raise CaptureError(str(e)) from None
    try:
        rows = parse_rows(text, "csv", source=records_csv.name)
    except ApiError as e:
        raise CaptureError(str(e)) from None
    if rows and "record_id" not in rows[0]:
        raise CaptureError(f"{records_csv.name}: not a REDCap raw export (the first column must be record_id)")
    plans, layout = plan(rows)
    rep = RedcapImportReport(records_read=len(plans), rows_read=len(rows))
    for p in layout:  # problems of the layout itself: the whole record is refused
        rep.refused.setdefault(p.record, []).append(p)
    mapping = None
    if event_mapping is not None:
        from latc.io.redcap import read_event_mapping

        mapping = read_event_mapping(Path(event_mapping))
        if mapping is None:
            raise CaptureError(f"{Path(event_mapping).name}: not a REDCap instrument-event mapping "
                               "(columns arm_num, unique_event_name, form)")
    identifiers = {(n, x.name) for n, f in d.forms.items() for x in f.fields if x.identifier}
    for pl in plans:
        if pl.record in rep.refused:
            continue
        problems = []
        if mapping is not None:
            problems = [Problem(pl.record, w.form, w.instance, "redcap_event_name", "redcap_event",
                                f"event {w.event!r} is not designated for {w.form} in the event mapping")
                        for w in pl.writes if w.event and w.form not in mapping.get(w.event, set())]
        if not problems and user is None and pl.center and not Center.objects.filter(code=pl.center).exists():
            try:
                services.create_center(None, pl.center, "", client_addr=client_addr)
                rep.centers_created.append(pl.center)
            except CaptureError as e:
                problems = [Problem(pl.record, "patients", 1, "center_id", "center", str(e))]
        if not problems:
            try:
                with audit.atomic():
                    problems = apply(user, pl, reason=None, client_addr=client_addr)[1]
                    if problems:
                        raise _Refused
            except _Refused:
                pass
        if problems:
            rep.refused[pl.record] = problems
        else:
            rep.imported.append(pl.record)
    for p in (x for ps in rep.refused.values() for x in ps):
        if (p.form, p.field) in identifiers:
            p.message = "value refused (an identifier field: the value is not repeated here)"
    if rep.refused:
        by_record = {pl.record: pl for pl in plans}
        with audit.atomic():
            quarantine = []
            for rec, problems in rep.refused.items():
                rules = ",".join(sorted({p.rule for p in problems}))
                message = "; ".join(p.text() for p in problems)[:2000]
                pl = by_record.get(rec)
                for w in (pl.writes if pl else []):
                    quarantine.append(QuarantinedRow(
                        form=w.form, patient_id=rec[:64], center=(pl.center if pl else "")[:16],
                        data={"patient_id": rec, **w.values}, reason=rules, message=message,
                        source=f"{records_csv.name} line {w.line}", imported_by=services.actor(user).username))
                audit.append(action="import_quarantine", username=services.actor(user).username, patient_id=rec[:32],
                             reason=f"import-redcap: {rules}", client_addr=client_addr)
            QuarantinedRow.objects.bulk_create(quarantine, batch_size=1000)
    if out is not None:
        rep.report_dir = _write_report(Path(out), rep)
    return rep


def _write_report(out: Path, rep: RedcapImportReport) -> Path:
    import pandas as pd

    from latc.io._csv import write_csv_table
    from latc.io._spreadsheet import neutralise_formulas

    out.mkdir(parents=True, exist_ok=True)
    rows = [{"record": p.record, "form": p.form, "instance": "" if p.instance is None else str(p.instance),
             "field": p.field, "rule": p.rule, "message": p.message}
            for ps in rep.refused.values() for p in ps]
    frame = pd.DataFrame(rows, columns=["record", "form", "instance", "field", "rule", "message"], dtype="str")
    write_csv_table(neutralise_formulas(frame), out / REFUSED_FILE)
    return out
