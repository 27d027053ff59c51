"""Speed and memory of TwinCell on the full interactome: one forward pass, one training step, one epoch.

Baselines measured in the same run:
* forward: the same maths with the scipy PropagationOperator (``operator.forward``);
* training step: the same propagation with torch's own autograd through ``torch.sparse.mm`` (COO),
  instead of TwinCell's CSR product with a hand-written backward (transpose product + sampled
  dense-dense product for the edge values).
Peak memory is the process's maximum resident set size (plus peak GPU memory on cuda).

    python benchmarks/bench_model.py [--quick] [--device cpu|cuda] [--threads 2]
"""

from __future__ import annotations

import argparse
import resource
import time
import warnings

import numpy as np
import torch

from twincell.data.training_data import load_bundled, load_default_training_data
from twincell.model import TwinCell
from twincell.network import Interactome


def timed(fn, repeat: int) -> float:
    """Median wall time of ``fn()`` in seconds (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def reference_forward(model: TwinCell, U: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
    """The model's prediction computed with torch's autograd through COO ``torch.sparse.mm``: ``exp(rho) (T x +
    r (x - U))`` with ``x`` the K-hop propagation of ``U`` (the direct term skips hop 0, as ``TwinCellModule``)."""
    m = model.module
    vals = m.edge_values(context)
    n = m.n_nodes
    with warnings.catch_warnings():  # torch's note that sparse invariant checks are off
        warnings.simplefilter("ignore", UserWarning)
        A = torch.sparse_coo_tensor(torch.stack([m.ppi.edges.dst, m.ppi.edges.src]), vals["A"], (n, n))
        T = torch.sparse_coo_tensor(torch.stack([m.tf.edges.dst, m.tf.edges.src]), vals["T"], (n, n))
    x, total = U, U
    for _ in range(m.n_hops):
        x = torch.sparse.mm(A, x)
        total = total + x
    return torch.exp(m.log_gain) * (torch.sparse.mm(T, total) + m.direct[:, None] * (total - U))


def reference_step(model: TwinCell, U: torch.Tensor, context: torch.Tensor) -> None:
    """Baseline: forward + backward of :func:`reference_forward`."""
    reference_forward(model, U, context).pow(2).mean().backward()
    model.module.zero_grad()


def twincell_step(model: TwinCell, U: torch.Tensor, context: torch.Tensor) -> None:
    """TwinCell's forward + backward of the same loss."""
    Y, _ = model.module(U, context)
    Y.pow(2).mean().backward()
    model.module.zero_grad()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small batch, epoch on 256 LINCS examples")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (the target is 2 cores)")
    parser.add_argument("--batch", type=int, default=None, help="perturbations per batch")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    B = args.batch or (32 if args.quick else 128)
    repeat = 2 if args.quick else 5

    t0 = time.perf_counter()
    net = Interactome.default()
    model = TwinCell(net, 16, device=args.device, seed=0)
    build_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    U_np = np.zeros((net.n_nodes, B))
    U_np[rng.integers(0, net.n_nodes, B), np.arange(B)] = rng.choice([-1.0, 1.0], B)
    U = torch.as_tensor(U_np, dtype=torch.float32, device=model.device)
    ctx = torch.as_tensor(rng.standard_normal(16), dtype=torch.float32, device=model.device)
    model.contexts = {"bench": ctx.cpu().numpy()}

    with torch.no_grad():  # the baseline must compute what the model computes, or its timing says nothing
        ours, ref = model.module(U, ctx)[0], reference_forward(model, U, ctx)
        if not torch.allclose(ours, ref, rtol=1e-4, atol=1e-6 * float(ours.abs().max())):
            raise SystemExit(f"the COO baseline differs from the model by {float((ours - ref).abs().max()):.3g}")
        fwd = timed(lambda: model.module(U, ctx), repeat)
    op = model.operator("bench")
    fwd_ref = timed(lambda: op.forward(U_np), repeat)
    step = timed(lambda: twincell_step(model, U, ctx), repeat)
    step_ref = timed(lambda: reference_step(model, U, ctx), max(1, repeat // 2))

    if args.quick:
        data = [load_bundled("lincs_overexpression").subset(np.arange(256))]
    else:
        data = load_default_training_data()
    contexts = {c: rng.standard_normal(16).astype(np.float32)
                for d in data for c in d.obs["context"].astype(str).unique()}
    epoch_model = TwinCell(net, 16, device=args.device, seed=0)
    t0 = time.perf_counter()
    epoch_model.fit(data, contexts, max_epochs=1, validation_fraction=0.0, batch_size=B)
    epoch_s = time.perf_counter() - t0
    n_ex = int(epoch_model.history["n_examples"].iloc[0])

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"network: {net!r}; device {args.device}, {torch.get_num_threads()} threads, batch {B}, "
          f"K = {model.hparams['n_hops']}")
    print(f"model construction          {build_s:8.2f} s")
    print(f"forward pass (no grad)      {fwd * 1e3:8.1f} ms   scipy operator baseline {fwd_ref * 1e3:8.1f} ms"
          f"   ratio {fwd / fwd_ref:5.2f}")
    print(f"training step (fwd + bwd)   {step * 1e3:8.1f} ms   torch COO autograd baseline {step_ref * 1e3:8.1f} ms"
          f"   speed-up {step_ref / step:5.2f}x")
    print(f"one epoch                   {epoch_s:8.1f} s for {n_ex} examples ({n_ex / epoch_s:.1f} examples/s)")
    print(f"peak resident memory        {peak_mb:8.0f} MB")
    if model.device.type == "cuda":
        print(f"peak GPU memory             {torch.cuda.max_memory_allocated() / 2**20:8.0f} MB")


if __name__ == "__main__":
    main()
