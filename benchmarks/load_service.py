"""Load test of the HTTP service: concurrent ``POST /v1/targets`` against ``twincell serve`` on loopback.

Starts ``twincell serve`` in a subprocess on a free 127.0.0.1 port, then sends a bounded number of
rank requests (a bundled real disease signature, UC sigmoid colon, ~800 genes) with a fixed number in
flight, and prints throughput, p50 / p99 latency and the error count (must be 0). The baseline,
measured in the same run, is the library call itself (``rank_targets`` in-process, one at a time in a worker thread, as the
server's thread pool runs it):
the ratios show the HTTP + validation overhead and the gain from serving requests concurrently.
On a shared machine wall-clock ratios drift with the other load, so it also prints the CPU seconds
per request of the server (all its worker processes) against those of one library call, and the
throughput ratio they imply on idle cores.

Model: ``--model DIR`` (a saved model), else the default model (trained and cached on first use),
or with ``--prior`` / ``--quick`` the untrained prior on the full interactome (no training needed).
The server runs ``--workers`` processes (default: one per CPU core). A second phase keeps
``--health-concurrency`` rankings in flight (default 64) while probing ``/healthz`` one request at a
time, and prints the probe's p50 / p99 latency (target: p99 < 50 ms).

Usage: python benchmarks/load_service.py [--quick] [--requests 2000] [--concurrency 16] [--workers N]
       [--model DIR | --prior]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import psutil

from twincell.data.signatures import load_disease_signature
from twincell.identify import rank_targets
from twincell.model import TwinCell, default_model
from twincell.model.default import default_model_dir
from twincell.network import Interactome

HOST = "127.0.0.1"  # loopback only


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_server(model_dir: Path, port: int, workers: int) -> subprocess.Popen:
    """``twincell serve --workers N`` in a subprocess; returns once ``/healthz`` answers."""
    proc = subprocess.Popen([sys.executable, "-m", "twincell.cli.main", "serve", "--model", str(model_dir),
                             "--host", HOST, "--port", str(port), "--workers", str(workers)],
                            env={**os.environ, "TWINCELL_PROGRESS": "0"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited: {proc.stderr.read()[-2000:]}")
        try:
            if httpx.get(f"http://{HOST}:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("the server did not start within 300 s")


async def fire(base: str, body: dict, n: int, concurrency: int) -> tuple[np.ndarray, int, float]:
    """Send ``n`` requests with at most ``concurrency`` in flight; latencies (s), error count, wall time (s)."""
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=300, limits=limits) as client:
        async def one() -> None:
            nonlocal errors
            async with gate:
                t = time.perf_counter()
                try:
                    r = await client.post("/v1/targets", json=body)
                    ok = r.status_code == 200 and len(r.json()["targets"]) == body["top"]
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - t)
                errors += not ok

        t0 = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        wall = time.perf_counter() - t0
    return np.array(latencies), errors, wall


async def probe_health(base: str, body: dict, n: int, concurrency: int) -> np.ndarray:
    """``/healthz`` latencies (s), one probe at a time, while ``n`` rankings run ``concurrency`` at a time."""
    probes: list[float] = []
    load = asyncio.ensure_future(fire(base, body, n, concurrency))
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        await asyncio.sleep(0.5)  # let the rankings fill the server
        while not load.done():
            t = time.perf_counter()
            r = await client.get("/healthz")
            probes.append(time.perf_counter() - t if r.status_code == 200 else float("inf"))
            await asyncio.sleep(0.01)
    await load
    return np.array(probes)


def cpu_seconds(proc: subprocess.Popen) -> float:
    """CPU seconds (user + system) used so far by a process and its children (the server's workers)."""
    root = psutil.Process(proc.pid)
    return sum(sum(p.cpu_times()[:2]) for p in [root, *root.children(recursive=True)])


def library_seconds(model: TwinCell, desired, context: str | None, repeats: int = 10) -> tuple[float, float]:
    """Median wall and CPU seconds of one ``rank_targets`` call, one at a time in a worker thread as the server runs it."""
    def timed() -> tuple[float, float]:
        t, c = time.perf_counter(), time.thread_time()
        rank_targets(model, desired, context=context)
        return time.perf_counter() - t, time.thread_time() - c

    with ThreadPoolExecutor(1) as pool:
        times = np.array([pool.submit(timed).result() for _ in range(repeats + 2)][2:])  # 2 warm-up calls
    return float(np.median(times[:, 0])), float(np.median(times[:, 1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="100 requests, 8 in flight, prior model (smoke run)")
    ap.add_argument("--requests", type=int, default=None, help="number of requests (default 2000; quick: 100)")
    ap.add_argument("--concurrency", type=int, default=None, help="requests in flight (default 16; quick: 8)")
    ap.add_argument("--workers", type=int, default=os.cpu_count(), help="server worker processes (default: cores)")
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
        context = sorted(model.contexts)[0] if model.contexts else None
        signature = load_disease_signature("UC")
        body = {"signature": signature.logfc.to_dict(), "context": context, "direction": "both", "top": 50}
        print(f"model: {model}\nsignature: {signature.name} ({len(signature)} genes), context: {context}")

        direct_s, direct_cpu = library_seconds(model, signature.desired_change(), context)

        port = free_port()
        server = start_server(model_dir, port, args.workers)
        try:
            base = f"http://{HOST}:{port}"
            asyncio.run(fire(base, body, min(n, 4 * concurrency), concurrency))  # warm-up (every worker)
            cpu0 = cpu_seconds(server)
            latencies, errors, wall = asyncio.run(fire(base, body, n, concurrency))
            server_cpu = (cpu_seconds(server) - cpu0) / n
            health = asyncio.run(probe_health(base, body, max(n // 4, 2 * args.health_concurrency),
                                              args.health_concurrency))
        finally:
            server.terminate()
            server.wait(timeout=30)

    p50, p99 = np.percentile(latencies, [50, 99])
    throughput = n / wall
    print(f"library rank_targets, in-process worker thread, one at a time: {direct_s * 1e3:8.1f} ms per call "
          f"({1 / direct_s:.2f} calls/s)  [baseline]")
    print(f"service, {args.workers} worker process(es), {n} requests, {concurrency} in flight, "
          f"{os.cpu_count()} CPU cores:")
    print(f"  throughput   {throughput:8.2f} req/s  ({throughput * direct_s:.2f}x the sequential library rate)")
    print(f"  latency p50  {p50 * 1e3:8.1f} ms  ({p50 / direct_s:.2f}x one library call)")
    print(f"  latency p99  {p99 * 1e3:8.1f} ms")
    print(f"  errors       {errors:8d}")
    cores = min(args.workers, os.cpu_count() or 1)
    print(f"  CPU per request {server_cpu * 1e3:6.1f} ms in the server vs {direct_cpu * 1e3:.1f} ms per library call "
          f"(load-independent): on {cores} idle core(s) the service would reach "
          f"{cores * direct_cpu / server_cpu:.2f}x the sequential library rate")
    h50, h99 = np.percentile(health, [50, 99])
    print(f"/healthz with {args.health_concurrency} rankings in flight, {len(health)} probes: "
          f"p50 {h50 * 1e3:.1f} ms, p99 {h99 * 1e3:.1f} ms (target < 50 ms)")
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
