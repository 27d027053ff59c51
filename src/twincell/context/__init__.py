"""Cell-context embeddings: Geneformer (with a local checkout) or the weight-free ExpressionEncoder, and the registry.

Every encoder has ``name``, ``dim``, ``fit(adata)`` and ``encode(adata) -> (n_obs, dim)``; a
:class:`ContextRegistry` maps context ids to vectors of one encoder and records where each came from.
``transformers``/``torch`` are imported only when a Geneformer model is used.
"""

from twincell.context.bundled import default_encoder, default_registry, reference_profiles
from twincell.context.dictionaries import GeneformerDictionaries
from twincell.context.encode import encode_h5ad, make_encoder, read_expression
from twincell.context.expression import ExpressionEncoder, rank_value_scores
from twincell.context.geneformer import GeneformerEncoder
from twincell.context.registry import ContextEncoder, ContextRegistry, encode_contexts
from twincell.context.tokenizer import RankValueTokenizer, TokenizedCells

__all__ = ["ContextEncoder", "ContextRegistry", "ExpressionEncoder", "GeneformerDictionaries", "GeneformerEncoder",
           "RankValueTokenizer", "TokenizedCells", "default_encoder", "default_registry",
           "encode_contexts", "encode_h5ad", "make_encoder", "read_expression", "rank_value_scores",
           "reference_profiles"]
