"""Direct identifiers in free text: detection and masking.

The study keeps only pseudonymous ids (STUDY.md, DESIGN.md "Study data"; the dictionary's header:
"free text must not carry names or numbers").  A text value that looks like a phone number, an
e-mail address, a national id / hospital number (a long run of digits) or carries a date-of-birth
label is an error, and the query log never echoes it: the value is replaced by :data:`MASK`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from latc.validate._schema import regex_mask

#: What the query log shows instead of a value that looks like an identifier.
MASK = "<masked: possible identifier>"

#: kind → regular expression (searched anywhere in the value, case-insensitive where it matters).
IDENTIFIER_PATTERNS: dict[str, str] = {
    "e-mail address": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.-]+",
    # 7+ digits in a row: national id, hospital/medical record number, phone without separators
    "long digit run (national id, record or phone number)": r"\d{7,}",
    # phone numbers written with separators: +41 79 123 45 67, (010) 1234-5678, 0791 234 567
    "phone number": r"(?:\+\d{1,3}[\s.-]?)?\(?\d{2,4}\)?[\s.-]\d{3,4}[\s.-]\d{2,4}(?:[\s.-]\d{2,4})?",
    "date-of-birth label": r"(?i)\b(?:dob|d\.o\.b|date\s+of\s+birth|birth\s*date|born\s+on)\b",
}


#: all kinds in one expression (case-insensitive flags moved to the front)
_ANY = "(?i)" + "|".join("(?:" + p.replace("(?i)", "") + ")" for p in IDENTIFIER_PATTERNS.values())


def identifier_kind(values: pd.Series) -> pd.Series:
    """For each value, the kind of identifier it seems to contain (missing when none).

    Vectorised: one regular-expression scan over the column, one per kind over the hits.
    """
    text = values.astype("str")
    kind = pd.Series(pd.NA, index=values.index, dtype="str")
    present = text.notna().to_numpy()
    if not present.any():
        return kind
    # one scan for any identifier; the kind is only worked out for the (rare) hits
    anyhit = regex_mask(text, _ANY) & present
    if not anyhit.any():
        return kind
    sub = text[anyhit]
    where = np.flatnonzero(anyhit)
    for name, pattern in IDENTIFIER_PATTERNS.items():
        hit = np.zeros(len(text), dtype=bool)
        hit[where] = regex_mask(sub, pattern)
        new = hit & kind.isna().to_numpy()
        if new.any():
            kind[new] = name
    return kind


def looks_like_identifier(values: pd.Series) -> np.ndarray:
    """Boolean mask: the value seems to contain a direct identifier."""
    return identifier_kind(values).notna().to_numpy()


def mask_identifiers(values: pd.Series) -> pd.Series:
    """The values with every identifier-like one replaced by :data:`MASK`."""
    out = values.astype("str")
    hit = looks_like_identifier(out)
    if hit.any():
        out = out.copy()
        out[hit] = MASK
    return out


def non_pseudonymous(ids: pd.Series, pattern: str | None = None) -> np.ndarray:
    """Boolean mask: a present patient id that does not match the dictionary's pseudonym pattern.

    Such an id may be a name or a hospital number, so outputs mask it (the source row number
    still lets the data manager find the record).
    """
    if pattern is None:
        from latc.dictionary import load_dictionary

        pattern = load_dictionary().patterns["patient_id_pattern"]
    text = ids.astype("str")
    present = text.notna().to_numpy()
    ok = text.str.fullmatch(pattern.strip("^$")).fillna(False).to_numpy(dtype=bool)
    return present & ~ok


#: what replaces an identifier-like part of a longer text (a message, a raw line)
MASK_PART = "<masked>"


def mask_identifier_parts(text: pd.Series) -> pd.Series:
    """Each identifier-like part of the texts (e-mail, long digit run, phone number, date-of-birth
    label; :data:`IDENTIFIER_PATTERNS`) replaced by :data:`MASK_PART`; the rest kept.

    For texts that repeat data values, such as query messages: the row numbers and dates in them do
    not match (a date has no run of 7 digits and no phone-like groups)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    s = text.astype("str")
    hit = regex_mask(s, _ANY)
    if not hit.any():
        return s
    arr = pa.array(s[hit], from_pandas=True, type=pa.string())
    out = s.copy()
    out[hit] = pc.replace_substring_regex(arr, _ANY, MASK_PART).to_pandas().to_numpy()
    return out


def mask_values_in(text: pd.Series, secrets: pd.Series) -> pd.Series:
    """Each text with the aligned secret value (when present) replaced by :data:`MASK` wherever it
    occurs — e.g. a patient id that is no pseudonym (a name) repeated inside a message."""
    s = text.astype("str")
    sec = secrets.astype("str")
    todo = (sec.notna() & s.notna() & (sec.str.len() > 0)).to_numpy(dtype=bool)
    if not todo.any():
        return s
    out = s.copy()
    idx = np.flatnonzero(todo)
    out.iloc[idx] = [m.replace(v, MASK) for m, v in zip(s.iloc[idx], sec.iloc[idx])]
    return out
