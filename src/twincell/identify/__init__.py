"""Target identification: one-pass (adjoint) ranking of all proteins, path explanations and reports."""

from twincell.identify.context import baseline_context, resolve_context
from twincell.identify.explain import Explanation, explain
from twincell.identify.inverse import rank_targets, target_scores
from twincell.identify.report import IdentifyResult, identify_targets, write_report

__all__ = ["Explanation", "IdentifyResult", "baseline_context", "explain", "identify_targets", "rank_targets",
           "resolve_context", "target_scores", "write_report"]
