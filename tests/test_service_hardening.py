"""Issue #14 items 2 and 13-16: uploads you can trust, a health check under load, host / origin / token checks,
timeouts, and JSON for every error. Signatures here are small synthetic tables on real gene symbols."""

from __future__ import annotations

import gzip
import socket
import sys
import threading
import time
import tracemalloc
import zlib
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from twincell.service import ServiceLimits, create_app

SYNTHETIC_TABLE = "gene,logFC\nSTAT1,0.8\nIRF1,0.5\nJAK2,-0.25\n"
EXPECTED = {"STAT1": 0.8, "IRF1": 0.5, "JAK2": -0.25}
SIGNATURE = {"STAT1": 1.5, "IRF1": 1.0, "JAK2": 0.4}


@pytest.fixture(scope="module")
def client(service_model):
    return TestClient(create_app(service_model), base_url="http://localhost")


@pytest.fixture()
def rank_calls(monkeypatch):
    """Count (and skip) calls into the library's ranking: a refused request must do no work."""
    calls: list[int] = []
    monkeypatch.setattr("twincell.service.app.rank_targets", lambda *a, **k: calls.append(1))
    return calls


# ----------------------------------------------------------------------------------------------- item 2: BOM
@pytest.mark.parametrize(("name", "payload"), [
    ("excel.csv", "\ufeff" + SYNTHETIC_TABLE),  # Excel "CSV UTF-8"
    ("excel.csv.gz", "\ufeff" + SYNTHETIC_TABLE),
    ("utf16.tsv", SYNTHETIC_TABLE.replace(",", "\t")),
])
def test_byte_order_marks_do_not_hide_the_gene_column(client, name, payload):
    data = payload.encode("utf-16") if name.startswith("utf16") else payload.encode("utf-8")
    data = gzip.compress(data) if name.endswith(".gz") else data
    r = client.post("/v1/signature", files={"file": (name, data)})
    assert r.status_code == 200, r.text
    assert r.json()["signature"] == EXPECTED


def test_uploads_are_parsed_by_the_library_table_reader(client):
    """Semicolons with decimal commas (European Excel) are sniffed as the library's user tables are."""
    payload = SYNTHETIC_TABLE.replace(",", ";").replace("0.", "0,").encode("utf-8")
    r = client.post("/v1/signature", files={"file": ("excel_de.csv", payload)})
    assert r.status_code == 200, r.text
    assert r.json()["signature"] == EXPECTED


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-32"])
def test_uploads_decode_as_the_librarys_reader_decodes_them(client, encoding):
    """UTF-16 without a byte-order mark and UTF-32 with one: read as read_signature reads them (was: 422)."""
    r = client.post("/v1/signature", files={"file": ("u.csv", SYNTHETIC_TABLE.encode(encoding))})
    assert r.status_code == 200, r.text
    assert r.json()["signature"] == EXPECTED


def test_non_utf8_upload_names_the_encoding(client):
    r = client.post("/v1/signature", files={"file": ("latin1.csv", "gene,logFC\nSTAT1,0.8\n\xe9\n".encode("latin-1"))})
    assert r.status_code == 400
    (item,) = r.json()["detail"]
    assert "UTF-8" in item["msg"] and "CSV UTF-8" in item["hint"]


@pytest.mark.parametrize("payload, what", [(b"PAR1gene,logFC\nSTAT1,0.8\n", "a parquet file"),
                                           (b"PK\x03\x04gene,logFC\nSTAT1,0.8\n", "an Excel .xlsx workbook")])
def test_binary_uploads_are_named_even_when_their_bytes_decode(client, payload, what):
    """Synthetic files with a binary format's magic bytes and otherwise UTF-8 bytes: 400 naming the format, as the
    library's reader does, not a 422 about the signature."""
    r = client.post("/v1/signature", files={"file": ("table.csv", gzip.compress(payload))})
    assert r.status_code == 400, r.text
    (item,) = r.json()["detail"]
    assert what in item["msg"] and "CSV" in item["hint"]


# ----------------------------------------------------------------------------------------------- item 13: gzip bomb
def synthetic_gzip(n_bytes: int) -> bytes:
    """A gzip stream of ``n_bytes`` of CSV (one header, then the same synthetic row), compressed in pieces."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    row = b"STAT1,0.5\n" * 100_000
    parts = [deflate.compress(b"gene,logFC\n")]
    parts += [deflate.compress(row) for _ in range(n_bytes // len(row))]
    return b"".join(parts) + deflate.flush()


def test_gzip_bomb_stops_at_the_byte_limit_while_decompressing(client):
    bomb = synthetic_gzip(80 * 1024 * 1024)  # 80 MB of CSV in ~100 KB
    assert len(bomb) < 200_000
    tracemalloc.start()
    try:
        r = client.post("/v1/targets/upload", files={"file": ("bomb.csv.gz", bomb)})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.status_code == 422, r.text
    assert "limit" in r.json()["detail"][0]["msg"]
    assert peak < 48 * 1024 * 1024  # never the 80 MB (nor the DataFrame of 8M rows)


def test_gzip_upload_stops_at_the_row_limit_before_the_byte_limit(service_model):
    small = TestClient(create_app(service_model, limits=ServiceLimits(max_genes=1_000)), base_url="http://localhost")
    r = small.post("/v1/signature", files={"file": ("rows.csv.gz", synthetic_gzip(1_000_000))})
    assert r.status_code == 422
    assert "1,000 rows" in r.json()["detail"][0]["msg"]


def test_truncated_gzip_is_400(client):
    r = client.post("/v1/signature", files={"file": ("cut.csv.gz", gzip.compress(SYNTHETIC_TABLE.encode() * 50)[:40])})
    assert r.status_code == 400
    assert r.json()["detail"][0]["loc"] == ["body", "file"] and "truncated" in r.json()["detail"][0]["msg"]


# ----------------------------------------------------------------------------------------------- item 14: healthz
def test_healthz_answers_while_every_ranking_thread_is_busy(service_model, serve_app, monkeypatch):
    """48 rankings block every ranking thread (the pool is sized at start-up); /healthz must still answer at once."""
    import twincell.service.app as service_app

    release, started = threading.Event(), []
    real = service_app.rank_targets

    def blocked(*args, **kwargs):
        started.append(1)
        release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(service_app, "rank_targets", blocked)
    base = serve_app(create_app(service_model, limits=ServiceLimits(threads=8)))
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    with httpx.Client(base_url=base, timeout=120, limits=limits) as http, ThreadPoolExecutor(48) as pool:
        assert http.get("/healthz").status_code == 200  # the connection pool is warm
        futures = [pool.submit(http.post, "/v1/targets", json={"signature": SIGNATURE}) for _ in range(48)]
        try:
            deadline = time.monotonic() + 60
            while len(started) < 8 and time.monotonic() < deadline:  # every worker thread holds a ranking
                time.sleep(0.05)
            time.sleep(0.2)
            assert len(started) == 8  # the pool has 8 threads, not anyio's default 40
            t0 = time.perf_counter()
            health = http.get("/healthz", timeout=10)
            elapsed = time.perf_counter() - t0
        finally:
            release.set()
        statuses = [f.result().status_code for f in futures]
    assert health.status_code == 200 and elapsed < 1.0, elapsed
    assert statuses == [200] * 48


# ----------------------------------------------------------------------------------------------- item 15: host, origin, token, timeouts
def test_unknown_host_header_is_refused_before_any_work(service_model, rank_calls):
    rebinding = TestClient(create_app(service_model), base_url="http://evil.example")
    r = rebinding.post("/v1/targets", json={"signature": SIGNATURE})
    assert r.status_code == 400 and "evil.example" in r.json()["detail"] and "--allow-host" in r.json()["detail"]
    assert rebinding.get("/").status_code == 400
    assert rank_calls == []


def test_allowed_hosts_are_configurable(service_model):
    app = create_app(service_model, allowed_hosts=["twincell.lab"])
    assert TestClient(app, base_url="http://TwinCell.lab:8000").get("/healthz").status_code == 200
    assert TestClient(app, base_url="http://localhost").get("/healthz").status_code == 400
    assert TestClient(create_app(service_model), base_url="http://[::1]:8000").get("/healthz").status_code == 200


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"},
    {"Origin": "null"},
    {"Origin": "http://localhost:9999"},  # another port is another origin
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
])
def test_cross_origin_posts_are_refused_without_a_token(client, rank_calls, headers):
    r = client.post("/v1/targets", json={"signature": SIGNATURE}, headers=headers)
    assert r.status_code == 403 and r.headers["content-type"] == "application/json"
    r = client.post("/v1/signature", files={"file": ("s.csv", SYNTHETIC_TABLE.encode())}, headers=headers)
    assert r.status_code == 403
    assert rank_calls == []
    assert client.get("/v1/contexts", headers=headers).status_code == 200  # reads stay open


@pytest.mark.parametrize("headers", [{}, {"Origin": "http://localhost"}, {"Sec-Fetch-Site": "same-origin"},
                                     {"Sec-Fetch-Site": "none"}])
def test_same_origin_posts_pass(client, rank_calls, headers):
    r = client.post("/v1/signature", files={"file": ("s.csv", SYNTHETIC_TABLE.encode())}, headers=headers)
    assert r.status_code == 200, r.text


def test_with_a_token_the_token_decides(service_model):
    app = TestClient(create_app(service_model, token="s3cret-token"), base_url="http://localhost")
    for scheme in ("Bearer", "bearer", "BEARER"):
        r = app.post("/v1/signature", files={"file": ("s.csv", SYNTHETIC_TABLE.encode())},
                     headers={"Authorization": f"{scheme} s3cret-token", "Origin": "http://lab-notebook.example"})
        assert r.status_code == 200, (scheme, r.text)
    r = app.get("/v1/contexts", headers={"Authorization": "Basic s3cret-token"})
    assert r.status_code == 401 and "token" in r.json()["detail"]


def test_slow_body_gets_408(service_model, serve_app):
    base = serve_app(create_app(service_model, limits=ServiceLimits(body_timeout_s=0.5)))
    url = urlsplit(base)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/targets HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 500\r\n\r\n{\"signature\": ")
        t0 = time.perf_counter()
        answer = sock.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 408") and "application/json" in answer, answer
    assert 0.4 < time.perf_counter() - t0 < 5


def test_late_request_heads_are_cut_off(service_model, serve_app, monkeypatch):
    from twincell.service.server import HeadTimeoutProtocol

    monkeypatch.setattr(HeadTimeoutProtocol, "head_timeout_s", 0.5)
    url = urlsplit(serve_app(create_app(service_model), http=HeadTimeoutProtocol))
    for opening in (b"", b"GET /healthz HTTP/1.1\r\nHost: local"):  # silent client; slow headers
        with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
            sock.sendall(opening)
            t0 = time.perf_counter()
            assert sock.recv(4096) == b""  # closed by the server
            assert 0.3 < time.perf_counter() - t0 < 5
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:  # a prompt client is served
        time.sleep(0.2)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:  # a head past 16 KiB: closed
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Synthetic: " + b"a" * 20_000)
        t0 = time.perf_counter()
        assert sock.recv(4096) == b"" and time.perf_counter() - t0 < 0.4   # was: held until the 0.5 s timeout


def test_serve_sets_uvicorn_timeouts_and_workers(monkeypatch, python_environ, service_model, tmp_path):
    import os

    from twincell.service import server
    from twincell.service.auth import TOKEN_ENV

    for name in (server.MODEL_ENV, server.HOSTS_ENV, TOKEN_ENV):  # restored after the test
        monkeypatch.setenv(name, "")
    seen = {}
    monkeypatch.setattr(server.uvicorn, "run", lambda app, **options: seen.update(options, app=app))
    server.serve(service_model, host="127.0.0.1", port=1, token=None, allowed_hosts=["localhost"])
    assert seen["timeout_keep_alive"] == server.KEEP_ALIVE_S and seen["timeout_graceful_shutdown"] > 0
    assert seen["http"] is server.HeadTimeoutProtocol
    assert "workers" not in seen and seen["app"].title == "TwinCell"
    supervised = {}

    class Supervisor:
        def __init__(self, config, sockets):
            supervised.update(config=config, sockets=sockets)

        def run(self):
            supervised["ran"] = True

    monkeypatch.setattr(server, "Multiprocess", Supervisor)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server.serve(tmp_path, host="127.0.0.1", port=port, token="t", allowed_hosts=["localhost", "lab"], workers=3)
    config = supervised["config"]
    assert supervised["ran"] and config.workers == 3 and config.factory is True
    assert config.app == "twincell.service.server:app_from_env" and config.http is server.HeadTimeoutProtocol
    assert config.timeout_worker_healthcheck == server.WORKER_HEALTHCHECK_S > 5  # a slow model load is not a hang
    assert [(listener.host, listener.port) for listener in supervised["sockets"]] == [("127.0.0.1", port)]
    assert os.environ[server.MODEL_ENV] == str(tmp_path) and os.environ[server.HOSTS_ENV] == "localhost,lab"
    assert os.environ[TOKEN_ENV] == "t"


def test_each_worker_binds_its_own_reuse_port_socket():
    """The listener handed to the workers unpickles into a socket bound to the port; several can be bound at
    once (SO_REUSEPORT), so the kernel spreads connections over the workers."""
    import pickle

    from twincell.service.server import PortListener

    if not hasattr(socket, "SO_REUSEPORT"):
        pytest.skip("no SO_REUSEPORT on this platform (the workers share uvicorn's socket)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    first = pickle.loads(pickle.dumps(PortListener("127.0.0.1", port)))
    second = pickle.loads(pickle.dumps(PortListener("127.0.0.1", port)))
    try:
        assert first.getsockname() == second.getsockname() == ("127.0.0.1", port)
        assert first.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) and first.get_inheritable()
        assert first.proto == socket.IPPROTO_TCP  # asyncio sets TCP_NODELAY only on connections of such sockets
    finally:
        first.close()
        second.close()


def test_startup_moves_the_loaded_objects_out_of_the_garbage_collectors_scans(service_model):
    import gc

    gc.unfreeze()
    try:
        with TestClient(create_app(service_model), base_url="http://localhost") as started:
            assert started.get("/healthz").status_code == 200
            assert gc.get_freeze_count() > 10_000  # the model, numpy, pandas, FastAPI ...
    finally:
        gc.unfreeze()


def test_connection_loads_claim_one_slot_per_process_and_compare_shares(tmp_path):
    """Each worker process locks its own slot of the shared file; a worker is busier than its share when it keeps
    more than one connection above the least busy serving worker (slots of workers not serving yet are ignored)."""
    import subprocess
    import sys

    from twincell.service.server import ConnectionLoads

    if not hasattr(socket, "SO_REUSEPORT"):
        pytest.skip("no SO_REUSEPORT on this platform (one shared socket, nothing to balance)")
    path = ConnectionLoads.create(3)
    try:
        mine = ConnectionLoads(path, 3)
        mine.change(opened=5)
        assert mine.slot == 0 and not mine.busier_than_others()  # nobody else serves yet
        other = subprocess.run([sys.executable, "-c", "import sys; from twincell.service.server import "
                                "ConnectionLoads as L; w = L(sys.argv[1], 3); w.change(opened=3); print(w.slot)",
                                str(path)], capture_output=True, text=True, check=True)
        assert other.stdout.strip() == "1"  # slot 0 is locked by this process
        assert mine.busier_than_others()  # 5 > 3 + 1
        mine.change(leaving=1)  # one connection told to close: 4 stay
        assert not mine.busier_than_others()
    finally:
        path.unlink()


def read_response(sock: socket.socket) -> bytes:
    """One whole HTTP response from ``sock``: headers, then ``Content-Length`` bytes of body (the server may send
    them in separate segments, and a second ``recv`` must not find the rest of this one)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, f"the connection closed before the headers ended: {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(int(line.split(b":", 1)[1]) for line in head.lower().split(b"\r\n")
                  if line.startswith(b"content-length:"))
    while len(body) < length:
        chunk = sock.recv(4096)
        assert chunk, "the connection closed before the body ended"
        body += chunk
    return head + b"\r\n\r\n" + body


def test_a_worker_above_its_share_closes_connections_after_answering(service_model, serve_app, monkeypatch,
                                                                      tmp_path):
    """Three keep-alive connections on a worker whose peer serves none: the first two requests are answered with
    ``Connection: close`` (3 and 2 connections > 0 + 1), the third keeps its connection (1 is the share)."""
    from twincell.service.server import ConnectionLoads, HeadTimeoutProtocol

    if not hasattr(socket, "SO_REUSEPORT"):
        pytest.skip("no SO_REUSEPORT on this platform (one shared socket, nothing to balance)")
    path = ConnectionLoads.create(2)
    loads = ConnectionLoads(path, 2)
    with open(path, "r+b") as f:  # the peer worker's slot (1): serving, no connection (synthetic)
        f.seek(8)
        f.write((0).to_bytes(8, sys.byteorder, signed=True))
    monkeypatch.setattr(HeadTimeoutProtocol, "loads", loads)
    url = urlsplit(serve_app(create_app(service_model), http=HeadTimeoutProtocol))
    socks = [socket.create_connection((url.hostname, url.port), timeout=10) for _ in range(3)]
    try:
        deadline = time.monotonic() + 10  # until the worker has accepted all three (its slot in the shared file)
        while path.read_bytes()[8 * loads.slot:8 * loads.slot + 8] != (3).to_bytes(8, sys.byteorder, signed=True):
            assert time.monotonic() < deadline, "the server did not accept the three connections"
            time.sleep(0.01)
        closing = []
        for sock in socks:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            head = read_response(sock).lower()
            assert head.startswith(b"http/1.1 200")
            closing.append(b"connection: close" in head)
        assert closing == [True, True, False]
        assert socks[0].recv(4096) == b"" and socks[1].recv(4096) == b""  # closed by the server
        socks[2].sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert read_response(socks[2]).lower().startswith(b"http/1.1 200")
    finally:
        for sock in socks:
            sock.close()
        path.unlink()


def test_worker_app_loads_the_saved_model(monkeypatch, python_environ, service_model, tmp_path):
    from twincell.service import server
    from twincell.service.auth import TOKEN_ENV

    service_model.save(tmp_path / "model")
    monkeypatch.setenv(server.MODEL_ENV, str(tmp_path / "model"))
    monkeypatch.setenv(server.HOSTS_ENV, "lab.example")
    monkeypatch.setenv(TOKEN_ENV, "synthetic-token")
    worker = TestClient(server.app_from_env(), base_url="http://lab.example")
    r = worker.get("/v1/contexts", headers={"Authorization": "Bearer synthetic-token"})
    assert r.status_code == 200 and r.json()["contexts"] == ["synthetic_ctx_a", "synthetic_ctx_b"]
    assert worker.get("/v1/contexts").status_code == 401


# ----------------------------------------------------------------------------------------------- item 16: JSON errors, no CDN
def test_413_from_content_length_is_json(service_model, rank_calls):
    small = TestClient(create_app(service_model, limits=ServiceLimits(max_body_bytes=1_000)), base_url="http://localhost")
    big = {"signature": {f"G{i}": 1.0 for i in range(200)}}
    r = small.post("/v1/targets", json=big)
    assert r.status_code == 413 and r.headers["content-type"] == "application/json"
    assert "1,000 bytes" in r.json()["detail"]
    chunked = small.post("/v1/targets", content=(b"x" * 100 for _ in range(20)),
                         headers={"content-type": "application/json"})
    assert chunked.status_code == 413 and chunked.headers["content-type"] == "application/json"
    assert rank_calls == []


@pytest.mark.parametrize(("method", "path", "status"), [
    ("get", "/no/such/page", 404), ("get", "/docs", 404), ("get", "/redoc", 404), ("get", "/static/nope.js", 404),
    ("get", "/v1/targets", 405),
])
def test_every_error_is_json(client, method, path, status):
    r = getattr(client, method)(path)
    assert r.status_code == status and r.headers["content-type"] == "application/json"
    assert "detail" in r.json()


def test_no_asset_comes_from_a_cdn(client):
    assert client.get("/openapi.json").status_code == 200
    for path in ("/", "/static/app.js", "/static/style.css"):
        text = client.get(path).text
        assert "cdn." not in text and "unpkg" not in text and "https://" not in text, path


# ------------------------------------------------------------------- review of this release: inputs still let through
def test_multi_member_gzip_is_read_whole_and_junk_after_it_refused(client):
    """bgzip and `cat a.gz b.gz` write several gzip members: all are read (the first alone dropped rows)."""
    two = gzip.compress(b"gene,logFC\nSTAT1,0.8\n") + gzip.compress(b"IRF1,0.5\nJAK2,-0.25\n")
    r = client.post("/v1/signature", files={"file": ("two_members.csv.gz", two)})
    assert r.status_code == 200 and r.json()["signature"] == EXPECTED
    r = client.post("/v1/signature", files={"file": ("junk.csv.gz", gzip.compress(SYNTHETIC_TABLE.encode()) + b"junk")})
    assert r.status_code == 400 and "not gzip data" in r.json()["detail"][0]["msg"]


def test_old_mac_line_endings_count_against_the_row_limit(service_model):
    small = TestClient(create_app(service_model, limits=ServiceLimits(max_genes=1_000)), base_url="http://localhost")
    rows = "gene,logFC\r" + "".join(f"SYN{i},0.5\r" for i in range(2_000))
    r = small.post("/v1/signature", files={"file": ("cr.csv", rows.encode())})
    assert r.status_code == 422 and "1,000 rows" in r.json()["detail"][0]["msg"]


@pytest.mark.parametrize(("body", "message"), [
    ({"signature": {"STAT1": 1.0, " STAT1 ": -1.0}}, "names the same gene twice after trimming spaces"),
    ({"signature": {"STAT1": True, "IRF1": 0.5}}, "true/false values for STAT1"),
    ({"signature": {"STAT1": "1.5"}}, "valid number"),
    ({"signature": SIGNATURE, "top": "5"}, "valid integer"),
])
def test_json_gene_maps_and_counts_are_taken_as_given(client, rank_calls, body, message):
    r = client.post("/v1/targets", json=body)
    assert r.status_code == 422 and message in str(r.json()["detail"]) and not rank_calls


def test_predict_checks_its_genes_and_top_like_the_other_endpoints(client):
    r = client.post("/v1/predict", json={"perturbation": {"JAK1": -1, " JAK1": 1}})
    assert r.status_code == 422 and "names the same gene twice after trimming spaces" in str(r.json()["detail"])
    r = client.post("/v1/predict", json={"perturbation": {"JAK1": True}})
    assert r.status_code == 422 and "true/false" in str(r.json()["detail"])
    r = client.post("/v1/predict", json={"perturbation": {"JAK1": -1}, "top": 25_000})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "top"]    # max_top, as for /targets


def test_errors_name_the_field_they_come_from(client):
    r = client.post("/v1/targets", json={"signature": {"OR1A1": 1.0, "OR2A4": -1.0}})   # no gene in the network
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "signature"]
    r = client.post("/v1/explain", json={"target": "STAT1", "signature": {"OR1A1": 1.0, "OR2A4": -1.0}})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "signature"]
    r = client.post("/v1/predict", json={"perturbation": {"JAK1": -1}, "context": "nope"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "context"]


def test_a_json_body_naming_a_gene_twice_is_refused(client, rank_calls):
    """JSON parsing keeps the last of two equal keys: the first value would be lost without a word (was: 200)."""
    r = client.post("/v1/targets", content=b'{"signature": {"STAT1": 1, "STAT1": -1}}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 422 and "names 'STAT1' twice" in r.json()["detail"][0]["msg"]
    assert not rank_calls


def test_a_json_body_that_cannot_be_decoded_gets_its_reason(client, rank_calls):
    """Invalid UTF-8 and a number over Python's 4,300-digit limit were FastAPI's bare 400 "There was an error
    parsing the body"; they are now its 422 json_invalid with the reason and the JSON hint."""
    for body, reason in ((b'{"signature": {"STAT1": 1, "IRF1": -1, "\xff": 1}}', "not UTF-8"),
                         (b'{"signature": {"STAT1": ' + b"9" * 5000 + b"}}", "large numbers as strings"),
                         (b'{"signature": ', "JSON decode error: Expecting value")):  # the decoder's reason, too
        r = client.post("/v1/targets", content=body, headers={"content-type": "application/json"})
        detail = r.json()["detail"][0]
        assert r.status_code == 422 and detail["type"] == "json_invalid" and reason in str(detail), detail
        assert "send valid JSON" in detail["hint"]
    assert not rank_calls


def test_a_json_body_is_parsed_once(client, monkeypatch):
    """The duplicate-key check reads FastAPI's parse of the body instead of parsing it again (was: twice)."""
    import json

    parses: list[int] = []
    loads = json.loads
    monkeypatch.setattr(json, "loads", lambda *a, **k: parses.append(1) or loads(*a, **k))
    r = client.post("/v1/targets", content=b'{"signature": {"STAT1": 1, "IRF1": -1}}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 200 and len(parses) == 1
    r = client.post("/v1/targets", content=b'{"signature": {"STAT1": 1, "IRF1": -1, "STAT1": 2}}',
                    headers={"content-type": "application/json"})
    assert len(parses) == 2 and r.status_code == 422 and "names 'STAT1' twice" in r.json()["detail"][0]["msg"]


def test_upload_endpoints_refuse_unknown_form_fields(client, rank_calls):
    r = client.post("/v1/targets/upload", files={"file": ("s.csv", SYNTHETIC_TABLE.encode())},
                    data={"drection": "inhibit", "tpo": "3"})
    assert r.status_code == 422 and "unknown form field(s) 'drection', 'tpo'" in r.json()["detail"][0]["msg"]
    assert not rank_calls
    r = client.post("/v1/signature", files={"file": ("s.csv", SYNTHETIC_TABLE.encode())}, data={"top": "3"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "top"]
    r = client.post("/v1/targets/upload", files=[("file", ("a.csv", SYNTHETIC_TABLE.encode())),
                                                 ("file", ("b.csv", b"gene,logFC\nIRF1,1.0\n"))])
    assert r.status_code == 422 and "form field 'file' was sent 2 times" in r.json()["detail"][0]["msg"]   # was: a.csv
    assert not rank_calls                                                                      # dropped silently


def test_rows_without_a_gene_id_are_counted_in_the_service_report(client):
    """A GEO2R table's unannotated probes (empty gene symbol) are left out and counted, as the command line does."""
    table = ('"ID"\t"adj.P.Val"\t"logFC"\t"Gene.symbol"\n"p1"\t0.001\t2.5\t"STAT1"\n"p2"\t0.002\t-3.1\t""\n'
             '"p3"\t0.004\t1.2\t"IFI6"\n"p4"\t0.01\t4.0\t""\n"p5"\t0.02\t-1.0\t"MX1"\n').encode()
    r = client.post("/v1/signature", files={"file": ("synthetic_geo2r.tsv", table)})
    assert r.status_code == 200, r.text
    assert r.json()["report"]["rows_without_gene_id"] == 2 and set(r.json()["signature"]) == {"STAT1", "IFI6", "MX1"}
    r = client.post("/v1/targets/upload", files={"file": ("synthetic_geo2r.tsv", table)}, data={"top": "1"})
    assert r.status_code == 200, r.text
    assert r.json()["signature"]["rows_without_gene_id"] == 2


def test_explain_follows_the_direction_the_target_was_ranked_in(client):
    ranked = client.post("/v1/targets", json={"signature": SIGNATURE, "direction": "activate", "top": 200}).json()
    low = next(t for t in ranked["targets"] if t["score"] < 0)  # an "activate" row with a negative score
    for direction, sign in (("activate", 1), ("both", -1)):
        r = client.post("/v1/explain", json={"signature": SIGNATURE, "target": low["gene"], "direction": direction})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["score"] == pytest.approx(sign * low["score"])
        assert body["direction"] == ("activate" if direction == "activate" else "inhibit")


def test_upload_row_limit_counts_data_rows_in_any_encoding(service_model):
    small = TestClient(create_app(service_model, limits=ServiceLimits(max_genes=3)), base_url="http://localhost")
    crlf_utf16 = "\ufeffgene\tlogFC\r\nSTAT1\t0.8\r\nIRF1\t0.5\r\nJAK2\t-0.25\r\n".encode("utf-16-le")
    blank_lines = b"gene,logFC\nSTAT1,0.8\n\nIRF1,0.5\n\nJAK2,-0.25\n"
    for payload in (crlf_utf16, blank_lines):  # 3 data rows: within the limit (CRLF in UTF-16 was counted twice)
        r = small.post("/v1/signature", files={"file": ("synthetic.txt", payload)})
        assert r.status_code == 200, r.text
        assert r.json()["signature"] == EXPECTED
    r = small.post("/v1/signature", files={"file": ("synthetic.csv", b"gene,logFC\nSTAT1,1\nIRF1,1\nJAK2,1\nIL10,1")})
    assert r.status_code == 422 and "more than the limit of 3 rows" in r.json()["detail"][0]["msg"]  # no final newline


def test_schema_violations_carry_a_hint(client):
    r = client.post("/v1/explain", json={"signature": SIGNATURE, "target": "STAT1", "colour": "red"})
    (item,) = r.json()["detail"]
    assert r.status_code == 422 and item["type"] == "extra_forbidden" and "/openapi.json" in item["hint"]
    r = client.post("/v1/targets", content=b'{"signature": {"STAT1": 1.0}}',
                    headers={"content-type": "application/x-www-form-urlencoded"})   # what `curl -d @body.json` sends
    assert r.status_code == 422 and all("hint" in item for item in r.json()["detail"])
