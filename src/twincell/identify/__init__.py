"""Target identification: one-pass (adjoint) ranking of all proteins, path explanations and reports.

Ranking and explanations are imported here; reports (jinja2, matplotlib) and contexts (anndata, the
encoders) are imported on first use, so that ``from twincell.identify import rank_targets`` stays light.
"""

from __future__ import annotations

from twincell._lazy import lazy_exports
from twincell.identify.explain import Explanation, explain, explain_many
from twincell.identify.inverse import rank_targets, target_scores

_LAZY = {"baseline_context": "context", "resolve_context": "context", "IdentifyResult": "report",
         "check_report_dir": "report", "identify_targets": "report", "write_report": "report"}

__all__ = ["Explanation", "IdentifyResult", "baseline_context", "check_report_dir", "explain", "explain_many",
           "identify_targets", "rank_targets", "resolve_context", "target_scores", "write_report"]
__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
