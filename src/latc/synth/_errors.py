"""Inject realistic data errors into the canonical text tables of a synthetic study.

Each injected error is listed (docs/dev/CONTRACTS.md, "Injected errors"):
``form,row,patient_id,field,error_type,original_value,injected_value`` where ``row`` is the row
number the readers assign (header = row 1, first data row = 2, rows in written order; duplicated
rows are appended at the end of their table). No row receives two errors, and the source row of
a duplicate receives none.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from latc.dictionary import Dictionary

ERROR_TYPES = (
    "wrong_code", "impossible_date", "swapped_dates", "future_date", "duplicate_row", "missing_required",
    "out_of_range", "text_in_number", "lab_unit_not_allowed", "branching_violation", "orphan_row",
    "center_mismatch", "diameter_jump",
)
ERROR_COLUMNS = ["form", "row", "patient_id", "field", "error_type", "original_value", "injected_value"]

#: realistic wrong entries for some choice fields (a label, an abbreviation, a typo)
_WRONG_CODES = {
    "sex": "F", "cohort": "neo", "histology": "papillary", "ct": "T4", "cn": "N1", "cm": "Mx", "ecog": "5",
    "braf_v600e": "pos", "ras": "neg", "tert_promoter": "yes", "resection_status": "R0/R1", "grade": "3-4",
    "overall_response": "iCPD", "test": "thyroglobulin", "vital_status": "deceased", "clavien_dindo": "3a",
    "agent": "lenvima", "tissue": "tumor",
}
_SWAP_PAIRS = {"treatments": ("start_date", "stop_date"), "adverse_events": ("start_date", "stop_date"),
               "complications": ("onset_date", "resolution_date")}


class _Injector:
    def __init__(self, texts: dict[str, pd.DataFrame], d: Dictionary, rng: np.random.Generator) -> None:
        self.t = texts
        self.d = d
        self.rng = rng
        self.used: set[tuple[str, int]] = set()
        self.errors: list[dict] = []
        self.duplicates: list[tuple[str, int]] = []

    # --- helpers ---
    def _pick_row(self, form: str, mask: np.ndarray | None = None) -> int | None:
        n = len(self.t[form])
        ok = np.ones(n, dtype=bool) if mask is None else np.asarray(mask, dtype=bool).copy()
        for f, r in self.used:
            if f == form and r < n:
                ok[r] = False
        idx = np.flatnonzero(ok)
        return None if len(idx) == 0 else int(idx[self.rng.integers(len(idx))])

    def _forms_with(self, pred: Callable) -> list[tuple[str, str]]:
        return [(form.name, f.name) for form in self.d.forms.values() if len(self.t[form.name]) > 0
                for f in form.fields if pred(form, f)]

    def _set(self, form: str, pos: int, field: str, value: str | None, etype: str, original: str | None = None) -> None:
        table = self.t[form]
        orig = table.at[pos, field] if original is None else original
        table.at[pos, field] = value
        self._record(form, pos, field, etype, orig, value)

    def _record(self, form: str, pos: int, field: str, etype: str, orig, value) -> None:
        self.used.add((form, pos))
        pid = self.t[form].at[pos, "patient_id"]
        self.errors.append({"form": form, "pos": pos, "patient_id": pid, "field": field, "error_type": etype,
                            "original_value": None if pd.isna(orig) else str(orig),
                            "injected_value": None if value is None or pd.isna(value) else str(value)})

    def _field_row(self, candidates: list[tuple[str, str]], extra: Callable | None = None) -> tuple[str, str, int] | None:
        order = self.rng.permutation(len(candidates))
        for k in order:
            form, field = candidates[k]
            col = self.t[form][field]
            mask = col.notna().to_numpy()
            if extra is not None:
                mask &= extra(form, field, self.t[form])
            pos = self._pick_row(form, mask)
            if pos is not None:
                return form, field, pos
        return None

    # --- error types ---
    def wrong_code(self) -> bool:
        cands = self._forms_with(lambda fm, f: f.type == "choice")
        hit = self._field_row(cands)
        if hit is None:
            return False
        form, field, pos = hit
        value = _WRONG_CODES.get(field, "unknown")
        if value in self.d.forms[form][field].choices:  # e.g. cause_of_death has a code "unknown"
            value = "not_a_code"
        self._set(form, pos, field, value, "wrong_code")
        return True

    def impossible_date(self) -> bool:
        hit = self._field_row(self._forms_with(lambda fm, f: f.type == "date"))
        if hit is None:
            return False
        form, field, pos = hit
        year = str(self.t[form].at[pos, field])[:4]
        self._set(form, pos, field, f"{year}-02-30" if self.rng.random() < 0.6 else f"{year}-04-31", "impossible_date")
        return True

    def future_date(self) -> bool:
        hit = self._field_row(self._forms_with(lambda fm, f: f.type == "date"))
        if hit is None:
            return False
        form, field, pos = hit
        orig = str(self.t[form].at[pos, field])
        # 30 years on: after the day of validation for decades to come (validation queries dates
        # after the day it runs; a date after an earlier data cut is no error)
        new = f"{int(orig[:4]) + 30}{orig[4:]}".replace("-02-29", "-02-28")
        self._set(form, pos, field, new, "future_date")
        return True

    def swapped_dates(self) -> bool:
        forms = [f for f in _SWAP_PAIRS if len(self.t[f]) > 0]
        for k in self.rng.permutation(len(forms)):
            form = forms[k]
            a, b = _SWAP_PAIRS[form]
            tab = self.t[form]
            mask = (tab[a].notna() & tab[b].notna() & (tab[a] < tab[b])).to_numpy()
            pos = self._pick_row(form, mask)
            if pos is None:
                continue
            va, vb = tab.at[pos, a], tab.at[pos, b]
            tab.at[pos, a], tab.at[pos, b] = vb, va
            self._record(form, pos, f"{a};{b}", "swapped_dates", f"{va};{vb}", f"{vb};{va}")
            return True
        return False

    def duplicate_row(self) -> bool:
        forms = [f for f in self.d.forms if len(self.t[f]) > 0]
        form = forms[self.rng.integers(len(forms))]
        pos = self._pick_row(form)
        if pos is None:
            return False
        self.used.add((form, pos))
        self.duplicates.append((form, pos))
        self.errors.append({"form": form, "pos": None, "source_pos": pos, "patient_id": self.t[form].at[pos, "patient_id"],
                            "field": None, "error_type": "duplicate_row", "original_value": None, "injected_value": None})
        return True

    def missing_required(self) -> bool:
        cands = self._forms_with(lambda fm, f: f.required and f.show_if is None and f.name not in fm.key
                                 and f.name not in ("patient_id", "center_id"))
        hit = self._field_row(cands)
        if hit is None:
            return False
        form, field, pos = hit
        self._set(form, pos, field, None, "missing_required")
        return True

    def out_of_range(self) -> bool:
        cands = self._forms_with(lambda fm, f: f.type in ("integer", "number") and f.max is not None
                                 and f.name not in fm.key and not f.name.endswith("_id"))
        hit = self._field_row(cands)
        if hit is None:
            return False
        form, field, pos = hit
        fld = self.d.forms[form][field]
        value = fld.max * 10 if fld.max > 0 else 999
        self._set(form, pos, field, str(int(value)) if float(value).is_integer() else str(value), "out_of_range")
        return True

    def text_in_number(self) -> bool:
        cands = self._forms_with(lambda fm, f: f.type in ("integer", "number") and f.name not in fm.key)
        hit = self._field_row(cands)
        if hit is None:
            return False
        form, field, pos = hit
        orig = self.t[form].at[pos, field]
        value = {"value": f"<{orig}", "diameter_mm": f"{orig} mm", "baseline_diameter_mm": f"{orig}mm"}.get(field, "unknown")
        self._set(form, pos, field, value, "text_in_number")
        return True

    def lab_unit_not_allowed(self) -> bool:
        tab = self.t["labs"]
        if len(tab) == 0:
            return False
        pos = self._pick_row("labs", tab["unit"].notna().to_numpy())
        if pos is None:
            return False
        allowed = self.d.forms["labs"]["unit"].allowed_by["values"][tab.at[pos, "test"]]
        wrong = [u for u in self.d.forms["labs"]["unit"].choices if u not in allowed]
        self._set("labs", pos, "unit", wrong[self.rng.integers(len(wrong))], "lab_unit_not_allowed")
        return True

    def branching_violation(self) -> bool:
        tab = self.t["follow_up"]
        pos = self._pick_row("follow_up", (tab["vital_status"] == "alive").to_numpy())
        if pos is None:
            return False
        self._set("follow_up", pos, "death_date", tab.at[pos, "visit_date"], "branching_violation")
        return True

    def orphan_row(self) -> bool:
        forms = [f for f in self.d.forms if f != "patients" and len(self.t[f]) > 0]
        form = forms[self.rng.integers(len(forms))]
        pos = self._pick_row(form)
        if pos is None:
            return False
        known = set(self.t["patients"]["patient_id"].dropna())
        orig = str(self.t[form].at[pos, "patient_id"])
        prefix = orig.split("-")[0]
        new = f"{prefix}-9{self.rng.integers(10000, 99999)}"
        while new in known:  # pragma: no cover - ids never start with 9 + 5 digits
            new = f"{prefix}-9{self.rng.integers(10000, 99999)}"
        self._set(form, pos, "patient_id", new, "orphan_row", original=orig)
        self.errors[-1]["patient_id"] = new
        return True

    def center_mismatch(self) -> bool:
        centers = sorted(set(self.t["patients"]["center_id"].dropna()))
        if len(centers) < 2:
            return False
        forms = [f for f in self.d.forms if f != "patients" and len(self.t[f]) > 0]
        form = forms[self.rng.integers(len(forms))]
        pos = self._pick_row(form)
        if pos is None:
            return False
        orig = self.t[form].at[pos, "center_id"]
        others = [c for c in centers if c != orig]
        self._set(form, pos, "center_id", others[self.rng.integers(len(others))], "center_mismatch")
        return True

    def diameter_jump(self) -> bool:
        tab = self.t["lesion_assessments"]
        if len(tab) == 0:
            return False
        les = self.t["lesions"]
        base = les.set_index(["patient_id", "lesion_id"])["baseline_diameter_mm"]
        d = pd.to_numeric(tab["diameter_mm"], errors="coerce")
        key = tab["patient_id"] + "|" + tab["lesion_id"]
        prev = d.groupby(key).shift(1)
        b = pd.to_numeric(pd.Series(base.reindex(pd.MultiIndex.from_arrays([tab["patient_id"], tab["lesion_id"]])).to_numpy()),
                          errors="coerce")
        prev = prev.fillna(b)
        mask = ((d > 5) & (prev > 5) & (d * 10 <= 300) & (prev < d * 2))  # ×10 must exceed the ×5 plausibility bound.fillna(False).to_numpy()
        pos = self._pick_row("lesion_assessments", mask)
        if pos is None:
            return False
        value = float(d.iloc[pos]) * 10
        self._set("lesion_assessments", pos, "diameter_mm", str(int(value)) if value.is_integer() else f"{value:g}", "diameter_jump")
        return True


def inject_errors(texts: dict[str, pd.DataFrame], n: int, rng: np.random.Generator,
                  d: Dictionary) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Inject ``n`` errors spread over :data:`ERROR_TYPES` (seeded order); returns the modified
    text tables (duplicates appended) and the list of injected errors."""
    texts = {k: v.reset_index(drop=True).copy() for k, v in texts.items()}
    inj = _Injector(texts, d, rng)
    order: list[str] = []
    while len(order) < n:
        order.extend(rng.permutation(ERROR_TYPES).tolist())
    done = 0
    attempts = 0
    i = 0
    while done < n and attempts < 10 * n + 50:
        etype = order[i % len(order)]
        i += 1
        attempts += 1
        if getattr(inj, etype)():
            done += 1
    # append duplicates at the end of their tables; then assign reader row numbers
    for form, pos in inj.duplicates:
        texts[form] = pd.concat([texts[form], texts[form].iloc[[pos]]], ignore_index=True)
    dup_iter = {}
    rows = []
    for e in inj.errors:
        if e["error_type"] == "duplicate_row":
            base = len(texts[e["form"]]) - sum(1 for f, _ in inj.duplicates if f == e["form"])
            k = dup_iter.get(e["form"], 0)
            dup_iter[e["form"]] = k + 1
            pos = base + k
        else:
            pos = e["pos"]
        rows.append({**{c: e.get(c) for c in ERROR_COLUMNS if c != "row"}, "row": int(pos) + 2})
    errors = pd.DataFrame(rows, columns=ERROR_COLUMNS)
    errors = errors.astype({c: "str" for c in ERROR_COLUMNS if c != "row"})
    return texts, errors
