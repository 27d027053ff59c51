"""Load test of the HTTP service: concurrent ``POST /v1/targets`` against ``twincell serve`` on loopback.

Starts ``twincell serve --workers N`` in a subprocess on a free 127.0.0.1 port, then keeps a fixed number
of rank requests in flight (a bundled real disease signature, UC sigmoid colon, ~800 genes; ``top`` 50)
until a bounded number have been answered, and prints throughput, p50 / p99 latency and the error count
(must be 0).

Baseline, measured in the same run (before and after the servers; their mean is used): the library work
of one request, one call at a time in a worker thread as the server's thread pool runs it: the signature parsed from the same gene -> logFC mapping
(:func:`twincell.service.app.signature_from_mapping`, i.e. ``read_signature`` without sex genes), then
:func:`~twincell.identify.rank_targets` and :func:`~twincell.identify.actionable.drug_target_list` for
the ``top`` rows, with the compiled kernels on when numba is installed, as in the server's workers
(:func:`twincell.service.server.prepare_worker`; the steps are also printed with the numpy passes). The service's
throughput is printed as a ratio to that sequential rate (target >= 1.5x
on 2 cores with 16 in flight), so the ratio shows what HTTP costs and what concurrency gains.

The client is a small asyncio HTTP/1.1 client on raw sockets (keep-alive, one request in flight per
connection, every answer parsed and checked) because it shares the machine's cores with the server; its
CPU per request is printed next to the server's (all worker processes). On a shared machine wall-clock
figures drift with the other load, so the load average is printed too, and the throughput the measured CPU
seconds imply on idle cores.

A second phase keeps ``--health-concurrency`` rankings in flight (default 64) while probing ``/healthz``
one request at a time on its own connection, and prints the probe's p50 / p99 (target: p99 < 50 ms).

Model: ``--model DIR`` (a saved model), else the default model (trained and cached on first use), or
with ``--prior`` / ``--quick`` the untrained prior on the full interactome (no training needed).

Usage: python benchmarks/load_service.py [--quick] [--requests 2000] [--concurrency 16] [--workers N [N ...]]
       [--model DIR | --prior]

``--workers 1 2`` measures both servers in one run, against one baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psutil

from twincell.data.signatures import load_disease_signature
from twincell.identify import kernels, rank_targets
from twincell.identify.actionable import actionable_targets, drug_target_list, fragility
from twincell.identify.inverse import align_change, resolve_operator
from twincell.model import TwinCell, default_model
from twincell.model.default import default_model_dir
from twincell.network import Interactome
from twincell.service.app import create_app, signature_from_mapping

HOST = "127.0.0.1"  # loopback only


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Connection:
    """One keep-alive HTTP/1.1 connection with one request in flight at a time (the benchmark's client)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
        """Send one request (``head`` ends with the blank line); returns the status code and the body."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        self.writer.write(head + body)
        header = await self.reader.readuntil(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        payload = await self.reader.readexactly(int(fields.get("content-length", 0)))
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return int(lines[0].split()[1]), payload

    async def close(self) -> None:
        """Close the socket (a later request reconnects)."""
        if self.writer is not None:
            self.writer.close()
            self.writer, self.reader = None, None


def post_head(path: str, port: int, length: int) -> bytes:
    """Request head of a JSON ``POST``."""
    return (f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


async def fire(port: int, body: dict, n: int, concurrency: int) -> tuple[np.ndarray, int, float, float]:
    """``n`` ``/v1/targets`` requests over ``concurrency`` connections, each with one request in flight.

    Returns latencies (s), the number of failed answers (not 200, or not ``top`` targets and drug
    targets), wall seconds and the client's CPU seconds.
    """
    payload = json.dumps(body).encode()
    head = post_head("/v1/targets", port, len(payload))
    latencies: list[float] = []
    errors = 0
    remaining = n

    async def client() -> None:
        nonlocal errors, remaining
        conn = Connection(port)
        while remaining > 0:
            remaining -= 1
            t = time.perf_counter()
            try:
                status, answer = await conn.request(head, payload)
                parsed = json.loads(answer) if status == 200 else {}
                ok = len(parsed.get("targets", ())) == len(parsed.get("drug_targets", ())) == body["top"]
            except (OSError, asyncio.IncompleteReadError, ValueError):
                ok = False
                await conn.close()
            latencies.append(time.perf_counter() - t)
            errors += not ok
        await conn.close()

    t0, c0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return np.array(latencies), errors, time.perf_counter() - t0, time.process_time() - c0


async def probe_health(port: int, body: dict, n: int, concurrency: int) -> np.ndarray:
    """``/healthz`` latencies (s), one probe at a time, while ``n`` rankings run ``concurrency`` at a time."""
    load = asyncio.ensure_future(fire(port, body, n, concurrency))
    head = f"GET /healthz HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()
    conn, probes = Connection(port), []
    await asyncio.sleep(0.5)  # let the rankings fill the server
    while not probes or not load.done():  # at least one probe
        t = time.perf_counter()
        status, _ = await conn.request(head)
        probes.append(time.perf_counter() - t if status == 200 else float("inf"))
        await asyncio.sleep(0.01)
    await conn.close()
    await load
    return np.array(probes)


def start_server(model_dir: Path, port: int, workers: int) -> subprocess.Popen:
    """``twincell serve --workers N`` in a subprocess; returns once ``/healthz`` answers.

    The server's log (a line per request) goes to a temporary file: a pipe nobody reads would fill up and
    stop the server after a few hundred requests.
    """
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen([sys.executable, "-m", "twincell.cli.main", "serve", "--model", str(model_dir),
                             "--host", HOST, "--port", str(port), "--workers", str(workers)],
                            env={**os.environ, "TWINCELL_PROGRESS": "0"}, stdout=subprocess.DEVNULL, stderr=log)
    head = f"GET /healthz HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"the server exited: {log.read()[-2000:]}")
        try:
            if asyncio.run(Connection(port).request(head))[0] == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("the server did not start within 300 s")


def cpu_seconds(proc: subprocess.Popen) -> float:
    """CPU seconds (user + system) used so far by a process and its children (the server's workers)."""
    root = psutil.Process(proc.pid)
    return sum(sum(p.cpu_times()[:2]) for p in [root, *root.children(recursive=True)])


def library_seconds(model: TwinCell, body: dict, repeats: int = 20) -> tuple[float, float]:
    """Median wall and CPU seconds of the library work of one request, one call at a time in a worker thread.

    The work: parse the signature mapping, rank every protein, list the best ``top`` drug targets.
    """
    def timed() -> tuple[float, float]:
        t, c = time.perf_counter(), time.thread_time()
        library_work(model, body)
        return time.perf_counter() - t, time.thread_time() - c

    with ThreadPoolExecutor(1) as pool:
        times = np.array([pool.submit(timed).result() for _ in range(repeats + 2)][2:])  # 2 warm-up calls
    return float(np.median(times[:, 0])), float(np.median(times[:, 1]))


def serve_and_load(model_dir: Path, body: dict, workers: int, n: int, concurrency: int,
                   health_concurrency: int) -> dict:
    """One server configuration: warm-up, the measured requests, then ``/healthz`` under load; its figures."""
    port = free_port()
    server = start_server(model_dir, port, workers)
    try:
        asyncio.run(fire(port, body, min(n, 4 * concurrency), concurrency))  # warm-up (every worker)
        cpu0 = cpu_seconds(server)
        latencies, errors, wall, client_cpu = asyncio.run(fire(port, body, n, concurrency))
        server_cpu = (cpu_seconds(server) - cpu0) / n
        health = asyncio.run(probe_health(port, body, max(n // 4, 2 * health_concurrency), health_concurrency))
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"latencies": latencies, "errors": errors, "wall": wall, "client_cpu": client_cpu / n,
            "server_cpu": server_cpu, "health": health}


def report(result: dict, workers: int, n: int, concurrency: int, health_concurrency: int, direct_s: float,
           direct_cpu: float) -> None:
    """Print one configuration's figures against the library baseline."""
    p50, p99 = np.percentile(result["latencies"], [50, 99])
    throughput = n / result["wall"]
    cores = min(workers, os.cpu_count() or 1)
    print(f"service, {workers} worker process(es), {n} requests, {concurrency} in flight:")
    print(f"  throughput   {throughput:8.2f} req/s  ({throughput * direct_s:.2f}x the sequential library rate; "
          "target >= 1.5x)")
    print(f"  latency p50  {p50 * 1e3:8.1f} ms  ({p50 / direct_s:.2f}x one library call)")
    print(f"  latency p99  {p99 * 1e3:8.1f} ms  (target < 250 ms)")
    print(f"  errors       {result['errors']:8d}")
    print(f"  CPU per request: {result['server_cpu'] * 1e3:.1f} ms in the server, {result['client_cpu'] * 1e3:.2f} ms "
          f"in the client, {direct_cpu * 1e3:.1f} ms per library call; on {cores} idle core(s) shared with the "
          f"client the service would reach "
          f"{cores * direct_cpu / (result['server_cpu'] + result['client_cpu']):.2f}x the sequential library rate")
    h50, h99 = np.percentile(result["health"], [50, 99])
    print(f"  /healthz with {health_concurrency} rankings in flight, {len(result['health'])} probes: "
          f"p50 {h50 * 1e3:.1f} ms, p99 {h99 * 1e3:.1f} ms (target < 50 ms)")


def library_work(model: TwinCell, body: dict) -> None:
    """The library work of one request: parse the signature mapping, rank every protein, list the best ``top``
    drug targets."""
    desired = signature_from_mapping(body["signature"]).desired_change()
    ranking = rank_targets(model, desired, context=body["context"], direction=body["direction"])
    drug_target_list(model, desired, ranking, context=body["context"], top=body["top"])


def app_seconds(model: TwinCell, body: dict, repeats: int = 20) -> tuple[float, float]:
    """Median CPU seconds (all threads) of one ``POST /v1/targets`` through the app in this process, without sockets,
    and of the library work alone, the two alternated call by call (so both see the same load).

    The ASGI app of ``twincell serve`` is called directly on an event loop (uvloop when installed, as uvicorn
    uses it), one request at a time, on one core: routing, JSON decoding, validation, the hand-off to the ranking thread, the
    library work and the JSON answer. What a server's CPU per request has beyond this is HTTP parsing, socket
    I/O and processes competing for the cores.
    """
    app = create_app(model)
    payload = json.dumps(body).encode()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/v1/targets", "raw_path": b"/v1/targets", "query_string": b"", "root_path": "",
             "headers": [(b"host", HOST.encode()), (b"content-type", b"application/json"),
                         (b"content-length", str(len(payload)).encode())],
             "client": (HOST, 1), "server": (HOST, 80)}

    async def one() -> float:
        messages: list[dict] = [{"type": "http.request", "body": payload, "more_body": False}]
        sent: list[dict] = []

        async def receive() -> dict:
            if messages:
                return messages.pop()
            await asyncio.Event().wait()  # the client never disconnects
            return {}

        async def send(message: dict) -> None:
            sent.append(message)

        c = time.process_time()
        await app(dict(scope), receive, send)
        if sent[0]["status"] != 200:
            raise RuntimeError(f"the app answered {sent[0]['status']}: {sent[1].get('body', b'')[:200]!r}")
        return time.process_time() - c

    def library() -> float:
        c = time.process_time()
        library_work(model, body)
        return time.process_time() - c

    async def run() -> tuple[float, float]:
        async with app.router.lifespan_context(app):  # as in a worker: one ranking thread, the GC frozen
            times = [(await one(), library()) for _ in range(repeats + 2)][2:]  # 2 warm-up calls
        gc.unfreeze()  # the library baseline measured after this runs as before it
        return tuple(np.median(times, axis=0).tolist())

    # Both threads on one core, as in a worker of a busy server: with the second core idle, the ranking thread
    # woke on either core and the same work cost 8-12 ms more CPU per request than on one core (3-4 ms).
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_setaffinity") else None
    if cores:
        os.sched_setaffinity(0, {min(cores)})  # this thread, and the ranking thread it starts
    try:
        import uvloop
    except ImportError:  # pragma: no cover - without the service extra
        return asyncio.run(run())
    else:
        return uvloop.run(run())
    finally:
        if cores:
            os.sched_setaffinity(0, cores)


def step_seconds(model: TwinCell, body: dict, repeats: int = 9) -> dict[str, float]:
    """Median CPU seconds of each step of a request's library work (``parse``: the signature from the mapping,
    ``rank``: :func:`~twincell.identify.rank_targets`, ``drug_list``: the drug-target list of the ``top`` rows)
    and of the same list from the all-node fragility pass (``all_node_list``, the reference the tests compare
    it with)."""
    desired = signature_from_mapping(body["signature"]).desired_change()
    ranking = rank_targets(model, desired, context=body["context"], direction=body["direction"])
    op = resolve_operator(model, body["context"])
    d, _, _ = align_change(desired, op.genes)

    def cpu(call: Callable[[], object], n: int = repeats) -> float:
        call()  # warm
        times = []
        for _ in range(n):
            c = time.thread_time()
            call()
            times.append(time.thread_time() - c)
        return float(np.median(times))

    return {"parse": cpu(lambda: signature_from_mapping(body["signature"]).desired_change()),
            "rank": cpu(lambda: rank_targets(model, desired, context=body["context"], direction=body["direction"])),
            "drug_list": cpu(lambda: drug_target_list(model, desired, ranking, context=body["context"],
                                                      top=body["top"])),
            "all_node_list": cpu(lambda: actionable_targets(ranking, fragility(op, d, op.adjoint(d))).head(body["top"]),
                                 n=3)}


def main() -> None:
    """Run the load test and print its figures."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="100 requests, 8 in flight, prior model (smoke run)")
    ap.add_argument("--requests", type=int, default=None, help="number of requests (default 2000; quick: 100)")
    ap.add_argument("--concurrency", type=int, default=None, help="requests in flight (default 16; quick: 8)")
    ap.add_argument("--workers", type=int, nargs="+", default=[os.cpu_count() or 1],
                    help="server worker processes; several values run one server after the other (default: cores)")
    ap.add_argument("--health-concurrency", type=int, default=64, help="rankings in flight while /healthz is probed")
    ap.add_argument("--model", type=Path, default=None, help="saved model directory")
    ap.add_argument("--prior", action="store_true", help="serve the untrained prior on the full interactome")
    args = ap.parse_args()
    n = args.requests or (100 if args.quick else 2000)
    concurrency = args.concurrency or (8 if args.quick else 16)

    with tempfile.TemporaryDirectory() as tmp:
        if args.model is not None:
            model_dir = args.model
        elif args.prior or args.quick:
            model_dir = TwinCell.prior(Interactome.default()).save(Path(tmp) / "prior-model")
        else:
            default_model()  # trains and caches it on first use
            model_dir = default_model_dir()
        model = TwinCell.load(model_dir)  # the baseline uses the very model the server loads
        context = "A375" if "A375" in model.contexts else (sorted(model.contexts)[0] if model.contexts else None)
        signature = load_disease_signature("UC")
        body = {"signature": signature.logfc.to_dict(), "context": context, "direction": "both", "top": 50}
        print(f"model: {model}\nsignature: {signature.name} ({len(signature)} genes), context: {context}, "
              f"top {body['top']}")
        load_before = os.getloadavg()
        kernels.disable()
        steps_numpy = step_seconds(model, body)
        fast = kernels.enable()  # as each server worker does (twincell.service.server.prepare_worker)
        before = library_seconds(model, body)
        steps = step_seconds(model, body)
        in_process = app_seconds(model, body)
        results = {w: serve_and_load(model_dir, body, w, n, concurrency, args.health_concurrency)
                   for w in args.workers}
        after = library_seconds(model, body)  # the load of other jobs drifts: the baseline brackets the servers
    load_after = os.getloadavg()
    direct_s, direct_cpu = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2

    print(f"load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after, "
          f"on {os.cpu_count()} CPU cores")
    print(f"library work of one request (signature, rank_targets, drug_target_list top {body['top']}), one call "
          f"at a time: {direct_s * 1e3:.1f} ms per call ({1 / direct_s:.2f} calls/s), {direct_cpu * 1e3:.1f} ms CPU"
          f"  [baseline: mean of {before[0] * 1e3:.1f} ms before and {after[0] * 1e3:.1f} ms after the servers]")
    print(f"  compiled kernels (numba, as in the server's workers): {'on' if fast else 'off (numba not installed)'}")
    for label, split in {"numpy passes": steps_numpy, **({"compiled kernels": steps} if fast else {})}.items():
        print(f"  steps with {label} (median CPU): signature {split['parse'] * 1e3:.1f} ms, rank_targets "
              f"{split['rank'] * 1e3:.1f} ms, drug_target_list(top={body['top']}) {split['drug_list'] * 1e3:.1f} ms "
              f"(the same rows from the all-node fragility pass: {split['all_node_list'] * 1e3:.1f} ms, "
              f"{split['all_node_list'] / split['drug_list']:.1f}x)")
    print(f"  the app in this process, without sockets (routing, JSON, validation, thread hand-off, library, answer): "
          f"{in_process[0] * 1e3:.1f} ms CPU per request; the library call alternated with it {in_process[1] * 1e3:.1f} "
          f"ms: the app's own code {(in_process[0] - in_process[1]) * 1e3:.1f} ms")
    for workers, result in results.items():
        report(result, workers, n, concurrency, args.health_concurrency, direct_s, direct_cpu)
        print(f"  server CPU per request beyond the app in-process (HTTP, sockets, processes sharing the cores): "
              f"{(result['server_cpu'] - in_process[0]) * 1e3:.1f} ms")
    if any(result["errors"] for result in results.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
