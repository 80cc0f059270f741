"""Paths built from data stay inside their folder; omics commands read the validated manifest.

Real ``latc omics imaging run`` on a small synthetic study (``latc synth --omics ultrasound,he_slide``)
with hostile biospecimen rows: absolute / ``../`` / symlinked ``file_ref`` values are refused per sample
(naming the sample and the rule) while the other samples still produce features, a ``../`` sample id
becomes a safe file name, a quarantined row is not analysed, and nothing is written outside ``--out``.
Plus the path helpers themselves and numba's cache folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from latc._paths import PathEscapeError, inside, resolve_inside, safe_filename
from latc.cli import app
from latc.omics import load_manifest

runner = CliRunner()
N_US, N_HE = 5, 1


@pytest.fixture(scope="module")
def synth_study(tmp_path_factory) -> Path:
    """A valid synthetic study whose manifest keeps 5 ultrasound and 1 H&E samples with files."""
    base = tmp_path_factory.mktemp("synth")
    r = runner.invoke(app, ["synth", "--out", str(base), "-n", "40", "-k", "2", "--seed", "11",
                            "--omics", "ultrasound,he_slide", "--omics-scale", "0.3"])
    assert r.exit_code == 0, r.output
    study = base / "study"
    m = pd.read_csv(study / "biospecimens.csv", dtype=str, keep_default_na=False)
    has_file = [bool(ref) and (study / ref).is_file() for ref in m["file_ref"]]
    m = m[has_file].sort_values("sample_id")
    us, he = m[m["assay"] == "ultrasound"], m[m["assay"] == "he_slide"]
    assert len(us) >= N_US and len(he) >= N_HE
    pd.concat([us.head(N_US), he.head(N_HE)]).to_csv(study / "biospecimens.csv", index=False)
    return study


def _copy(study: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "study"
    shutil.copytree(study, dst, symlinks=True)
    return dst


def _snapshot(root: Path, skip: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` (symlinks not followed) except those under ``skip``."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        if d == skip or skip in d.parents:
            dirnames[:] = []
            continue
        for n in filenames:
            st = (d / n).lstat()
            out[str((d / n).relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


def _manifest(study: Path) -> pd.DataFrame:
    return pd.read_csv(study / "biospecimens.csv", dtype=str, keep_default_na=False)


def _outside_copy(study: Path, ref: str, outside: Path) -> Path:
    """A copy of an ultrasound image and its mask outside the study: what an escaping file_ref reaches."""
    outside.mkdir(exist_ok=True)
    src = study / ref
    shutil.copy(src, outside / "x.png")
    shutil.copy(src.with_name(src.stem + "_mask.png"), outside / "x_mask.png")
    return outside / "x.png"


def _imaging(*args: str):
    return runner.invoke(app, ["omics", "imaging", "run", *args])


def test_escaping_file_refs_are_refused_per_sample_and_the_others_run(synth_study, tmp_path):
    study = _copy(synth_study, tmp_path)
    m = _manifest(study)
    us = m.index[m["assay"] == "ultrasound"].tolist()
    a, b, c, d = (m.loc[i, "sample_id"] for i in us[:4])
    target = _outside_copy(study, m.loc[us[0], "file_ref"], tmp_path / "outside")
    m.loc[us[0], "file_ref"] = str(target)                   # absolute path
    m.loc[us[1], "file_ref"] = "../outside/x.png"            # climbs out of the study folder
    link = study / "omics" / "ultrasound" / "link.png"       # a symlink inside pointing outside
    link.symlink_to(target)
    link.with_name("link_mask.png").symlink_to(target.with_name("x_mask.png"))
    m.loc[us[2], "file_ref"] = "omics/ultrasound/link.png"
    mask = study / m.loc[us[3], "file_ref"]                  # the image is inside, its lesion mask is not
    mask = mask.with_name(mask.stem + "_mask.png")
    mask.unlink()
    mask.symlink_to(target.with_name("x_mask.png"))
    m.to_csv(study / "biospecimens.csv", index=False)

    out = tmp_path / "out"
    before = _snapshot(tmp_path, out)
    r = _imaging(str(study), "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output
    assert _snapshot(tmp_path, out) == before  # nothing written (or changed) outside --out

    rad = pd.read_csv(out / "tables" / "radiomics.csv", dtype=str)
    assert set(rad["sample_id"]) == set(m.loc[us[4:], "sample_id"])  # the other samples still produce features
    assert len(pd.read_csv(out / "tables" / "histology.csv")) == N_HE

    refused = pd.read_csv(out / "refused_samples.csv", dtype=str).set_index("sample_id")
    assert refused.loc[a, "rule"] == "pattern" and refused.loc[b, "rule"] == "pattern"  # quarantined by validation
    assert refused.loc[c, "rule"] == "file_ref_outside" and refused.loc[d, "rule"] == "file_ref_outside"
    flat = " ".join(r.output.split())
    for sid, rule in ((a, "pattern"), (b, "pattern"), (c, "file_ref_outside"), (d, "file_ref_outside")):
        assert f"ultrasound sample {sid}: not analysed" in flat and rule in refused.loc[sid, "message"]
    assert "quarantined by validation" in refused.loc[a, "message"] and "symbolic link" in refused.loc[c, "message"]


def test_validated_folder_with_data_root_safe_names_and_refused_refs(synth_study, tmp_path):
    """A `latc validate` output read with --data-root; its clean table edited behind validation's back:
    a ``../`` sample id is analysed under a safe file name, absolute / ``..`` refs are still refused."""
    study = _copy(synth_study, tmp_path)
    val = tmp_path / "validation"
    r = runner.invoke(app, ["validate", str(study), "--out", str(val)])
    assert r.exit_code == 0, r.output
    clean = val / "clean" / "biospecimens.parquet"
    t = pd.read_parquet(clean)
    us = t.index[t["assay"] == "ultrasound"].tolist()
    assert len(us) == N_US and (t.loc[us, "sample_id"] == t.loc[us, "sample_id"].sort_values()).all()
    evil = "../../../../escape/x"  # from OUT/figures/ultrasound_<id>: four levels up is beside OUT
    t.loc[us[0], "sample_id"] = evil  # first ultrasound sample: gets an example figure
    target = _outside_copy(study, t.loc[us[1], "file_ref"], tmp_path / "outside")
    t.loc[us[1], "file_ref"] = str(target)
    t.loc[us[2], "file_ref"] = "omics/../../outside/x.png"
    abs_id, up_id = t.loc[us[1], "sample_id"], t.loc[us[2], "sample_id"]
    t.to_parquet(clean, index=False)

    out = tmp_path / "out"
    before = _snapshot(tmp_path, out)
    r = _imaging(str(val), "--data-root", str(study), "--out", str(out))
    assert r.exit_code == 0, r.output
    assert _snapshot(tmp_path, out) == before

    rad = pd.read_csv(out / "tables" / "radiomics.csv", dtype=str)
    assert evil in set(rad["sample_id"]) and len(rad) == N_US - 2
    assert not {abs_id, up_id} & set(rad["sample_id"])
    figs = sorted(p.name for p in (out / "figures").iterdir())
    safe = safe_filename(evil)
    assert f"ultrasound_{safe}.svg" in figs and f"ultrasound_{safe}.png" in figs
    assert all(p.is_file() and p.parent == out / "figures" for p in (out / "figures").iterdir())
    assert not (tmp_path / "escape").exists()
    refused = pd.read_csv(out / "refused_samples.csv", dtype=str).set_index("sample_id")
    assert refused.loc[abs_id, "rule"] == "file_ref_absolute" and refused.loc[up_id, "rule"] == "file_ref_parent"
    flat = " ".join(r.output.split())
    assert f"ultrasound sample {abs_id}: not analysed" in flat and "(rule file_ref_absolute)" in flat

    # the same validated table without --data-root: the study its run record (manifest.json) names is the root
    r = _imaging(str(val), "--out", str(tmp_path / "out2"))
    assert r.exit_code == 0 and f"radiomics: {N_US - 2} ultrasound samples" in " ".join(r.output.split())
    # … and without the record, file_refs resolve under the validation folder → absent
    (val / "manifest.json").unlink()
    r = _imaging(str(val), "--out", str(tmp_path / "out2b"))
    assert r.exit_code == 0 and "radiomics: 0 ultrasound samples" in " ".join(r.output.split())
    r = _imaging(str(val), "--data-root", str(tmp_path / "nope"), "--out", str(tmp_path / "out3"))
    assert r.exit_code == 2 and "data root not found" in r.output and "Traceback" not in r.output


def test_quarantined_biospecimen_row_is_not_analysed(synth_study, tmp_path):
    study = _copy(synth_study, tmp_path)
    m = _manifest(study)
    i = m.index[m["assay"] == "ultrasound"][0]
    sid = m.loc[i, "sample_id"]
    m.loc[i, "timepoint"] = "week_6"  # not a code of the value set: validation quarantines the row
    m.to_csv(study / "biospecimens.csv", index=False)

    assert sid in set(_manifest(study)["sample_id"])            # in the raw CSV …
    man = load_manifest(study)                                   # … not in what every omics command reads
    assert sid not in set(man["sample_id"]) and len(man) == N_US + N_HE - 1
    assert [q["rule"] for q in man.attrs["quarantined"] if q["sample_id"] == sid] == ["value_set"]

    out = tmp_path / "out"
    r = _imaging(str(study), "--out", str(out))
    assert r.exit_code == 0, r.output
    rad = pd.read_csv(out / "tables" / "radiomics.csv", dtype=str)
    assert sid not in set(rad["sample_id"]) and len(rad) == N_US - 1
    flat = " ".join(r.output.split())
    assert f"ultrasound sample {sid}: not analysed, its biospecimens row is quarantined by validation [value_set]" in flat


def test_safe_filename_is_one_safe_component():
    assert safe_filename("C01-0001-BL_TU_US") == "C01-0001-BL_TU_US"  # valid ids keep their name
    assert safe_filename(None) == safe_filename("")
    hostile = ["../../etc/passwd", "/etc/passwd", "..", ".", "", "a/b", "a\\b", ".hidden", "x\x00y",
               "CON", "nul.txt", "é/è", "ü" * 300, "C01-0001/../../x", " spaced name "]
    names = [safe_filename(v) for v in hostile]
    for v, n in zip(hostile, names):
        assert n and "/" not in n and "\\" not in n and "\x00" not in n, (v, n)
        assert not n.startswith(".") and ".." not in n and len(n) <= 80, (v, n)
        assert n.split(".")[0].upper() not in {"CON", "NUL"}, (v, n)
        assert Path("/out", n).parent == Path("/out")
    assert len(set(names)) == len(names)  # distinct values stay distinct
    assert safe_filename("a/b") != safe_filename("a_b") and safe_filename("a_b") == "a_b"


def test_resolve_inside_refuses_escapes_and_symlinks(tmp_path):
    root = tmp_path / "root"
    (root / "omics").mkdir(parents=True)
    (root / "omics" / "ok.txt").write_text("x")
    (tmp_path / "secret.txt").write_text("s")
    (root / "omics" / "out_link.txt").symlink_to(tmp_path / "secret.txt")
    (root / "omics" / "in_link.txt").symlink_to(root / "omics" / "ok.txt")
    (root / "tenx").mkdir()
    (root / "tenx" / "matrix.mtx").symlink_to(tmp_path / "secret.txt")
    assert resolve_inside(root, "omics/ok.txt") == root / "omics" / "ok.txt"
    assert resolve_inside(root, "omics/in_link.txt") == root / "omics" / "in_link.txt"
    assert resolve_inside(root, "omics/not_yet.txt") == root / "omics" / "not_yet.txt"  # need not exist
    cases = {str(tmp_path / "secret.txt"): "file_ref_absolute", "C:\\data\\x.png": "file_ref_absolute",
             "\\\\server\\share\\x": "file_ref_absolute", "../secret.txt": "file_ref_parent",
             "omics/../../secret.txt": "file_ref_parent", "omics\\..\\..\\secret.txt": "file_ref_parent",
             "omics/out_link.txt": "file_ref_outside", "tenx": "file_ref_outside", "": "file_ref_empty"}
    for ref, rule in cases.items():
        with pytest.raises(PathEscapeError) as e:
            resolve_inside(root, ref)
        assert e.value.rule == rule, ref
    assert inside(root, root / "omics" / "ok.txt") and not inside(root, root / "omics" / "out_link.txt")
    assert not inside(root, tmp_path / "root_sibling")


def _numba_files(folder: Path) -> set[Path]:
    return {p for pat in ("*.nbi", "*.nbc") for p in folder.rglob(pat)}


def test_numba_cache_goes_to_the_user_cache_not_the_package_folders(tmp_path):
    """The latc CLI entry point sets NUMBA_CACHE_DIR; numba compiles a cache=True function of a package
    into it (nothing beside the package), and scanpy's cached functions (installed in site-packages)
    point there too instead of their own __pycache__."""
    import matplotlib

    pkg = tmp_path / "site" / "fakepkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("import numba\n\n@numba.njit(cache=True)\ndef add(a, b):\n    return a + b\n")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), PYTHONPATH=str(tmp_path / "site"),
               MPLCONFIGDIR=matplotlib.get_cachedir())
    code = ("import latc.cli, os, fakepkg\n"
            "from numba.core import config\n"
            "import scanpy.preprocessing._simple as s\n"
            "print(fakepkg.add(1, 2)); print(os.environ['NUMBA_CACHE_DIR']); print(config.CACHE_DIR)\n"
            "print(s._downsample_array._cache.cache_path)\n")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    three, env_dir, cfg_dir, scanpy_dir = r.stdout.split("\n")[:4]
    want = tmp_path / "cache" / "latc" / "numba"
    assert three == "3" and env_dir == cfg_dir == str(want)
    assert Path(scanpy_dir).parent == want  # not site-packages/scanpy/preprocessing/__pycache__
    assert _numba_files(want) and not _numba_files(pkg)

    env["NUMBA_CACHE_DIR"] = str(tmp_path / "mine")  # a folder the user chose is kept
    r = subprocess.run([sys.executable, "-c", "import latc, os; print(os.environ['NUMBA_CACHE_DIR'])"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == str(tmp_path / "mine")
