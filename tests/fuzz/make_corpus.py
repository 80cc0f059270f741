"""Rebuild the fuzzers' seed corpus, fixed files and token dictionary from a small synthetic study.

    .venv/bin/python tests/fuzz/make_corpus.py

Writes (deterministic for a given latc / openpyxl):

* ``base/patients.csv`` — the valid ``patients.csv`` beside every ``csv_form`` input
  (``latc synth --patients 5 --centers 2 --seed 1``);
* ``corpus/csv_form/`` — per form: its index byte + the header and first rows of the synthetic file,
  plus a few variants (``;`` delimiter, byte-order mark and CRLF, quoted line break, UTF-16, Windows-1252,
  ragged rows, trailing empty columns);
* ``corpus/redcap_export/`` — the first record of the synthetic REDCap export (two instances per
  repeating instrument), a longitudinal variant (``redcap_event_name``), a checkbox-column variant,
  a base-row-only export;
* ``corpus/xlsx/`` — mode 0: a small workbook; mode 1: each member of the template workbook
  (tests/fuzz/targets.py); mode 2: a few short byte strings for the structure-aware builder;
* ``latc.dict`` — libFuzzer dictionary: form and field names, REDCap variables and control columns,
  choice codes and awkward values.
"""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import targets  # noqa: E402


def _synth(out: Path, fmt: str) -> Path:
    from latc.synth import write_synthetic_study

    write_synthetic_study(out, n_patients=5, n_centers=2, seed=1, fmt=fmt)
    return out / "study"


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def _csv(rows: list[list[str]], delimiter: str = ",", newline: str = "\n") -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator=newline).writerows(rows)
    return buf.getvalue()


def _write(folder: Path, name: str, data: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def main() -> None:
    from latc.dictionary import load_dictionary
    from latc.dictionary.redcap import redcap_naming

    d = load_dictionary()
    forms = list(d.forms)
    corpus = HERE / "corpus"
    shutil.rmtree(corpus, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        study = _synth(tmp / "csv", "csv")
        (HERE / "base").mkdir(exist_ok=True)
        shutil.copy(study / "patients.csv", HERE / "base" / "patients.csv")

        # csv_form: index byte + a few rows of each form
        out = corpus / "csv_form"
        for i, form in enumerate(forms):
            p = study / f"{form}.csv"
            rows = _rows(p.read_text(encoding="utf-8")) if p.exists() else [d.forms[form].field_names]
            _write(out, form, bytes([i]) + _csv(rows[:4]).encode())
        pi, li = forms.index("patients"), forms.index("labs")
        pat = _rows((study / "patients.csv").read_text(encoding="utf-8"))
        labs = _rows((study / "labs.csv").read_text(encoding="utf-8"))[:5]
        _write(out, "patients-semicolon", bytes([pi]) + _csv(pat, ";").encode())
        _write(out, "patients-bom-crlf", bytes([pi]) + b"\xef\xbb\xbf" + _csv(pat, newline="\r\n").encode())
        quoted = [r[:] for r in labs]
        quoted[2][-1] = "line one\nline two, with \"quotes\""
        _write(out, "labs-quoted-newline", bytes([li]) + _csv(quoted).encode())
        _write(out, "labs-utf16", bytes([li]) + _csv(labs).encode("utf-16"))
        accented = [r[:] for r in labs]
        accented[1][-1] = "café ±"
        _write(out, "labs-cp1252", bytes([li]) + _csv(accented).encode("cp1252"))
        ragged = [r[:] for r in labs]
        ragged[1] = ragged[1] + ["extra"]
        ragged[2] = ragged[2][:3]
        _write(out, "labs-ragged", bytes([li]) + _csv(ragged).encode())
        trailing = [r + [""] * 20 for r in labs]  # Excel's CSV of a sheet with touched empty columns
        _write(out, "labs-trailing-commas", bytes([li]) + _csv(trailing).encode())

        # redcap_export: the first record
        rc = _synth(tmp / "redcap", "redcap")
        rows = _rows((rc / "redcap_export.csv").read_text(encoding="utf-8"))
        header, body = rows[0], rows[1:]
        inst = header.index("redcap_repeat_instrument")
        first = body[0][0]
        seen: dict[str, int] = {}
        record = []
        for r in body:
            if r[0] != first:
                continue
            seen[r[inst]] = seen.get(r[inst], 0) + 1
            if seen[r[inst]] <= 2:
                record.append(r)
        out = corpus / "redcap_export"
        _write(out, "record", _csv([header] + record).encode())
        _write(out, "base-row", _csv([header] + record[:1]).encode())
        ev_header = header[:1] + ["redcap_event_name"] + header[1:]
        ev_rows = [r[:1] + [("baseline_arm_1" if k % 2 else "follow_up_arm_1")] + r[1:] for k, r in enumerate(record)]
        _write(out, "longitudinal", _csv([ev_header] + ev_rows).encode())
        naming = redcap_naming(d)
        sex = naming.variable[("patients", "sex")]
        j = header.index(sex)
        cb_header = header[:j] + [f"{sex}___female", f"{sex}___male"] + header[j + 1:]
        cb_rows = [r[:j] + (["1", "0"] if r[j] == "female" else ["0", "1"] if r[j] else ["", ""]) + r[j + 1:] for r in record]
        _write(out, "checkbox", _csv([cb_header] + cb_rows).encode())
        typo = [r[:] for r in record]
        for r in typo:
            if r[inst] == "labs":
                r[inst] = "lab"
                break
        _write(out, "instrument-typo", _csv([header] + typo).encode())

    # xlsx: the three modes
    out = corpus / "xlsx"
    members = targets.template()
    _write(out, "mode0-workbook", b"\x00" + targets.zip_members(members))
    for k, (name, data) in enumerate(members.items()):
        safe = name.replace("/", "_").replace("[", "").replace("]", "")
        _write(out, f"mode1-{safe}", bytes([1, k]) + data)
    for k, seed in enumerate([b"", b"\x00" * 64, b"\xff" * 64, bytes(range(256)), b"patients" * 16,
                              hashlib.sha512(b"latc").digest() * 4]):
        _write(out, f"mode2-{k}", b"\x02" + seed)

    # libFuzzer dictionary
    tokens: set[str] = set(forms)
    for f in d.fields():
        tokens.add(f.name)
        tokens.update(f.codes)
    tokens.update(naming.variable.values())
    tokens.update(f"{f}_complete" for f in forms)
    tokens.update(["record_id", "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance",
                   "redcap_data_access_group", "redcap_survey_identifier", "___", "_arm_1", "baseline_arm_1",
                   "Checked", "Unchecked", "Incomplete", "Complete", "Record ID", "Complete?",
                   "_row", "_extra_cells", "quarantine_reason", "quarantine_message", "redcap_event_mapping.csv"])
    tokens.update(t for t in targets.TOKENS if t and len(t) < 40)
    tokens.update(['""', '"', ",", ";", "\t", "\r\n", "\r", "\n", "\ufeff", "\u00a0", "\u3000", "C01-0001", "C02-0001"])
    lines = []
    for t in sorted(tokens):
        esc = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "".join(f"\\x{b:02x}" for b in c.encode()) for c in t)
        lines.append(f'"{esc}"')
    (HERE / "latc.dict").write_text("# libFuzzer dictionary, written by make_corpus.py\n" + "\n".join(lines) + "\n")
    n = {p.name: len(list(p.iterdir())) for p in corpus.iterdir()}
    print(f"corpus: {n}; dictionary: {len(lines)} tokens")


if __name__ == "__main__":
    main()
