"""End-to-end time of ``twincell identify --disease SLE --explain 5`` against importing numpy, scipy and pandas.

Each repeat runs, in fresh subprocesses and interleaved (so a busy machine slows both alike):

* the baseline ``python -c "import numpy, scipy, pandas"``;
* ``python -m twincell.cli.main identify --disease SLE --explain 5 --out TMPDIR`` (the default model, the
  full report: ``ranking.csv``, ``paths.csv``, ``report.html``);
* the default model's context-free operator in a fresh process, opened (``open_default_model``: stored
  arrays, no torch) and loaded (``default_model``: torch model, then the operator built), imports included.

One untimed warm-up run of the command first builds what is cached once (the default model on first use,
the interactome, the drug tables). Printed: the median of each, and the ratio command / baseline (issue 15's
target: at most 4x), also as the median of each repeat's own ratio (steadier on a busy machine). ``--compare
SRC`` also times the same command with another checkout's ``src`` first on ``PYTHONPATH`` (e.g. the code
before a change), interleaved in the same repeats. ``--profile`` also prints
where the command's time goes (``-X importtime`` of its imports, its steps and cProfile's top functions).

    python benchmarks/bench_cli_identify.py [--repeats 5] [--compare ../main/src] [--profile] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASELINE = [sys.executable, "-c", "import numpy, scipy, pandas"]
# the default model's context-free operator: opened from stored arrays vs the full torch model loaded
OPEN_MODEL = [sys.executable, "-c", "from twincell.model import open_default_model; open_default_model().operator(None)"]
LOAD_MODEL = [sys.executable, "-c", "from twincell.model import default_model; default_model().operator(None)"]


# steps of the command shown by --profile: label -> (module file, function)
STEPS = {"read the signature": ("data/signatures.py", "load_disease_signature"),
         "open the model": ("model/default.py", "open_default_model"),
         "identify_targets (all below)": ("identify/report.py", "identify_targets"),
         "  rank_targets": ("identify/inverse.py", "rank_targets"),
         "  fragility pass (drug-target list)": ("identify/actionable.py", "fragility"),
         "  explain_many": ("identify/explain.py", "explain_many"),
         "  actionable_targets (drug annotation)": ("identify/actionable.py", "actionable_targets"),
         "write_report (CSV, SVG, HTML)": ("identify/report.py", "write_report"),
         "print the tables": ("cli/_common.py", "print_table")}


def identify_command(out: Path) -> list[str]:
    """The timed command: the CLI's identify on the bundled SLE signature, 5 explained targets."""
    return [sys.executable, "-m", "twincell.cli.main", "identify", "--disease", "SLE", "--explain", "5",
            "--out", str(out)]


def _run(cmd: list[str], src: str | None = None) -> float:
    """Wall-clock seconds of one subprocess run (``src`` first on PYTHONPATH when given); raises when it fails."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(src))
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return elapsed


def _env(src: str | None = None) -> dict[str, str]:
    """The environment of the timed runs (progress bars off; ``src`` first on PYTHONPATH when given)."""
    env = {**os.environ, "TWINCELL_PROGRESS": "0"}
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(Path(src).resolve()), env.get("PYTHONPATH", "")])
    return env


def _profile(out: Path) -> None:
    """Print the slowest imports and the top cumulative functions of one identify run."""
    cmd = identify_command(out)
    proc = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], capture_output=True, text=True, env=_env())
    rows = [line.split("|") for line in proc.stderr.splitlines() if line.startswith("import time:")
            and "cumulative" not in line]
    slow = sorted(((int(r[1]), r[2].rstrip()) for r in rows), reverse=True)
    top_level = [(t, name) for t, name in slow if not name.startswith("   ")][:15]
    print(f"\nimports: {sum(int(r[0].split(':')[1]) for r in rows) / 1e6:.2f} s in all (-X importtime, self times)")
    print("slowest top-level imports (cumulative ms):")
    for t, name in top_level:
        print(f"  {t / 1000:8.0f}  {name.strip()}")
    prof = out.parent / "identify.prof"
    subprocess.run([cmd[0], "-m", "cProfile", "-o", str(prof), *cmd[1:]], capture_output=True, env=_env(), check=True)
    import pstats

    stats = pstats.Stats(str(prof))
    total = max(ct for _, _, _, ct, _ in stats.stats.values())  # type: ignore[attr-defined]
    print(f"\nsteps of the command (cProfile, cumulative; whole run {total:.2f} s):")
    for label, (module, name) in STEPS.items():
        ct = sum(v[3] for (file, _, func), v in stats.stats.items()  # type: ignore[attr-defined]
                 if func == name and file.endswith(module))
        print(f"  {ct:6.2f} s  {ct / total:4.0%}  {label}")
    print("\ntop functions by cumulative time:")
    stats.sort_stats("cumulative").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each (medians are printed)")
    parser.add_argument("--compare", default=None, help="another checkout's src directory, timed alongside")
    parser.add_argument("--profile", action="store_true", help="also print where the command's time goes")
    parser.add_argument("--quick", action="store_true", help="smoke run: one timed repeat (make bench)")
    args = parser.parse_args()
    if args.quick:
        args.repeats = 1
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "SLE"
        cmd = identify_command(out)
        print("warm-up (builds the caches once):", f"{_run(cmd):.2f} s")
        if args.compare:
            print(f"warm-up of {args.compare}:", f"{_run(cmd, args.compare):.2f} s")
        commands = {"import numpy, scipy, pandas": BASELINE, "twincell identify --disease SLE --explain 5": cmd,
                    "model operator, opened (stored arrays)": OPEN_MODEL,
                    "model operator, loaded (torch model)": LOAD_MODEL}
        times: dict[str, list[float]] = {label: [] for label in commands}
        other = f"the same with {args.compare}"
        if args.compare:
            times[other] = []
        for _ in range(args.repeats):
            for label, command in commands.items():
                times[label].append(_run(command))
            if args.compare:
                times[other].append(_run(cmd, args.compare))
        medians = {label: statistics.median(runs) for label, runs in times.items()}
        base = medians["import numpy, scipy, pandas"]
        for label, runs in times.items():
            print(f"{label}: median {medians[label]:.2f} s = {medians[label] / base:.1f}x the imports  (runs: "
                  f"{', '.join(f'{t:.2f}' for t in runs)})")
        command = times["twincell identify --disease SLE --explain 5"]
        paired = statistics.median(c / b for c, b in zip(command, times["import numpy, scipy, pandas"]))
        print(f"ratio identify / imports: {medians['twincell identify --disease SLE --explain 5'] / base:.1f}x "
              f"(target <= 4x); median of the per-repeat ratios (each run against its own baseline): {paired:.1f}x")
        if args.profile:
            _profile(out)


if __name__ == "__main__":
    main()
