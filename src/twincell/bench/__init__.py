"""TwinBench: target-identification methods side by side with baselines, in three tiers.

* tier 1 - forward prediction of held-out responses (:mod:`twincell.bench.tier1`);
* tier 2 - zero-shot target recovery from a response (:mod:`twincell.bench.tier2`);
* tier 3 - clinical: disease signatures vs approved-drug targets (:mod:`twincell.bench.tier3`).

Methods register in :data:`METHODS` (see :func:`list_methods`); every method runs through
:func:`run_method`; :func:`run_benchmark` runs the tiers and :func:`write_report` writes the files.
"""

from twincell.bench import activity, baselines, learned  # noqa: F401  (registers the methods)
from twincell.bench.methods import METHODS, Method, Resources, list_methods, make_methods, register_method, run_method
from twincell.bench.report import write_report
from twincell.bench.run import BenchResult, BenchSettings, run_benchmark, summary_table

__all__ = ["METHODS", "BenchResult", "BenchSettings", "Method", "Resources", "list_methods", "make_methods",
           "register_method", "run_benchmark", "run_method", "summary_table", "write_report"]
