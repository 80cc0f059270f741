"""Flow cytometry: FCS files (FlowKit), compensation, transforms, gating, population frequencies."""

from latc.omics.flow._features import flow_features, population_table
from latc.omics.flow._gating import (
    default_gating_path,
    export_gatingml,
    gate_sample,
    gating_strategy,
    load_gating,
    load_gating_yaml,
)
from latc.omics.flow._io import compensate, events, read_fcs, spillover_matrix, transform

__all__ = [
    "compensate", "default_gating_path", "events", "export_gatingml", "flow_features", "gate_sample",
    "gating_strategy", "load_gating", "load_gating_yaml", "population_table", "read_fcs", "spillover_matrix", "transform",
]
