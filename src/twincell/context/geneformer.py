"""Geneformer cell embeddings from a local model directory (V1 or V2), extracted as Geneformer's ``EmbExtractor`` does.

``transformers`` and ``torch`` are imported only when the model is first used, so the light
install of TwinCell works without them.
"""

from __future__ import annotations

import json
import logging
import numbers
import os
from pathlib import Path
from typing import Any, Literal

import anndata as ad
import numpy as np

from twincell._device import torch_device
from twincell._progress import bar
from twincell.context.dictionaries import GeneformerDictionaries, Version
from twincell.context.tokenizer import RankValueTokenizer, TokenizedCells
from twincell.errors import ContextError, check_count, optional_import

log = logging.getLogger(__name__)

#: Environment variable naming the Geneformer model directory.
ENV_MODEL_DIR = "TWINCELL_GENEFORMER_DIR"
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")

Pooling = Literal["cls", "mean"]


class GeneformerEncoder:
    """Cell embeddings from a pretrained Geneformer (``BertForMaskedLM``) in a local directory.

    Parameters
    ----------
    model_dir
        Model directory (``config.json`` + ``model.safetensors`` or ``pytorch_model.bin``), e.g.
        ``Geneformer/Geneformer-V1-10M``; default: ``$TWINCELL_GENEFORMER_DIR``.
    dictionaries
        The dictionaries, or a folder to search for them; default: the model directory, its parent and
        the parent's ``geneformer/`` folder (the official repository layout); V1 falls back to the bundled copies.
    version
        ``"V1"`` or ``"V2"``; default: V2 when ``max_position_embeddings`` is 4,096 or more, else V1
        (give it explicitly for a non-standard model).
    layer
        Hidden layer, counted as Geneformer does: ``-1`` (default) = output of the second-to-last encoder
        layer, ``0`` = last layer, ``-k`` = ``k`` layers below the last.
    pooling
        ``"cls"`` (the ``<cls>`` position; V2 only, its default) or ``"mean"`` over the gene positions,
        special tokens excluded (V1's only mode).
    batch_size
        Cells per forward pass.
    device
        Torch device; default ``"cuda"`` when available, else ``"cpu"`` (an unknown device or a GPU this machine
        lacks is refused here, before any work).

    Raises
    ------
    ContextError
        If no model directory is given, it lacks a config or weights, or the options do not fit the model.
    """

    def __init__(self, model_dir: str | os.PathLike | None = None, *,
                 dictionaries: GeneformerDictionaries | str | os.PathLike | None = None,
                 version: Version | None = None, layer: int = -1, pooling: Pooling | None = None,
                 batch_size: int = 16, device: str | None = None) -> None:
        model_dir = model_dir or os.environ.get(ENV_MODEL_DIR)
        if not model_dir:
            raise ContextError("no Geneformer model directory given",
                               f"pass --geneformer-dir DIR or set {ENV_MODEL_DIR}; "
                               "without it TwinCell uses the ExpressionEncoder")
        self.model_dir = Path(model_dir).expanduser()
        self.config = _read_config(self.model_dir)
        self.n_layers = int(self.config["num_hidden_layers"])
        self.input_size = int(self.config["max_position_embeddings"])
        if version not in (None, "V1", "V2"):
            raise ContextError(f"unknown Geneformer version {version!r}", "use 'V1' or 'V2' (or leave it out)")
        self.version: Version = version or ("V2" if self.input_size >= 4096 else "V1")
        if not isinstance(dictionaries, GeneformerDictionaries):
            if dictionaries and not Path(dictionaries).expanduser().is_dir():
                what = "is a file, not a folder" if Path(dictionaries).expanduser().is_file() else "does not exist"
                raise ContextError(f"the dictionaries folder {dictionaries} {what}",
                                   "give the folder of your Geneformer checkout that holds the token and median "
                                   "dictionaries, or leave it out (V1: the bundled copies)")
            search = [Path(dictionaries).expanduser()] if dictionaries else [self.model_dir, self.model_dir.parent]
            dictionaries = GeneformerDictionaries.find(self.version, search, bundled_fallback=not dictionaries)
        if dictionaries.version != self.version:
            raise ContextError(f"{dictionaries.version} dictionaries given for a {self.version} model in {self.model_dir}",
                               "use the dictionaries of the model's generation")
        top = max(int(v) for v in dictionaries.tokens.values())
        if top >= int(self.config["vocab_size"]):
            raise ContextError(f"token id {top} exceeds the model's vocab_size {self.config['vocab_size']}",
                               "the dictionaries belong to another Geneformer generation")
        self.dictionaries = dictionaries
        self.tokenizer = RankValueTokenizer(dictionaries, input_size=self.input_size)
        if isinstance(layer, bool) or not isinstance(layer, numbers.Integral):
            raise ContextError(f"layer must be a whole number, got {layer!r}", "use -1 (Geneformer's default) or 0")
        if layer > 0 or layer < -(self.n_layers - 1):
            raise ContextError(f"layer {layer} is outside -{self.n_layers - 1}..0 for a {self.n_layers}-layer model",
                               "use -1 (second-to-last layer, Geneformer's default) or 0 (last layer)")
        self.layer = int(layer)
        self.pooling: Pooling = pooling or ("cls" if self.version == "V2" else "mean")
        if self.pooling == "cls" and self.version == "V1":
            raise ContextError("V1 models have no <cls> token", "use pooling='mean' (Geneformer does the same)")
        if self.pooling not in ("cls", "mean"):
            raise ContextError(f"unknown pooling {self.pooling!r}", "use 'cls' or 'mean'")
        self.batch_size = check_count(batch_size, "batch_size")
        self.device = None if device is None else str(torch_device(device, ContextError))  # checked before any work
        self._bert: Any = None

    @property
    def name(self) -> str:
        """Encoder name saved with every context: generation, layers and checkpoint folder, e.g.
        ``geneformer-V1-6L:Geneformer-V1-10M`` (two checkpoints of one size give different names), then the layer
        and pooling when they are not Geneformer's defaults (``...:Geneformer-V1-10M/layer 0/mean``): embeddings
        of different layers or poolings are never mixed."""
        name = f"geneformer-{self.version}-{self.n_layers}L:{self.model_dir.resolve().name}"
        default = self.layer == -1 and self.pooling == ("cls" if self.version == "V2" else "mean")
        return name if default else f"{name}/layer {self.layer}/{self.pooling}"

    @property
    def dim(self) -> int:
        """Embedding size (the model's ``hidden_size``)."""
        return int(self.config["hidden_size"])

    def __repr__(self) -> str:
        return f"GeneformerEncoder({self.name}, dir={self.model_dir}, layer={self.layer}, pooling={self.pooling})"

    def fit(self, adata: ad.AnnData) -> GeneformerEncoder:
        """Nothing to fit (the model is pretrained); present so both encoders share one interface."""
        return self

    def tokenize(self, adata: ad.AnnData, **kwargs: Any) -> TokenizedCells:
        """Rank-value encode ``adata`` (see :meth:`RankValueTokenizer.tokenize` for the keyword arguments)."""
        return self.tokenizer.tokenize(adata, **kwargs)

    def encode(self, adata: ad.AnnData, **kwargs: Any) -> np.ndarray:
        """Embed each cell of ``adata`` (raw counts): tokenise, run the model, pool the chosen layer.

        Returns
        -------
        numpy.ndarray
            (n_obs, dim) float32 cell embeddings, in ``adata`` order; with an ``obs["filter_pass"]``
            column, only the cells where it equals 1 (as Geneformer does).
        """
        return self.embed_tokens(self.tokenize(adata, **kwargs))

    def embed_tokens(self, cells: TokenizedCells) -> np.ndarray:
        """Embed tokenised cells in batches of similar length (longest first, as Geneformer does).

        Returns
        -------
        numpy.ndarray
            (n_cells, dim) float32, in the order of ``cells``.
        """
        import torch

        bert, device = self._model()
        hidden_index = self.n_layers + self.layer  # hidden_states[0] is the embedding output
        order = np.argsort(-cells.lengths, kind="stable")
        out = np.empty((len(cells), self.dim), dtype=np.float32)
        with bar(desc=f"{self.name} embeddings", total=len(cells), unit="cell") as pbar, torch.inference_mode():
            for start in range(0, len(cells), self.batch_size):
                rows = order[start:start + self.batch_size]
                ids, mask = cells.padded(rows, self.tokenizer.pad_id)
                ids_t = torch.as_tensor(ids, device=device)
                mask_t = torch.as_tensor(mask, device=device)
                hidden = bert(input_ids=ids_t, attention_mask=mask_t, output_hidden_states=True).hidden_states[hidden_index]
                out[rows] = self._pool(hidden, mask_t).float().cpu().numpy()
                pbar.update(len(rows))
        return out

    def _pool(self, hidden: Any, mask: Any) -> Any:
        import torch

        if self.pooling == "cls":
            return hidden[:, 0, :]
        weights = mask.clone().to(hidden.dtype)
        if self.tokenizer.special_tokens:  # drop <cls> (position 0) and <eos> (last real position)
            weights[:, 0] = 0
            last = mask.sum(dim=1) - 1
            weights[torch.arange(len(last), device=last.device), last] = 0
        return (hidden * weights[..., None]).sum(dim=1) / weights.sum(dim=1, keepdim=True)

    def _model(self) -> tuple[Any, Any]:
        if self._bert is None:
            import torch

            BertForMaskedLM = optional_import("transformers", "geneformer", "Geneformer embeddings").BertForMaskedLM

            device = torch.device(self.device or ("cuda" if torch.cuda.is_available() else "cpu"))  # self.device checked
            model = BertForMaskedLM.from_pretrained(str(self.model_dir))
            self._bert = model.bert.to(device).eval()  # the encoder; the MLM head is not needed for embeddings
            log.info("loaded %s from %s on %s", self.name, self.model_dir, device)
        return self._bert, next(self._bert.parameters()).device


def _read_config(model_dir: Path) -> dict[str, Any]:
    cfg = model_dir / "config.json"
    if not cfg.is_file():
        raise ContextError(f"{model_dir} has no config.json",
                           "point at a Geneformer model folder, e.g. Geneformer/Geneformer-V1-10M")
    if not any((model_dir / w).is_file() for w in _WEIGHT_FILES):
        raise ContextError(f"{model_dir} holds no weights ({' or '.join(_WEIGHT_FILES)})",
                           "download the model with git lfs (git lfs pull) or use the ExpressionEncoder")
    try:
        config = json.loads(cfg.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ContextError(f"{cfg} is not valid JSON: {exc}",
                           "use the config.json that came with the Geneformer model") from exc
    if not isinstance(config, dict):
        raise ContextError(f"{cfg} holds a JSON {type(config).__name__}, not an object",
                           "use the config.json that came with the Geneformer model")
    missing = [k for k in ("num_hidden_layers", "hidden_size", "max_position_embeddings", "vocab_size") if k not in config]
    if missing:
        raise ContextError(f"{cfg} lacks {missing}", "use the config.json that came with the Geneformer model")
    return config
