"""The patient × feature matrix across modalities (the input of MOFA and the predictive models).

Each modality arrives as a per-sample feature table: the :data:`~latc.omics.SAMPLE_KEYS` columns
plus numeric feature columns (one row per sample; a modality with several rows per sample, e.g.
one per lesion, is averaged). For every modality one timepoint (and optionally one tissue) is
chosen — baseline for prediction of response, so that nothing measured after the start of
treatment leaks into a baseline model — and its features become columns named
``<modality>:<feature>``. A patient without a sample of a modality keeps NaN in that modality's
columns and ``False`` in the availability mask; imputation, if any, happens later inside the
cross-validation folds (never here, which would leak information between patients).

Delta features (``<modality>:delta:<feature>`` = later − earlier timepoint) are optional, e.g.
on-treatment − baseline change of an immune score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from latc.omics._manifest import SAMPLE_KEYS, OmicsInputError, check_sample_metadata

#: Columns a feature table may carry that describe the sample or the acquisition, not biology;
#: they are never used as features. ``cohort`` and ``response`` are the outcome labels the omics
#: commands add for plotting (docs/omics/journey.md): as features they would leak the outcome.
META_COLUMNS: frozenset[str] = frozenset(SAMPLE_KEYS) | {
    "assay", "file_ref", "path", "exists", "collection_date", "lesion_id", "spacing_mm", "spacing_source",
    "n_pixels_roi", "microns_per_pixel", "mpp_source", "n_cells", "n_tiles", "batch", "library_id",
    "cohort", "response",
}

#: Separator between modality and feature in the matrix's column names.
SEP = ":"


@dataclass
class FeatureMatrix:
    """Patients × features across modalities.

    ``values``: DataFrame indexed by ``patient_id``, columns ``<modality>:<feature>`` (float, NaN
    where a modality is missing). ``availability``: patients × modalities, ``True`` where the
    patient had a sample of the modality at the chosen timepoint. ``modalities``: modality →
    its column names in ``values``. ``samples``: which sample(s) fed each patient × modality
    (``patient_id, modality, sample_id, timepoint, tissue``).
    """

    values: pd.DataFrame
    availability: pd.DataFrame
    modalities: dict[str, list[str]]
    samples: pd.DataFrame = field(default_factory=pd.DataFrame)

    def view(self, modality: str) -> pd.DataFrame:
        """The columns of one modality (patients without the modality are NaN rows)."""
        return self.values[self.modalities[modality]]

    def complete_patients(self, modalities: Sequence[str] | None = None) -> pd.Index:
        """Patients with every one of ``modalities`` (default: all)."""
        mods = list(modalities) if modalities is not None else list(self.modalities)
        return self.availability.index[self.availability[mods].all(axis=1)]


def feature_columns(table: pd.DataFrame) -> list[str]:
    """Numeric (or boolean) columns of a feature table that are not :data:`META_COLUMNS`."""
    out = []
    for c in table.columns:
        if c in META_COLUMNS or str(c).startswith("_"):
            continue
        dt = table[c].dtype
        if pd.api.types.is_bool_dtype(dt) or pd.api.types.is_numeric_dtype(dt):
            out.append(c)
    return out


def check_feature_table(table: pd.DataFrame, modality: str, manifest: pd.DataFrame | None = None) -> None:
    """Raise :class:`OmicsInputError` for a table that cannot be linked to patients.

    Rules: the table carries ``sample_id``, ``patient_id`` and ``timepoint``; a sample id starts with
    its own ``patient_id`` followed by ``-`` (dictionary ``sample_id_pattern``:
    ``<patient_id>-<TP>_<TISSUE>_<ASSAY>``); one sample id belongs to one patient; the table has at
    least one numeric feature column; with a manifest, every sample is in it with the same
    metadata (:func:`~latc.omics.check_sample_metadata`).
    """
    missing = [k for k in ("sample_id", "patient_id", "timepoint") if k not in table.columns]
    if missing:
        raise OmicsInputError(f"{modality}: feature table lacks column(s) {', '.join(missing)} "
                              f"(every omics table carries {', '.join(SAMPLE_KEYS)})")
    if table.empty:
        raise OmicsInputError(f"{modality}: feature table has no rows")
    sid = table["sample_id"].astype(str)
    pid = table["patient_id"].astype(str)
    bad = ~np.char.startswith(sid.to_numpy(dtype=str), (pid + "-").to_numpy(dtype=str))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise OmicsInputError(
            f"{modality}: row {i + 1}: sample_id {sid.iloc[i]!r} does not belong to patient_id {pid.iloc[i]!r} "
            f"(rule: sample_id = <patient_id>-<timepoint>_<tissue>_<assay>); {int(bad.sum())} row(s) mismatched")
    owners = table.groupby(sid.to_numpy(), sort=False)["patient_id"].nunique()
    if (owners > 1).any():
        raise OmicsInputError(f"{modality}: sample_id {owners.index[owners > 1][0]!r} appears with several patient_ids")
    if not feature_columns(table):
        raise OmicsInputError(f"{modality}: feature table has no numeric feature columns besides the sample keys")
    if manifest is not None:
        check_sample_metadata(table, manifest, what=modality)


def _per_sample(table: pd.DataFrame, feats: list[str]) -> pd.DataFrame:
    """One row per sample: feature columns averaged over repeated rows (e.g. lesions)."""
    keys = [k for k in SAMPLE_KEYS if k in table.columns]
    data = table[keys + feats].copy()
    data[feats] = data[feats].astype("float64")
    if not data["sample_id"].duplicated().any():
        return data
    meta = data[keys].drop_duplicates("sample_id")
    vals = data.groupby("sample_id", sort=False)[feats].mean()
    return meta.merge(vals, left_on="sample_id", right_index=True)


def _pick(frame: pd.DataFrame, column: str, wanted, modality: str) -> pd.DataFrame:
    if wanted is None:
        return frame
    if column not in frame.columns:
        raise OmicsInputError(f"{modality}: cannot choose {column}={wanted!r}: the table has no {column} column")
    keep = frame[column].astype(str).isin([wanted] if isinstance(wanted, str) else list(wanted))
    return frame[keep.to_numpy()]


def _collapse(frame: pd.DataFrame, feats: list[str]) -> pd.DataFrame:
    """One row per patient: the mean over the patient's samples (e.g. two tumour cores)."""
    return frame.groupby("patient_id", sort=True)[feats].mean()


def build_feature_matrix(tables: Mapping[str, pd.DataFrame], *, timepoint: str | Mapping[str, str] = "baseline",
                         tissue: str | Mapping[str, str | None] | None = None,
                         delta: Mapping[str, tuple[str, str]] | None = None,
                         patients: Sequence[str] | None = None,
                         manifest: pd.DataFrame | None = None) -> FeatureMatrix:
    """Assemble the patient × feature matrix from per-sample feature tables.

    Parameters
    ----------
    tables : modality name → per-sample feature table (:data:`SAMPLE_KEYS` + numeric features).
    timepoint : the timepoint whose samples are used, for all modalities or per modality
        (``{"flow": "on_treatment"}``; modalities not named use ``"baseline"``). For response
        prediction keep ``"baseline"``: later timepoints can carry the response itself.
    tissue : optional tissue filter, for all modalities or per modality (e.g. flow on ``blood``).
        Several samples of one patient that pass the filters are averaged.
    delta : optional modality → ``(earlier, later)`` timepoints; adds ``<modality>:delta:<feature>``
        columns = later − earlier for patients with both.
    patients : the row index (e.g. ``subject.patient_id``); default: every patient in any table.
        Patients without any sample keep all-NaN rows.
    manifest : optional biospecimen manifest; each table's sample metadata must agree with it.

    Raises
    ------
    OmicsInputError for a table that cannot be linked to patients (see :func:`check_feature_table`),
    or a modality with no sample at the chosen timepoint / tissue.
    """
    if not tables:
        raise OmicsInputError("no feature tables given")
    per_mod_tp = dict(timepoint) if isinstance(timepoint, Mapping) else {}
    per_mod_ti = dict(tissue) if isinstance(tissue, Mapping) else {}
    blocks, avail, mods, used = [], {}, {}, []
    for modality, table in tables.items():
        if SEP in modality:
            raise OmicsInputError(f"modality name {modality!r} must not contain {SEP!r}")
        check_feature_table(table, modality, manifest)
        feats = feature_columns(table)
        data = _per_sample(table, feats)
        tp = per_mod_tp.get(modality, "baseline") if isinstance(timepoint, Mapping) else timepoint
        ti = per_mod_ti.get(modality) if isinstance(tissue, Mapping) else tissue
        chosen = _pick(_pick(data, "timepoint", tp, modality), "tissue", ti, modality)
        if chosen.empty:
            have = ", ".join(sorted(data["timepoint"].astype(str).unique()))
            raise OmicsInputError(f"{modality}: no sample at timepoint {tp!r}"
                                  + (f" and tissue {ti!r}" if ti else "") + f" (timepoints present: {have})")
        wide = _collapse(chosen, feats)
        wide.columns = [f"{modality}{SEP}{f}" for f in feats]
        cols = list(wide.columns)
        if delta and modality in delta:
            early, late = delta[modality]
            a = _collapse(_pick(_pick(data, "timepoint", early, modality), "tissue", ti, modality), feats)
            b = _collapse(_pick(_pick(data, "timepoint", late, modality), "tissue", ti, modality), feats)
            d = b.sub(a).dropna(how="all")
            d.columns = [f"{modality}{SEP}delta{SEP}{f}" for f in feats]
            wide = wide.join(d, how="outer")
            cols = list(wide.columns)
        blocks.append(wide)
        mods[modality] = cols
        avail[modality] = wide.index
        used.append(chosen[[k for k in SAMPLE_KEYS if k in chosen.columns]].assign(modality=modality))
    values = pd.concat(blocks, axis=1, join="outer").sort_index()
    values.index = values.index.astype(str)
    values.index.name = "patient_id"
    if patients is not None:
        values = values.reindex(pd.Index([str(p) for p in patients], name="patient_id"))
    availability = pd.DataFrame({m: values.index.isin(idx.astype(str)) for m, idx in avail.items()},
                                index=values.index)
    samples = pd.concat(used, ignore_index=True)
    return FeatureMatrix(values=values.astype("float64"), availability=availability, modalities=mods,
                         samples=samples)


def clinical_matrix(subject: pd.DataFrame, covariates: Sequence[str]) -> pd.DataFrame:
    """Numeric design of clinical covariates, indexed by ``patient_id`` (for the clinical model).

    Numeric and boolean columns are kept as floats; text / categorical columns become indicator
    columns ``<covariate>=<level>`` (first level in sorted order dropped as reference). A missing
    value stays NaN in every indicator of that covariate so the fold-internal imputer fills it.
    """
    absent = [c for c in covariates if c not in subject.columns]
    if absent:
        raise OmicsInputError(f"subject has no column(s) {', '.join(absent)} for the clinical model")
    idx = pd.Index(subject["patient_id"].astype(str), name="patient_id")
    parts = []
    for c in covariates:
        s = subject[c]
        if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
            parts.append(pd.DataFrame({c: pd.to_numeric(s, errors="coerce").astype("float64").to_numpy()}, index=idx))
            continue
        levels = sorted(s.dropna().astype(str).unique())
        if len(levels) < 2:
            continue
        txt = s.astype("object").where(s.notna(), None).to_numpy()
        block = pd.DataFrame({f"{c}={lv}": (txt == lv).astype("float64") for lv in levels[1:]}, index=idx)
        block.loc[pd.isna(txt)] = np.nan
        parts.append(block)
    if not parts:
        raise OmicsInputError(f"clinical covariates {', '.join(covariates)} carry no variation")
    return pd.concat(parts, axis=1)
