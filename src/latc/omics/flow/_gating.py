"""Gating strategies: a documented YAML (``resources/gating_pbmc.yaml``) or a GatingML 2.0 file,
as a :class:`flowkit.GatingStrategy` applied per sample.

YAML schema (see the shipped file): ``panel`` (marker → detector PnN), ``compensation`` (``FCS``
for the file's spillover, or a CSV path), ``transform`` (``type`` logicle/asinh + parameters) and
``gates``: each with ``name`` (an XML NCName, so the GatingML export re-imports), ``parent``
(``root`` or a gate name), ``type`` ``rectangle`` (``dims: {marker_or_channel: [min, max]}``,
``null`` = open) or ``polygon`` (``x``, ``y``, ``vertices``). Markers are gated on compensated,
transformed values; scatter channels (FSC*/SSC*) on linear raw values.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pandas as pd
import yaml

from latc.omics._manifest import OmicsInputError
from latc.omics.flow._io import transform

NCNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_XFORM_ID = "fluor_xform"


def default_gating_path() -> Path:
    """The shipped PBMC gating strategy."""
    return Path(str(resources.files("latc.omics.resources").joinpath("gating_pbmc.yaml")))


def load_gating_yaml(path: str | Path | None = None) -> dict:
    """Read and check a gating YAML (default: the shipped PBMC strategy). Errors name the gate
    and the problem (unknown parent, non-NCName, bad dims)."""
    path = Path(path) if path is not None else default_gating_path()
    if not path.exists():
        raise OmicsInputError(f"gating strategy not found: {path}")
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise OmicsInputError(f"{path.name}: not valid YAML ({exc})") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("gates"), list):
        raise OmicsInputError(f"{path.name}: expected a mapping with a 'gates' list")
    seen = {"root"}
    for i, g in enumerate(spec["gates"], start=1):
        name = str(g.get("name", ""))
        where = f"{path.name}: gate {i} ({name or 'unnamed'})"
        if not NCNAME.match(name):
            raise OmicsInputError(f"{where}: name must be an XML NCName (letters, digits, _ . -; e.g. CD3pos, not CD3+)")
        if g.get("parent", "root") not in seen:
            raise OmicsInputError(f"{where}: parent {g.get('parent')!r} is not defined before it")
        kind = g.get("type")
        if kind == "rectangle":
            if not isinstance(g.get("dims"), dict) or not g["dims"]:
                raise OmicsInputError(f"{where}: a rectangle needs dims {{marker: [min, max]}}")
            for k, v in g["dims"].items():
                if not (isinstance(v, list) and len(v) == 2) or all(x is None for x in v):
                    raise OmicsInputError(f"{where}: dims[{k}] must be [min, max] with at least one bound")
        elif kind == "polygon":
            if not all(k in g for k in ("x", "y", "vertices")) or len(g["vertices"]) < 3:
                raise OmicsInputError(f"{where}: a polygon needs x, y and ≥ 3 vertices")
        else:
            raise OmicsInputError(f"{where}: type must be rectangle or polygon, not {kind!r}")
        seen.add(name)
    spec.setdefault("panel", {})
    spec.setdefault("compensation", "FCS")
    spec.setdefault("transform", {"type": "logicle"})
    return spec


def _is_scatter(channel: str) -> bool:
    return channel.upper().startswith(("FSC", "SSC"))


def _read_matrix(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise OmicsInputError(f"compensation matrix not found: {path}")
    m = pd.read_csv(path, sep=None, engine="python")
    if not pd.api.types.is_numeric_dtype(m[m.columns[0]]):
        m = m.set_index(m.columns[0])
    if m.shape[0] != m.shape[1]:
        raise OmicsInputError(f"{path.name}: a spillover matrix must be square (detectors × detectors), got {m.shape}")
    m.index = m.columns
    return m.astype(float)


def gating_strategy(spec: dict, compensation: str | Path | pd.DataFrame | None = None, base: Path | None = None):
    """Translate a checked YAML spec into a :class:`flowkit.GatingStrategy`.

    ``compensation`` overrides the spec's: ``"FCS"`` (the spillover stored in each file), a
    spillover DataFrame (detectors × detectors) or a CSV path (relative paths from ``base``),
    or ``"none"`` to gate uncompensated events.
    """
    import flowkit as fk

    gs = fk.GatingStrategy()
    tparams = {k: float(v) for k, v in spec["transform"].items() if k != "type"}
    gs.add_transform(_XFORM_ID, transform(spec["transform"].get("type", "logicle"), **tparams))
    comp = spec["compensation"] if compensation is None else compensation
    if isinstance(comp, str) and comp.upper() == "FCS":
        comp_ref = "FCS"
    elif isinstance(comp, str) and comp.lower() == "none":
        comp_ref = "uncompensated"
    else:
        m = comp if isinstance(comp, pd.DataFrame) else _read_matrix((base or Path(".")) / Path(comp))
        gs.add_comp_matrix("lab_matrix", fk.Matrix(m.to_numpy(float), list(m.columns), list(m.columns)))
        comp_ref = "lab_matrix"
    panel = spec["panel"]

    def dim(name, lo=None, hi=None):
        channel = panel.get(name, name)
        if _is_scatter(channel):
            return fk.Dimension(channel, compensation_ref="uncompensated", range_min=lo, range_max=hi)
        return fk.Dimension(channel, compensation_ref=comp_ref, transformation_ref=_XFORM_ID, range_min=lo, range_max=hi)

    paths: dict[str, tuple[str, ...]] = {"root": ("root",)}
    for g in spec["gates"]:
        parent = g.get("parent", "root")
        if g["type"] == "rectangle":
            gate = fk.gates.RectangleGate(g["name"], [dim(k, *v) for k, v in g["dims"].items()])
        else:
            gate = fk.gates.PolygonGate(g["name"], [dim(g["x"]), dim(g["y"])], [tuple(map(float, v)) for v in g["vertices"]])
        gs.add_gate(gate, gate_path=paths[parent])
        paths[g["name"]] = paths[parent] + (g["name"],)
    return gs


def load_gating(path: str | Path | None = None, compensation: str | Path | pd.DataFrame | None = None):
    """A :class:`flowkit.GatingStrategy` from a YAML (``.yaml``/``.yml``; ``compensation`` overrides
    the YAML's) or a GatingML 2.0 (``.xml``) file, whose compensation is inside the document."""
    import flowkit as fk

    p = Path(path) if path is not None else default_gating_path()
    if p.suffix.lower() in {".yaml", ".yml"}:
        return gating_strategy(load_gating_yaml(p), compensation, base=p.parent)
    if not p.exists():
        raise OmicsInputError(f"gating strategy not found: {p}")
    try:
        return fk.parse_gating_xml(str(p))
    except Exception as exc:  # lxml / FlowKit raise a variety of parse errors
        raise OmicsInputError(f"{p.name}: not a valid GatingML 2.0 document ({type(exc).__name__}: {exc})") from None


def export_gatingml(strategy, path: str | Path) -> Path:
    """Write ``strategy`` as GatingML 2.0 (FlowKit's exporter)."""
    import flowkit as fk

    path = Path(path)
    with path.open("wb") as fh:
        fk.export_gatingml(strategy, fh)
    return path


def gate_sample(strategy, sample) -> pd.DataFrame:
    """Gate one sample: FlowKit's report (one row per gate: gate_name, gate_path, parent, count,
    absolute_percent, relative_percent)."""
    try:
        res = strategy.gate_sample(sample)
    except (LookupError, ValueError, KeyError) as exc:
        raise OmicsInputError(f"sample {sample.id}: the gating strategy does not fit the FCS channels ({exc})") from None
    return res.report.reset_index(drop=True)
