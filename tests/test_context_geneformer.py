"""GeneformerEncoder on tiny randomly initialised BERTs (same config keys as Geneformer; nothing downloads)."""

from __future__ import annotations

import functools
import json
import pickle

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from twincell.context import GeneformerDictionaries, GeneformerEncoder  # noqa: E402
from twincell.errors import ContextError, TwinCellError  # noqa: E402

GENES = [f"ENSG9{i:010d}" for i in range(1, 21)]  # synthetic Ensembl-shaped IDs


def write_model(folder, version: str, max_pos: int, n_layers: int = 3, hidden: int = 32) -> dict[str, int]:
    """A random-weight BertForMaskedLM + dictionaries laid out like a Geneformer checkout."""
    specials = {"<pad>": 0, "<mask>": 1} | ({"<cls>": 2, "<eos>": 3} if version == "V2" else {})
    tokens = specials | {g: len(specials) + i for i, g in enumerate(GENES)}
    medians = {g: float(m) for g, m in zip(GENES, np.linspace(0.5, 3.0, len(GENES)))}
    cfg = transformers.BertConfig(vocab_size=len(tokens), hidden_size=hidden, num_hidden_layers=n_layers, num_attention_heads=4,
                                  intermediate_size=64, max_position_embeddings=max_pos, hidden_act="relu", pad_token_id=0,
                                  type_vocab_size=2, hidden_dropout_prob=0.02, attention_probs_dropout_prob=0.02)
    torch.manual_seed(0)
    model_dir = folder / f"Geneformer-{version}-tiny"
    transformers.BertForMaskedLM(cfg).save_pretrained(model_dir)
    suffix = "gc30M" if version == "V1" else "gc104M"
    dict_dir = folder / "geneformer" / ("gene_dictionaries_30m" if version == "V1" else "")
    dict_dir.mkdir(parents=True, exist_ok=True)
    for name, obj in (("token_dictionary", tokens), ("gene_median_dictionary", medians), ("gene_name_id_dict", {})):
        with open(dict_dir / f"{name}_{suffix}.pkl", "wb") as fh:
            pickle.dump(obj, fh)
    return tokens


def synthetic_counts(n: int = 7, seed: int = 0) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    x = rng.poisson(1.0, size=(n, len(GENES))).astype(np.float32)
    x[:, 0] += 1  # every cell expresses at least one gene
    return ad.AnnData(sp.csr_matrix(x), var=pd.DataFrame(index=GENES), obs=pd.DataFrame(index=[f"cell{i}" for i in range(n)]))


@pytest.fixture(scope="module")
def checkouts(tmp_path_factory):
    root = tmp_path_factory.mktemp("geneformer")
    (root / "v1").mkdir()
    (root / "v2").mkdir()
    write_model(root / "v1", "V1", max_pos=16)
    write_model(root / "v2", "V2", max_pos=12)
    return root


@functools.lru_cache(maxsize=4)
def load_reference_model(model_dir: str):
    return transformers.BertForMaskedLM.from_pretrained(model_dir).eval()


def manual_embedding(enc: GeneformerEncoder, ids: np.ndarray, layer_index: int, pooling: str) -> np.ndarray:
    """One cell, unpadded, straight through transformers (the reference for batching, layers and pooling)."""
    model = load_reference_model(str(enc.model_dir))
    with torch.no_grad():
        h = model.bert(input_ids=torch.as_tensor(ids[None]), output_hidden_states=True).hidden_states[layer_index][0]
    if pooling == "cls":
        return h[0].numpy()
    inner = h[1:-1] if enc.tokenizer.special_tokens else h
    return inner.mean(dim=0).numpy()


def test_v1_finds_checkout_dictionaries_and_embeds_second_to_last_layer_mean(checkouts):
    enc = GeneformerEncoder(checkouts / "v1" / "Geneformer-V1-tiny", batch_size=3)
    assert enc.version == "V1" and enc.name == "geneformer-V1-3L:Geneformer-V1-tiny" and enc.dim == 32 and enc.pooling == "mean"
    assert "gene_dictionaries_30m" in enc.dictionaries.source
    adata = synthetic_counts()
    emb = enc.encode(adata)
    assert emb.shape == (adata.n_obs, 32) and emb.dtype == np.float32 and np.all(np.isfinite(emb))
    np.testing.assert_array_equal(emb, enc.encode(adata))  # deterministic
    cells = enc.tokenize(adata)
    assert cells.lengths.max() <= 16
    for i in (0, 3, 6):  # hidden_states[n_layers - 1] = output of the second-to-last layer
        np.testing.assert_allclose(emb[i], manual_embedding(enc, cells[i], 2, "mean"), rtol=1e-4, atol=1e-5)


def test_v2_cls_and_mean_pooling_exclude_special_tokens(checkouts):
    model_dir = checkouts / "v2" / "Geneformer-V2-tiny"
    enc_cls = GeneformerEncoder(model_dir, version="V2", batch_size=4)
    assert enc_cls.version == "V2" and enc_cls.pooling == "cls" and enc_cls.tokenizer.max_genes == 10
    enc_mean = GeneformerEncoder(model_dir, version="V2", pooling="mean", layer=0, batch_size=2)
    adata = synthetic_counts(5, seed=1)
    cells = enc_cls.tokenize(adata)
    assert all(cells[i][0] == 2 and cells[i][-1] == 3 for i in range(len(cells)))
    e_cls, e_mean = enc_cls.encode(adata), enc_mean.encode(adata)
    for i in range(adata.n_obs):
        np.testing.assert_allclose(e_cls[i], manual_embedding(enc_cls, cells[i], 2, "cls"), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(e_mean[i], manual_embedding(enc_mean, cells[i], 3, "mean"), rtol=1e-4, atol=1e-5)


def test_batch_size_does_not_change_embeddings(checkouts):
    model_dir = checkouts / "v1" / "Geneformer-V1-tiny"
    adata = synthetic_counts(9, seed=2)
    a = GeneformerEncoder(model_dir, batch_size=1).encode(adata)
    b = GeneformerEncoder(model_dir, batch_size=9).encode(adata)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_env_var_and_bad_directories(checkouts, tmp_path, monkeypatch, python_environ):
    monkeypatch.delenv("TWINCELL_GENEFORMER_DIR", raising=False)
    with pytest.raises(ContextError, match="no Geneformer model directory"):
        GeneformerEncoder()
    monkeypatch.setenv("TWINCELL_GENEFORMER_DIR", str(checkouts / "v1" / "Geneformer-V1-tiny"))
    assert GeneformerEncoder().name == "geneformer-V1-3L:Geneformer-V1-tiny"
    (tmp_path / "config.json").write_text(json.dumps({"num_hidden_layers": 2}))
    with pytest.raises(ContextError, match="no weights"):
        GeneformerEncoder(tmp_path)
    with pytest.raises(ContextError, match="no <cls>"):
        GeneformerEncoder(checkouts / "v1" / "Geneformer-V1-tiny", pooling="cls")
    with pytest.raises(ContextError, match="layer"):
        GeneformerEncoder(checkouts / "v1" / "Geneformer-V1-tiny", layer=-5)
    with pytest.raises(ContextError, match="layer must be a whole number"):   # was: bare TypeError
        GeneformerEncoder(checkouts / "v1" / "Geneformer-V1-tiny", layer="-1")
    with pytest.raises(ContextError, match="unknown Geneformer version 'v1'"):   # was: bare KeyError
        GeneformerEncoder(checkouts / "v1" / "Geneformer-V1-tiny", version="v1")
    with pytest.raises(ContextError, match="does not exist"):   # was: the bundled copies, silently
        GeneformerEncoder(checkouts / "v1" / "Geneformer-V1-tiny", dictionaries=tmp_path / "typo")
    with pytest.raises(ContextError, match="V1 dictionaries .* not found"):   # a named folder must hold them
        GeneformerEncoder(checkouts / "v1" / "Geneformer-V1-tiny", dictionaries=tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    (broken / "model.safetensors").write_bytes(b"synthetic")
    with pytest.raises(ContextError, match="is not valid JSON"):   # was: bare JSONDecodeError
        GeneformerEncoder(broken)


def test_batch_size_device_and_a_dictionary_file_are_checked_before_any_work(checkouts):
    """Found by review: batch_size=-1 returned np.empty's uninitialised memory as embeddings (0: a bare ValueError);
    device="gpu" (or "cuda" on a CPU build) failed with torch's bare error at the first encode; a dictionary file given
    as the dictionaries folder was reported as missing."""
    import torch

    model = checkouts / "v1" / "Geneformer-V1-tiny"
    for batch_size in (-1, 0):
        with pytest.raises(TwinCellError, match=f"batch_size must be at least 1, got {batch_size}"):
            GeneformerEncoder(model, batch_size=batch_size)
    with pytest.raises(ContextError, match="unknown device 'gpu'"):
        GeneformerEncoder(model, device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ContextError, match="no CUDA GPU is available"):
            GeneformerEncoder(model, device="cuda")
    assert GeneformerEncoder(model, device="cpu").encode(synthetic_counts(3)).shape == (3, 32)
    dictionary = next(checkouts.glob("v1/**/*.pkl"))
    with pytest.raises(ContextError, match="is a file, not a folder"):
        GeneformerEncoder(model, dictionaries=dictionary)


def test_the_name_says_a_layer_or_pooling_other_than_geneformers(checkouts):
    """Embeddings of different layers must never share a name (a registry would mix them)."""
    v1, v2 = checkouts / "v1" / "Geneformer-V1-tiny", checkouts / "v2" / "Geneformer-V2-tiny"
    assert GeneformerEncoder(v1, layer=0).name == "geneformer-V1-3L:Geneformer-V1-tiny/layer 0/mean"
    assert GeneformerEncoder(v2, version="V2").name == "geneformer-V2-3L:Geneformer-V2-tiny"
    assert GeneformerEncoder(v2, version="V2", pooling="mean").name.endswith("/layer -1/mean")


def test_n_counts_that_are_not_numbers_are_named(checkouts):
    enc = GeneformerEncoder(checkouts / "v1" / "Geneformer-V1-tiny")
    adata = synthetic_counts(3)
    adata.obs["n_counts"] = ["12", "abc", "7"]
    with pytest.raises(ContextError, match="obs\\['n_counts'\\] holds a value that is not a number .*cell1"):
        enc.tokenize(adata)
    with pytest.raises(TwinCellError, match="chunk_size must be at least 1"):
        type(enc.tokenizer)(enc.dictionaries, chunk_size=0)


def test_v2_without_dictionaries_is_a_clear_error(tmp_path):
    write_model(tmp_path, "V2", max_pos=12)
    for f in (tmp_path / "geneformer").glob("*.pkl"):
        f.unlink()
    with pytest.raises(ContextError, match="V2 dictionaries"):
        GeneformerEncoder(tmp_path / "Geneformer-V2-tiny", version="V2")


def test_bundled_v1_dictionaries_match_the_reference_counts():
    d = GeneformerDictionaries.bundled_v1()
    assert len(d.tokens) == 25_426 and len(d.medians) == 25_424 and len(d.names) == 40_248
    assert d.special("<pad>") == 0 and d.tokens["<mask>"] == 1
    assert d.medians["ENSG00000000003"] == pytest.approx(2.0012, abs=1e-4)
