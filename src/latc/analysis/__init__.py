"""The statistical analysis plan as code (``latc analyze``): results as named, documented tables.

```python
from latc.analysis import run_analysis, write_results, AnalysisOptions
res = run_analysis("out/demo/derived")                 # or a DerivedDatasets
res.table("comparative", "hazard_ratios")
res.primary()                                           # the protocol's primary estimate
write_results(res, "out/demo/analysis")                 # <section>/<table>.csv + results.json
```

Sections (docs/analysis_plan.md): baseline, response, surgery, safety, survival, comparative,
competing, sensitivity, subgroups, prognostic. Every statistic comes from :mod:`latc.stats`
(agreeing with R); this package decides populations, endpoints, parameters and table layout.
"""

from ._context import AnalysisOptions
from ._data import ANALYSIS_COLUMNS, AnalysisData, load_derived, privacy_violations
from ._plan import SECTIONS, run_analysis
from ._results import AnalysisInputError, AnalysisResults, PrimaryEstimate, ResultTable, SectionResult, SectionSkipped
from ._coding import coding, coding_text, plan_coding
from ._schema import SCHEMAS, AnalysisContractError, Column, TableSchema, check_table, conform, schema_of
from ._write import FORMAT_VERSION, analyze_path, coding_frame, input_locations, write_results

__all__ = [
    "ANALYSIS_COLUMNS",
    "AnalysisContractError",
    "Column",
    "FORMAT_VERSION",
    "SCHEMAS",
    "TableSchema",
    "check_table",
    "conform",
    "schema_of",
    "AnalysisData",
    "AnalysisInputError",
    "AnalysisOptions",
    "AnalysisResults",
    "PrimaryEstimate",
    "ResultTable",
    "SECTIONS",
    "SectionResult",
    "SectionSkipped",
    "analyze_path",
    "coding",
    "coding_frame",
    "coding_text",
    "input_locations",
    "plan_coding",
    "load_derived",
    "privacy_violations",
    "run_analysis",
    "write_results",
]
