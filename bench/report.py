"""The benchmark's markdown report: one table of figures and targets, then per scenario the
processes' CPU and RSS and the checks of what was measured."""

from __future__ import annotations

import argparse
import os

from bench.procs import load_average
from bench.scenario import Result


def _met(met: bool | None) -> str:
    return "" if met is None else ("yes" if met else "**no**")


def markdown(results: list[Result], args: argparse.Namespace) -> str:
    lines = [
        "# Benchmark report",
        "",
        f"{os.cpu_count()} CPUs, load average {load_average()} at the end; load generator "
        f"`{args.load}` on the same machine, {args.connections} connections, "
        f"{args.seconds:g} s per load phase, WEB_WORKERS={args.web_workers}. CPU reference "
        f"(pure Python, lower is faster): {args.cpu_reference_ms} ms.",
        "",
        "| scenario | metric | value | target | met |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        lines += [
            f"| {r.name} | {row['metric']} | {row['value']} | {row['target']} "
            f"| {_met(row['met'])} |"
            for row in r.rows
        ]
    for r in results:
        lines += [
            "",
            f"## {r.name}",
            "",
            "| process | count | CPU % of one core | RSS MB | PSS MB |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {name} | {u['processes']} | {u['cpu_percent']} | {u['rss_mb']} "
            f"| {u.get('pss_mb', '')} |"
            for name, u in r.processes.items()
        ]
        lines += ["", "| check | ok |", "|---|---|"]
        lines += [f"| {name} | {'yes' if ok else '**NO**'} |" for name, ok in r.checks.items()]
    return "\n".join(lines) + "\n"
