"""The declared schema of every table ``latc analyze`` writes: the analysis → report contract.

Each table (``<section>/<name>``) declares its columns once, in order, with a kind — ``str``,
``float``, ``int`` (integral values; missing allowed) or ``bool``. The analysis writes every table
through :func:`check_table`: the declared columns in the declared order, a column the data gave no
value for (a model that could not be fitted on degenerate data) written empty, and a column that is
not declared or holds values of another kind refused as a bug in latc
(:class:`AnalysisContractError`). ``results.json`` records the schema beside each table, and the
report checks and types every table it reads (:func:`conform`), so a hand-edited or foreign CSV
fails with the file and the column instead of being guessed at. docs/analysis_plan.md lists the
tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from latc.errors import LatcError

__all__ = ["AnalysisContractError", "Column", "SCHEMAS", "TableSchema", "check_table", "conform", "schema_of"]

Kind = Literal["str", "float", "int", "bool"]
_KINDS = ("str", "float", "int", "bool")


class AnalysisContractError(LatcError, TypeError):
    """A table does not match its declared schema (names the table, the column and the rule)."""


@dataclass(frozen=True)
class Column:
    """One declared column: its name and kind."""

    name: str
    kind: Kind

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "type": self.kind}


@dataclass(frozen=True)
class TableSchema:
    """The declared columns of one analysis table, in the order they are written."""

    key: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def describe(self) -> list[dict[str, object]]:
        return [c.describe() for c in self.columns]


def _parse(key: str, spec: str) -> TableSchema:
    cols = []
    for item in spec.split():
        name, _, kind = item.partition(":")
        if kind not in _KINDS:
            raise ValueError(f"{key}: column {name} has unknown kind {kind!r}")
        cols.append(Column(name, kind))  # type: ignore[arg-type]
    return TableSchema(key, tuple(cols))


#: ``"<section>/<table>"`` → ``"column:kind …"``, in the order written
_SPECS: dict[str, str] = {
    "baseline/table1": (
        "variable:str label:str level:str statistic:str neoadjuvant:str upfront_surgery:str p:float "
        "test:str smd:float missing:float"),
    "response/objective_response": (
        "outcome:str by:str level:str responders:int n:int not_evaluable:int rate:float lower:float "
        "upper:float method:str note:str"),
    "response/best_overall_response": (
        "best_overall_response:str n:int proportion:float lower:float upper:float confirmed_n:int"),
    "response/biochemical_response": (
        "outcome:str by:str level:str responders:int n:int not_evaluable:int rate:float lower:float "
        "upper:float method:str note:str"),
    "response/pathological_response": (
        "outcome:str by:str level:str responders:int n:int not_evaluable:int rate:float lower:float "
        "upper:float method:str note:str"),
    "surgery/outcomes": (
        "outcome:str label:str cohort:str responders:int n:int not_evaluable:int rate:float lower:float "
        "upper:float method:str note:str"),
    "surgery/organ_preservation": (
        "outcome:str denominator:str cohort:str responders:int n:int not_evaluable:int rate:float "
        "lower:float upper:float method:str note:str"),
    "safety/ae_by_term": (
        "ctcae_term:str ki_toxicity_group:str n_any_grade:int n_grade_3_plus:int pct_any_grade:float "
        "lower_any_grade:float upper_any_grade:float pct_grade_3_plus:float lower_grade_3_plus:float "
        "upper_grade_3_plus:float"),
    "safety/ae_overview": (
        "category:str safety_set:int n_patients:int pct_patients:float lower_patients:float "
        "upper_patients:float"),
    "survival/km_landmarks": (
        "endpoint:str factor:str group:str time:float n_risk:float survival:float std_err:float "
        "lower:float upper:float note:str"),
    "survival/km_medians": (
        "endpoint:str factor:str group:str n:int events:float median:float lower:float upper:float "
        "note:str"),
    "survival/km_curves": (
        "endpoint:str factor:str group:str time:float n_risk:float n_event:float n_censor:float "
        "survival:float std_err:float lower:float upper:float"),
    "survival/follow_up": (
        "cohort:str n:int censored:float median:float lower:float upper:float"),
    "survival/logrank": (
        "endpoint:str factor:str group:str n:int observed:float expected:float oe2_e:float oe2_v:float "
        "chisq:float df:int p:float"),
    "survival/cox": (
        "endpoint:str factor:str term:str coef:float exp_coef:float se:float z:float p:float lower:float "
        "upper:float n:int events:int"),
    "survival/ph_check": (
        "endpoint:str factor:str term:str chisq:float df:int p:float"),
    "comparative/propensity_score": (
        "cohort:str n:int mean:float min:float q1:float median:float q3:float max:float"),
    "comparative/propensity_histogram": (
        "cohort:str patients:int bin_lower:float bin_upper:float"),
    "comparative/balance": (
        "sample:str variable:str type:str diff_measure:str mean_treated_un:float mean_control_un:float "
        "diff_un:float variance_ratio_un:float ks_un:float mean_treated_adj:float mean_control_adj:float "
        "diff_adj:float variance_ratio_adj:float ks_adj:float"),
    "comparative/love_plot": (
        "adjustment:str variable:str sample:str smd:float abs_smd:float measure:str threshold:float "
        "balanced:bool"),
    "comparative/effective_sample_size": (
        "sample:str index:str control:float treated:float"),
    "comparative/matching": (
        "sample:str control:float treated:float"),
    "comparative/hazard_ratios": (
        "endpoint:str analysis:str estimand:str hr:float lower:float upper:float p:float log_hr:float "
        "se:float se_type:str n:int events:int strata:str cluster:str weights:str covariates:str "
        "primary:bool note:str"),
    "comparative/weights_summary": (
        "weights:str cohort:str n:int sum:float mean:float sd:float min:float q01:float median:float "
        "q99:float max:float ess:float share_of_weight_top1pct:float n_above_10:int"),
    "comparative/weight_sensitivity": (
        "analysis:str population:str hr:float lower:float upper:float p:float n:int events:int "
        "excluded:int max_weight:float ess_treated:float ess_control:float log_hr:float se:float "
        "se_type:str note:str"),
    "comparative/evalues": (
        "endpoint:str analysis:str hr:float lower:float upper:float evalue_point:float evalue_ci:float "
        "primary:bool"),
    "comparative/km_landmarks": (
        "endpoint:str weighting:str group:str time:float n_risk:float survival:float std_err:float "
        "lower:float upper:float note:str"),
    "comparative/km_medians": (
        "endpoint:str weighting:str group:str n:int events:float median:float lower:float upper:float "
        "note:str variance:str"),
    "comparative/km_curves": (
        "endpoint:str weighting:str group:str time:float n_risk:float n_event:float n_censor:float "
        "survival:float std_err:float lower:float upper:float"),
    "comparative/logrank": (
        "endpoint:str group:str n:int observed:float expected:float oe2_e:float oe2_v:float chisq:float "
        "df:int p:float"),
    "comparative/ph_check": (
        "term:str chisq:float df:int p:float"),
    "comparative/patient_data": (
        "patient_id:str center_id:str center:str cohort:str neoadjuvant:int ps:float ps_logit:float "
        "w_ate:float w_ato:float matched:int subclass:str match_weight:float rec_time:float rec_event:int "
        "rec_type:int os_time:float os_event:int efs_time:float efs_event:int"),
    "competing/cumulative_incidence": (
        "group:str cause:int time:float cif:float var:float std_err:float lower:float upper:float "
        "cause_label:str note:str"),
    "competing/cif_curves": (
        "group:str cause:int time:float n_risk:float n_event:float cif:float var:float std_err:float "
        "lower:float upper:float cause_label:str follow_up_end:float"),
    "competing/gray_test": (
        "cause:int chisq:float df:int p:float stat:float strata:str cause_label:str"),
    "competing/fine_gray": (
        "model:str shr:float lower:float upper:float p:float coef:float se:float n:int events:int "
        "competing_events:int covariates:str"),
    "sensitivity/hazard_ratios": (
        "analysis:str population:str hr:float lower:float upper:float p:float log_hr:float se:float "
        "se_type:str n:int events:int left_out:str note:str"),
    "sensitivity/imputation_pooled": (
        "term:str m:int estimate:float ubar:float b:float t:float dfcom:float df:float riv:float "
        "lambda:float fmi:float std_error:float statistic:float p:float lower:float upper:float"),
    "subgroups/forest": (
        "subgroup:str subgroup_label:str level:str n:int events:int measure:str estimate:float "
        "lower:float upper:float p:float p_interaction:float interaction_test:str note:str"),
    "prognostic/discrimination": (
        "model:str metric:str horizon:float estimate:float se:float lower:float upper:float p:float "
        "method:str note:str"),
    "prognostic/calibration": (
        "model:str horizon:float group:int n:int events:int mean_predicted:float observed:float "
        "observed_lower:float observed_upper:float predicted_min:float predicted_max:float note:str"),
}

#: ``"<section>/<table>"`` → :class:`TableSchema`, for every table the analysis plan writes
SCHEMAS: dict[str, TableSchema] = {k: _parse(k, v) for k, v in _SPECS.items()}


def schema_of(section: str, name: str) -> TableSchema:
    """The declared schema of ``<section>/<name>`` (:class:`AnalysisContractError` when none is)."""
    try:
        return SCHEMAS[f"{section}/{name}"]
    except KeyError:
        raise AnalysisContractError(f"{section}/{name}: no declared schema (latc.analysis._schema)") from None


def _values(s: pd.Series) -> pd.Series:
    return s[s.notna()]


def _kind_problem(s: pd.Series, kind: str) -> str | None:
    """Why the values of ``s`` are not of ``kind`` (None when they are; all-missing fits any kind)."""
    v = _values(s)
    if not len(v) or kind == "str":
        return None
    if kind == "bool":
        if pd.api.types.is_bool_dtype(s) or v.map(lambda x: isinstance(x, (bool, np.bool_))).all():
            return None
        return "is not TRUE/FALSE"
    if pd.api.types.is_bool_dtype(s):
        return f"is TRUE/FALSE, not {kind}"
    num = pd.to_numeric(v, errors="coerce")
    if num.isna().any():
        return f"has a non-numeric value where {kind} is declared"
    if kind == "int":
        f = num.astype(float)
        finite = f[np.isfinite(f)]
        if (finite != np.round(finite)).any():
            return "has a non-integer value where int is declared"
    return None


def _problems(schema: TableSchema, df: pd.DataFrame, *, complete: bool) -> list[str]:
    out = []
    have = [str(c) for c in df.columns]
    missing = [c.name for c in schema.columns if c.name not in have]
    if missing and complete:
        out.append(f"column(s) {', '.join(missing)} missing")
    extra = [c for c in have if c not in schema.names]
    if extra:
        out.append(f"column(s) {', '.join(extra)} not declared")
    for c in schema.columns:
        if c.name in have:
            why = _kind_problem(df[c.name], c.kind)
            if why:
                out.append(f"column {c.name} {why}")
    return out


def check_table(section: str, name: str, df: pd.DataFrame) -> pd.DataFrame:
    """``df`` as written: the declared columns of ``<section>/<name>`` in the declared order, a
    declared column ``df`` lacks (no value could be computed) added empty.
    :class:`AnalysisContractError` names every problem when ``df`` has an undeclared column or
    values of another kind than declared."""
    schema = schema_of(section, name)
    problems = _problems(schema, df, complete=False)
    if problems:
        raise AnalysisContractError(f"{section}/{name}: " + "; ".join(problems))
    return df.reindex(columns=schema.names)


def _typed(s: pd.Series, kind: str) -> pd.Series:
    if kind == "float":
        return pd.to_numeric(s, errors="coerce").astype(float)
    if kind == "int":
        return pd.to_numeric(s, errors="coerce").astype("Int64")
    if kind == "bool":
        return s.map(lambda x: None if pd.isna(x) else bool(x)).astype("boolean")
    return s.map(lambda x: x if pd.isna(x) else str(x)).astype(object)


def conform(section: str, name: str, df: pd.DataFrame, *, source: str | None = None) -> pd.DataFrame:
    """A table read back (e.g. from its CSV) checked against its schema and typed: ``float``
    columns as float, ``int`` as pandas ``Int64``, ``bool`` as ``boolean``, ``str`` as text (a
    group code ``1`` read from a CSV is the text ``"1"``, as written). Raises
    :class:`AnalysisContractError` naming ``source`` (the file) and the column otherwise."""
    schema = schema_of(section, name)
    problems = _problems(schema, df, complete=True)
    if problems:
        raise AnalysisContractError(f"{source or f'{section}/{name}'}: " + "; ".join(problems))
    out = df.copy()
    for c in schema.columns:
        if c.name in out.columns:
            out[c.name] = _typed(out[c.name], c.kind)
    return out


def undeclared(keys: Iterable[str]) -> list[str]:
    """The table keys among ``keys`` with no declared schema."""
    return sorted(set(keys) - set(SCHEMAS))
