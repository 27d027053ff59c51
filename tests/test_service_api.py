"""HTTP API of `twincell.service`: every endpoint against the library it wraps, errors, limits, auth, concurrency."""

from __future__ import annotations

import gzip
import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from twincell.identify import explain, rank_targets
from twincell.service import ServiceLimits, create_app
from twincell.service.app import json_answer, rows
from twincell.service.schemas import TargetRow, TargetsResponse

# A disease signature (disease vs healthy logFC) on genes of the test network, plus one identifier that is no gene.
SIGNATURE = {"STAT1": 1.5, "IRF1": 1.0, "JAK2": 0.4, "IL10": -0.5, "NOT_A_GENE_XYZ": 2.0}


@pytest.fixture(scope="module")
def client(service_model):
    return TestClient(create_app(service_model), base_url="http://localhost")


@pytest.fixture(scope="module")
def absent_gene(service_model, interactome):
    """An HGNC symbol of the full interactome that is not a node of the small test network."""
    return next(g for g in interactome.genes if g not in service_model.interactome.gene_index)


def desired(sig: dict[str, float], model) -> pd.Series:
    """The library's desired change for the known genes of ``sig`` (reverse of the signature)."""
    return -pd.Series({g: v for g, v in sig.items() if g in model.interactome.gene_index}, dtype=float)


def error_locs(response: httpx.Response) -> list[list]:
    return [d["loc"] for d in response.json()["detail"]]


# ----------------------------------------------------------------------------------------------- endpoints
def test_healthz_and_model_provenance(client, service_model):
    assert client.get("/healthz").json() == {"status": "ok", "nodes": service_model.interactome.n_nodes}
    info = client.get("/v1/model").json()
    assert info["interactome"]["fingerprint"] == service_model.interactome.fingerprint
    assert info["interactome"]["nodes"] == 300
    assert "collectri" in info["interactome"]["sources"]
    assert info["metadata"]["trained"] is True
    assert info["metadata"]["datasets"][0]["name"].startswith("synthetic_service")
    assert info["hparams"]["n_hops"] == service_model.hparams["n_hops"]


def test_contexts_lists_the_model_contexts(client):
    body = client.get("/v1/contexts").json()
    assert body["contexts"] == ["synthetic_ctx_a", "synthetic_ctx_b"]
    assert body["gated"] is True and body["dim"] == 4


def test_targets_match_the_library_and_list_unknown_genes(client, service_model, absent_gene):
    sig = {**SIGNATURE, absent_gene: 0.7}
    r = client.post("/v1/targets", json={"signature": sig, "context": "synthetic_ctx_a", "direction": "both", "top": 7})
    assert r.status_code == 200, r.text
    body = r.json()
    expected = rank_targets(service_model, desired(sig, service_model), context="synthetic_ctx_a").head(7)
    got = pd.DataFrame(body["targets"])
    assert list(got.columns) == list(expected.columns)
    assert got["gene"].tolist() == expected["gene"].tolist()
    np.testing.assert_allclose(got["score"], expected["score"])
    assert body["signature"] == {"n_genes": 4, "unmapped_genes": ["NOT_A_GENE_XYZ"], "absent_genes": [absent_gene],
                                 "collapsed_genes": [], "rows_without_value": [], "merged_rows": {},
                                 "sex_genes_removed": [], "rows_without_gene_id": 0}


@pytest.mark.parametrize("options", [{"context": "synthetic_ctx_a", "direction": "both", "top": 40},
                                     {"context": "synthetic_ctx_b", "direction": "inhibit", "top": 3}])
def test_targets_answer_is_the_response_model_serialised(client, options):
    """The answer, built field by field from the library's frames without the response model, is byte for byte what
    validating it against ``TargetsResponse`` and serialising that gives (the OpenAPI contract)."""
    r = client.post("/v1/targets", json={"signature": SIGNATURE, **options})
    assert r.status_code == 200, r.text
    assert r.content == TargetsResponse.model_validate_json(r.content).model_dump_json().encode()
    assert len(r.json()["targets"]) == options["top"] and r.json()["drug_targets"]


def test_answer_rows_take_the_model_fields_in_order_and_nan_becomes_null():
    """Synthetic frame: extra columns are left out, fields follow the model's order, values are plain Python
    (numpy int/bool/float), NaN is written as null."""
    frame = pd.DataFrame({"druggable": np.array([True, False]), "extra": [1, 2], "gene": ["SYN1", "SYN2"],
                          "score": [1.5, 0.25], "direction": ["inhibit", "activate"], "rank": np.array([1, 2]),
                          "z_score": [np.nan, -0.5]})
    frame.attrs["big"] = list(range(10))
    got = rows(frame, TargetRow, 1)
    assert got == [{"gene": "SYN1", "score": 1.5, "direction": "inhibit", "rank": 1, "z_score": got[0]["z_score"],
                    "druggable": True}]
    assert type(got[0]["rank"]) is int and type(got[0]["druggable"]) is bool and np.isnan(got[0]["z_score"])
    assert json.loads(json_answer({"targets": rows(frame, TargetRow)}).body) == {"targets": [
        {"gene": "SYN1", "score": 1.5, "direction": "inhibit", "rank": 1, "z_score": None, "druggable": True},
        {"gene": "SYN2", "score": 0.25, "direction": "activate", "rank": 2, "z_score": -0.5, "druggable": False}]}


def test_service_leaves_out_sex_genes_and_lists_dropped_and_merged_rows(client):
    """Issues 13-14: KDM5D (chromosome Y) and XIST are left out and named; NaN and merged rows are listed."""
    table = "gene,logFC\n" + "\n".join(f"{g},{v}" for g, v in SIGNATURE.items()) + \
        "\nKDM5D,-3.0\nXIST,2.5\nIRF9,nan\n STAT1 ,1.2\n"
    r = client.post("/v1/signature", files={"file": ("synthetic.csv", table.encode(), "text/csv")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert sorted(body["report"]["sex_genes_removed"]) == ["KDM5D", "XIST"]
    assert "KDM5D" not in body["signature"] and "XIST" not in body["signature"]
    assert body["report"]["rows_without_value"] == ["IRF9"]
    assert sorted(body["report"]["merged_rows"]["STAT1"]) == [" STAT1 ", "STAT1"]


def test_targets_depend_on_context_and_direction(client):
    base = {"signature": SIGNATURE, "top": 300}
    a = client.post("/v1/targets", json={**base, "context": "synthetic_ctx_a"}).json()["targets"]
    b = client.post("/v1/targets", json={**base, "context": "synthetic_ctx_b"}).json()["targets"]
    assert [t["score"] for t in a] != [t["score"] for t in b]
    inhibit = client.post("/v1/targets", json={**base, "direction": "inhibit"}).json()["targets"]
    assert {t["direction"] for t in inhibit} == {"inhibit"}


def test_upload_and_signature_parse_agree_with_json(client):
    table = "gene\tlogFC\n" + "".join(f"{g}\t{v}\n" for g, v in SIGNATURE.items())
    parsed = client.post("/v1/signature", files={"file": ("sig.tsv", table.encode())}).json()
    assert parsed["signature"] == {g: v for g, v in SIGNATURE.items() if g != "NOT_A_GENE_XYZ"}
    assert parsed["report"]["unmapped_genes"] == ["NOT_A_GENE_XYZ"]
    upload = client.post("/v1/targets/upload", files={"file": ("sig.tsv.gz", gzip.compress(table.encode()))},
                         data={"context": "synthetic_ctx_b", "top": "5"})
    assert upload.status_code == 200, upload.text
    as_json = client.post("/v1/targets", json={"signature": SIGNATURE, "context": "synthetic_ctx_b", "top": 5})
    assert upload.json() == as_json.json()


def test_explain_matches_the_library(client, service_model):
    r = client.post("/v1/explain", json={"signature": SIGNATURE, "target": "JAK1", "context": "synthetic_ctx_a", "k": 4})
    assert r.status_code == 200, r.text
    body = r.json()
    expected = explain(service_model, "JAK1", desired(SIGNATURE, service_model), context="synthetic_ctx_a", k=4)
    assert body["score"] == pytest.approx(expected.score)
    assert body["direction"] == expected.direction
    assert [p["path"] for p in body["paths"]] == expected.paths["path"].tolist()
    np.testing.assert_allclose([p["contribution"] for p in body["paths"]], expected.paths["contribution"])
    assert body["signature"]["unmapped_genes"] == ["NOT_A_GENE_XYZ"]


@pytest.mark.parametrize(("fmt", "magic"), [("svg", b"<?xml"), ("png", b"\x89PNG")])
def test_explain_figure(client, fmt, magic):
    r = client.post(f"/v1/explain/figure?format={fmt}", json={"signature": SIGNATURE, "target": "JAK1"})
    assert r.status_code == 200, r.text
    assert r.content.startswith(magic)
    if fmt == "svg":
        assert b"JAK1" in r.content


def test_predict_matches_the_library(client, service_model):
    r = client.post("/v1/predict", json={"perturbation": {"JAK1": -1, "STAT1": 1}, "context": "synthetic_ctx_b", "top": 5})
    assert r.status_code == 200, r.text
    expected = service_model.predict({"JAK1": -1, "STAT1": 1}, "synthetic_ctx_b")
    top = expected.abs().sort_values(ascending=False, kind="stable").index[:5]
    got = r.json()["change"]
    assert list(got) == list(top)
    np.testing.assert_allclose(list(got.values()), expected.loc[top])
    # other IDs of the genes, as the schema says (was: 422 "not in the model's network")
    r = client.post("/v1/predict", json={"perturbation": {"ENSG00000162434": -1, "6772": 1}, "context": "synthetic_ctx_b",
                                         "top": 5})
    assert r.status_code == 200, r.text
    assert r.json()["change"] == got
    r = client.post("/v1/predict", json={"perturbation": {"JAK1": -1, "ENSG00000162434": 1}})
    assert r.status_code == 422 and "name one gene (JAK1)" in r.json()["detail"][0]["msg"]


# ----------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(("body", "loc"), [
    ({"signature": {}}, ["body", "signature"]),
    ({"signature": SIGNATURE, "top": 0}, ["body", "top"]),
    ({"signature": SIGNATURE, "top": 10_000}, ["body", "top"]),
    ({"signature": SIGNATURE, "direction": "sideways"}, ["body", "direction"]),
    ({"signature": {"STAT1": "high"}}, ["body", "signature", "STAT1"]),
    ({"signature": SIGNATURE, "unexpected": 1}, ["body", "unexpected"]),
    ({"signature": {"NOT_A_GENE_XYZ": 1.0}}, ["body", "signature"]),
    ({"signature": SIGNATURE, "context": "no_such_context"}, ["body", "context"]),
    ({"signature": SIGNATURE, "context": "synthetic_ctx_a", "context_profile": {"STAT1": 3.0}}, ["body"]),
    ({"signature": SIGNATURE, "context_profile": {"STAT1": 3.0}}, ["body", "context_profile"]),
])
def test_targets_bad_input_names_the_field(client, body, loc):
    r = client.post("/v1/targets", json=body)
    assert r.status_code == 422, r.text
    assert loc in error_locs(r)


def test_library_errors_carry_problem_and_hint(client):
    r = client.post("/v1/targets", json={"signature": SIGNATURE, "context": "synthetic_ctx_z"})
    (item,) = r.json()["detail"]
    assert item["type"] == "context_error" and "synthetic_ctx_z" in item["msg"] and item["hint"]


def test_nan_values_are_rejected(client):
    r = client.post("/v1/targets", content='{"signature": {"STAT1": NaN}}', headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert ["body", "signature", "STAT1"] in error_locs(r)


def test_unknown_target_and_perturbation_genes_are_named(client, absent_gene):
    r = client.post("/v1/explain", json={"signature": SIGNATURE, "target": absent_gene})
    assert r.status_code == 422 and error_locs(r) == [["body", "target"]] and absent_gene in r.text
    r = client.post("/v1/predict", json={"perturbation": {"JAK1": -1, absent_gene: 1}})
    assert r.status_code == 422 and error_locs(r) == [["body", "perturbation"]] and absent_gene in r.text
    r = client.post("/v1/predict", json={"perturbation": {"JAK1": 2}})
    assert r.status_code == 422 and ["body", "perturbation", "JAK1"] in error_locs(r)


def test_unreadable_upload_is_400(client):
    r = client.post("/v1/signature", files={"file": ("sig.csv", b"\x00\x01\x02 not a table")})
    assert r.status_code == 400 and "binary file" in r.json()["detail"][0]["msg"]   # was: 422 "empty"
    assert error_locs(r) == [["body", "file"]]
    r = client.post("/v1/targets/upload", files={"file": ("sig.csv", b"gene,pvalue\nSTAT1,0.01\n")})
    assert r.status_code == 422 and "log fold change" in r.json()["detail"][0]["msg"]


def test_limits(service_model):
    small = TestClient(create_app(service_model, limits=ServiceLimits(max_genes=3, max_top=5, max_body_bytes=2_000)),
                       base_url="http://localhost")
    r = small.post("/v1/targets", json={"signature": SIGNATURE})
    assert r.status_code == 422 and ["body", "signature"] in error_locs(r)
    r = small.post("/v1/targets", json={"signature": {"STAT1": 1.0}, "top": 6})
    assert r.status_code == 422 and ["body", "top"] in error_locs(r)
    rows = "gene,logFC\n" + "".join(f"G{i},1\n" for i in range(10))
    r = small.post("/v1/signature", files={"file": ("sig.csv", rows.encode())})
    assert r.status_code == 422 and "limit" in r.json()["detail"][0]["msg"]
    r = small.post("/v1/targets", content=json.dumps({"signature": {f"G{i}": 1.0 for i in range(500)}}),
                   headers={"content-type": "application/json"})
    assert r.status_code == 413
    spec = small.get("/openapi.json").json()["components"]["schemas"]["TargetsRequest"]["properties"]
    assert spec["signature"]["maxProperties"] == 3 and spec["top"]["maximum"] == 5


# ----------------------------------------------------------------------------------------------- auth
def test_bearer_token(service_model, monkeypatch):
    calls = []
    monkeypatch.setattr("twincell.service.app.rank_targets", lambda *a, **k: calls.append(1))
    app = TestClient(create_app(service_model, token="s3cret-token"), base_url="http://localhost")
    requests = [("get", "/v1/model", {}), ("get", "/v1/contexts", {}),
                ("post", "/v1/targets", {"json": {"signature": SIGNATURE}}),
                ("post", "/v1/targets", {"content": b"{not json"}),
                ("post", "/v1/explain", {"json": {"signature": SIGNATURE, "target": "JAK1"}}),
                ("post", "/v1/explain/figure", {"json": {"signature": SIGNATURE, "target": "JAK1"}}),
                ("post", "/v1/predict", {"json": {"perturbation": {"JAK1": -1}}}),
                ("post", "/v1/signature", {"files": {"file": ("s.csv", b"gene,logFC\nSTAT1,1\n")}}),
                ("post", "/v1/targets/upload", {"files": {"file": ("s.csv", b"gene,logFC\nSTAT1,1\n")}})]
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-token"}):
        for method, path, kwargs in requests:
            r = getattr(app, method)(path, headers=headers, **kwargs)
            assert r.status_code == 401, (path, headers, r.status_code)
            assert r.headers["www-authenticate"] == "Bearer"
    assert calls == []
    ok = {"Authorization": "Bearer s3cret-token"}
    assert app.get("/v1/contexts", headers=ok).status_code == 200
    assert app.get("/healthz").status_code == 200 and app.get("/").status_code == 200
    spec = app.get("/openapi.json").json()
    assert spec["paths"]["/v1/targets"]["post"]["security"] == [{"bearer": []}]


def test_token_from_env_or_file(tmp_path, monkeypatch, python_environ):
    from twincell.errors import TwinCellError
    from twincell.service.auth import TOKEN_ENV, resolve_token

    monkeypatch.setenv(TOKEN_ENV, "from-env")
    assert resolve_token() == "from-env"
    monkeypatch.setenv(TOKEN_ENV, " from-env\n")                      # was: kept, so no header could ever match
    assert resolve_token() == "from-env"
    monkeypatch.setenv(TOKEN_ENV, "  ")
    assert resolve_token() is None
    f = tmp_path / "token"
    f.write_text("from-file\n")
    assert resolve_token(f) == "from-file"
    f.write_text("")
    with pytest.raises(TwinCellError, match="empty"):
        resolve_token(f)
    monkeypatch.delenv(TOKEN_ENV)
    assert resolve_token() is None


# ----------------------------------------------------------------------------------------------- concurrency
def test_concurrent_requests_give_the_sequential_answers(live_service):
    """32 mixed requests, 16 in flight on a real uvicorn server, return exactly what each returns alone."""
    bodies = [{"signature": {**SIGNATURE, "IRF1": float(i % 4)}, "context": ["synthetic_ctx_a", "synthetic_ctx_b", None][i % 3],
               "direction": ["both", "inhibit", "activate"][i % 3], "top": 20} for i in range(32)]
    with httpx.Client(base_url=live_service, timeout=60) as http:
        sequential = [http.post("/v1/targets", json=b).json() for b in bodies]
        with ThreadPoolExecutor(16) as pool:
            concurrent = list(pool.map(lambda b: http.post("/v1/targets", json=b).json(), bodies))
    assert concurrent == sequential
    assert len({json.dumps(r["targets"]) for r in sequential}) > 3


def test_context_profile_is_encoded_with_the_model_encoder(service_model):
    from twincell.context import default_encoder
    from twincell.model import TwinCell
    from twincell.service.app import encode_profile

    encoder = default_encoder()
    model = TwinCell(service_model.interactome, encoder.dim, seed=0)
    model.metadata["context_encoder"] = encoder.name  # what fitting on ContextRegistry.default() records
    profile = {str(g): float(i % 7 + 1) for i, g in enumerate(encoder.genes)}
    body = {"perturbation": {"JAK1": -1}, "context_profile": profile, "platform": "rnaseq", "top": 300}
    client = TestClient(create_app(model), base_url="http://localhost")
    r = client.post("/v1/predict", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["context"] == "profile"
    expected = model.predict({"JAK1": -1}, encode_profile(model, profile, "rnaseq"))
    got = pd.Series(r.json()["change"])
    np.testing.assert_allclose(got, expected.loc[got.index], rtol=1e-6)
    r = client.post("/v1/predict", json={**body, "context_profile": {"NOT_A_GENE_XYZ": 5.0}})
    assert r.status_code == 422 and error_locs(r) == [["body", "context_profile"]]
    r = client.post("/v1/predict", json={**body, "context_profile": dict.fromkeys(profile, 0.0)})
    assert r.status_code == 422 and "express none of the" in r.json()["detail"][0]["msg"]   # was encoded as 200
    r = client.post("/v1/predict", json={**body, "context_profile": {"STAT1": 10.0, "IRF1": 5.0}})
    assert r.status_code == 422 and error_locs(r) == [["body", "context_profile"]]           # was 200, from 0.3 % of
    assert "reference genes of platform 'rnaseq'" in r.json()["detail"][0]["msg"]           # the genes, unsaid
