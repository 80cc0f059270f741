"""FCS files in with FlowKit: read, compensate, transform.

* Reading: :class:`flowkit.Sample` (FCS 2.0–3.1 via flowio).
* Compensation: the acquisition's spillover matrix from the FCS keyword ``$SPILLOVER`` (FCS 3.1)
  or ``$SPILL`` / ``SPILL`` (older), or a matrix supplied by the lab (CSV with detector names as
  header, or a DataFrame). Compensated events = raw events × spillover⁻¹ (Bagwell & Adams 1993;
  FCS 3.1 standard, Spidlen et al. *Cytometry A* 2010;77:97).
* Transforms: logicle (Parks, Roederer & Moore, *Cytometry A* 2006;69:541; GatingML 2.0
  parameters T, W, M, A) or asinh (GatingML 2.0 parametrised inverse hyperbolic sine).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from latc.omics._manifest import OmicsInputError

LOGICLE_DEFAULT = {"t": 262144.0, "w": 0.5, "m": 4.5, "a": 0.0}
ASINH_DEFAULT = {"t": 262144.0, "m": 4.5, "a": 0.0}


def read_fcs(path: str | Path, sample_id: str | None = None):
    """A :class:`flowkit.Sample` from an FCS file; a missing or unreadable file raises
    :class:`OmicsInputError` naming it."""
    import flowkit as fk

    path = Path(path)
    if not path.exists():
        raise OmicsInputError(f"FCS file not found: {path}")
    try:
        return fk.Sample(path, sample_id=sample_id or path.stem, subsample=0)
    except Exception as exc:  # flowio raises several exception types for damaged files
        raise OmicsInputError(f"{path.name}: not a readable FCS file ({type(exc).__name__}: {exc})") from None


def spillover_matrix(sample) -> pd.DataFrame | None:
    """The spillover matrix stored in the FCS metadata (``$SPILLOVER``, ``$SPILL`` or ``SPILL``) as a
    DataFrame (rows: fluorochrome's primary detector, columns: detectors), or None."""
    meta = sample.get_metadata()
    text = next((meta[k] for k in ("spillover", "spill", "$spillover", "$spill") if k in meta), None)
    if text is None:
        return None
    parts = [p.strip() for p in str(text).split(",")]
    try:
        n = int(parts[0])
        names = parts[1:1 + n]
        values = np.array([float(v) for v in parts[1 + n:1 + n + n * n]]).reshape(n, n)
    except (ValueError, IndexError):
        raise OmicsInputError(f"sample {sample.id}: the FCS spillover keyword is malformed") from None
    return pd.DataFrame(values, index=names, columns=names)


def compensate(sample, matrix: pd.DataFrame | str | Path | None = "fcs"):
    """Apply compensation to ``sample`` (in place; returns it). ``matrix``: ``"fcs"`` (the stored
    spillover), a DataFrame (detectors × detectors spillover), or a CSV path with the detector
    names as header. Detectors missing from the sample raise :class:`OmicsInputError`."""
    import flowkit as fk

    if isinstance(matrix, str) and matrix.lower() == "fcs":
        spill = spillover_matrix(sample)
        if spill is None:
            raise OmicsInputError(f"sample {sample.id}: no spillover matrix ($SPILLOVER/$SPILL) in the FCS file; "
                                  "give one with --compensation")
    elif isinstance(matrix, (str, Path)):
        p = Path(matrix)
        if not p.exists():
            raise OmicsInputError(f"compensation matrix not found: {p}")
        spill = pd.read_csv(p, sep=None, engine="python")
        if spill.columns[0].lower() in {"", "unnamed: 0", "detector", "fluorochrome"}:
            spill = spill.set_index(spill.columns[0])
        spill.index = spill.columns
    elif isinstance(matrix, pd.DataFrame):
        spill = matrix
    else:
        raise OmicsInputError("compensation must be 'fcs', a DataFrame or a CSV path")
    missing = [d for d in spill.columns if d not in sample.pnn_labels]
    if missing:
        raise OmicsInputError(f"sample {sample.id}: compensation detector(s) {', '.join(missing)} not in the FCS channels")
    sample.apply_compensation(fk.Matrix(spill.to_numpy(float), list(spill.columns),
                                        [sample.pns_labels[sample.pnn_labels.index(d)] or d for d in spill.columns]))
    return sample


def transform(kind: str = "logicle", **params):
    """A FlowKit transform: ``logicle`` (t, w, m, a) or ``asinh`` (t, m, a); GatingML 2.0 defaults."""
    from flowkit import transforms

    if kind == "logicle":
        p = {**LOGICLE_DEFAULT, **params}
        return transforms.LogicleTransform(param_t=p["t"], param_w=p["w"], param_m=p["m"], param_a=p["a"])
    if kind == "asinh":
        p = {**ASINH_DEFAULT, **params}
        return transforms.AsinhTransform(param_t=p["t"], param_m=p["m"], param_a=p["a"])
    if kind == "linear":
        p = {"t": 262144.0, "a": 0.0, **params}
        return transforms.LinearTransform(param_t=p["t"], param_a=p["a"])
    raise ValueError(f"unknown transform {kind!r}; expected logicle, asinh or linear")


def events(sample, source: str = "xform") -> pd.DataFrame:
    """Events as a DataFrame with detector (PnN) column names; ``source`` raw / comp / xform."""
    return pd.DataFrame(sample.get_events(source=source), columns=sample.pnn_labels)
