"""Seeded synthetic multicenter LATC cohort with documented true effects (docs/synthetic.md).

``synthesize`` returns the study in memory (typed tables, truth, latent variables);
``write_synthetic_study`` writes it (``OUT/study`` + ``OUT/truth.json`` + ``OUT/truth_patients.csv``,
and ``OUT/injected_errors.csv`` when errors are injected).
"""

from latc.synth._study import SyntheticStudy, synthesize
from latc.synth._write import SynthResult, write_synthetic_study

__all__ = ["SynthResult", "SyntheticStudy", "synthesize", "write_synthetic_study"]
