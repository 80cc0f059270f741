"""Every input that once broke a reader's contract (tests/fuzz/crashes/, README there) is replayed
in the default test run: read (or refused with a one-line ``StudyReadError``), validated, no row
lost; inputs named ``*-slow-*`` must finish within ``LATC_FUZZ_SLOW_LIMIT`` seconds (30) — they
once made the reader quadratic in the number of empty header-less columns.

The fuzzing itself is slow and runs in ``make test-all`` (tests/test_fuzz.py).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import pytest

FUZZ = Path(__file__).parent / "fuzz"
SAVED = sorted(p for p in (FUZZ / "crashes").glob("*") if p.suffix in (".csv", ".xlsx", ".bin"))


@functools.cache
def _targets():
    spec = importlib.util.spec_from_file_location("latc_fuzz_targets", FUZZ / "targets.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_saved_input_is_replayed() -> None:
    assert len(SAVED) >= 6, SAVED  # the folder was found and holds the known inputs


@pytest.mark.parametrize("path", SAVED, ids=[p.name for p in SAVED])
def test_saved_crash_inputs(path: Path) -> None:
    """Read and validated within the contract now (tests/fuzz/crashes/README.md says what each was)."""
    _targets().check_file(path)
