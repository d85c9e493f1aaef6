"""Run every benchmark scenario against FakePlivo and print a markdown table of medians.

    python -m benchmarks.run              # the full run (about 10 minutes on 2 cores)
    python -m benchmarks.run --quick      # a short smoke run
    python -m benchmarks.run --reps 5 --only overhead,latency

The fake server runs in a child process (see ``benchmarks/_server.py``); each scenario
measures the library side by side with its baseline in the same run. Progress and the raw
per-repetition figures go to stderr, the table to stdout (and to ``--out`` if given).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python benchmarks/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._scenarios import SCENARIOS, Config, Row


def machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import aiohttp

    return (
        f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, "
        f"aiohttp {aiohttp.__version__}, {platform.system()} {platform.release()}"
    )


def _loadavg() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "n/a"


def table(rows: list[Row]) -> str:
    lines = [
        "| Scenario | Measure | plivo-numlink | Baseline | Ratio | Target | Met |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        met = "" if row.met is None else ("yes" if row.met else "**no**")
        lines.append(
            f"| {row.scenario} | {row.measure} | {row.library} | {row.baseline} | "
            f"{row.ratio} | {row.target} | {met} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="plivo-numlink benchmarks against FakePlivo")
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 repetition")
    parser.add_argument(
        "--reps",
        type=int,
        default=None,
        help="repetitions (default 5; rate-bound and batching runs use at most 3, memory 2)",
    )
    parser.add_argument(
        "--only", default="", help=f"comma-separated subset of: {', '.join(SCENARIOS)}"
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)
    reps = args.reps if args.reps is not None else (1 if args.quick else 5)
    if reps < 1:
        parser.error("--reps must be >= 1")
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    cfg = Config(quick=args.quick, reps=reps)

    started = time.perf_counter()
    load_before = _loadavg()
    rows: list[Row] = []
    for name in names:
        print(f"{name} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        rows.extend(SCENARIOS[name](cfg))
        print(f"{name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - started

    command = "python -m benchmarks.run" + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else "")
    header = (
        f"Machine: {machine()}\n\n"
        f"Command: `{command}` ({reps} repetition(s), medians; took {elapsed:.0f} s; "
        f"1-minute load average {load_before} at the start, {_loadavg()} at the end)\n"
    )
    output = header + "\n" + table(rows) + "\n"
    print(output)
    if args.out is not None:
        args.out.write_text(output, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
