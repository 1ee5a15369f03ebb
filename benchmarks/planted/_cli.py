"""Planted-suite benchmark: does autoaux pick the tasks that are helpful by construction?

The command line of ``python -m benchmarks.planted`` (see the package docstring)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._common import Workspace, publish, setup, write_json

from ._gating import section_facts, section_gating
from ._report import markdown
from ._rules import section_rules
from ._running import section_main, section_scale
from ._suites import BUDGETS, STAGE1_OVERRIDES, parse_overrides
from ._sweep import section_sweep


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.planted", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--budget", choices=tuple(BUDGETS), default="quick")
    parser.add_argument("--smoke", action="store_const", const="smoke", dest="budget")
    parser.add_argument("--quick", action="store_const", const="quick", dest="budget")
    parser.add_argument("--full", action="store_const", const="full", dest="budget")
    parser.add_argument(
        "--sections",
        default="main,scale,sweep,gating,facts,rules",
        help="comma-separated sections",
    )
    parser.add_argument("--seeds", type=int, default=None, help="override the number of seeds")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--markdown", type=Path, default=None, help="write the tables here")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument(
        "--stage1",
        default="",
        help='stage-1 overrides for every run, e.g. "confidence=0.99" (a candidate default)',
    )
    parser.add_argument(
        "--rules-stage1",
        default="",
        help='stage-1 overrides for the rules section, e.g. "gating=smoothed,reward=scaled"',
    )
    args = parser.parse_args(argv)
    b = BUDGETS[args.budget]
    rules_overrides = parse_overrides(args.rules_stage1)
    STAGE1_OVERRIDES.update(parse_overrides(args.stage1))
    if args.seeds is not None:
        b = dataclasses.replace(
            b, seeds=tuple(range(args.seeds)), sweep_seeds=tuple(range(args.seeds))
        )
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(sections) - {"main", "scale", "sweep", "gating", "facts", "rules"}
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}")
    info = setup(args.threads)
    ws = Workspace()
    start = time.perf_counter()
    data: dict[str, Any] = {
        "benchmark": "planted",
        "budget": dataclasses.asdict(b),
        "machine": info,
        "command": "python -m benchmarks.planted "
        + " ".join(repr(a) if " " in a else a for a in argv),
        "sections": sections,
        "stage1_overrides": dict(STAGE1_OVERRIDES),
        "seconds": {},
    }
    try:
        main_data = None
        for section in ("main", "scale", "sweep", "gating", "facts", "rules"):
            if section not in sections:
                continue
            t0 = time.perf_counter()
            if section == "main":
                main_data = data["main"] = section_main(b, ws)
            elif section == "scale":
                data["scale"] = section_scale(b, ws, main_data)
            elif section == "sweep":
                data["sweep"] = section_sweep(b, ws, main_data)
            elif section == "gating":
                data["gating"] = section_gating(b)
            elif section == "facts":
                data["facts"] = section_facts(b, ws)
            else:
                data["rules"] = section_rules(b, ws, rules_overrides)
            data["seconds"][section] = time.perf_counter() - t0
            if args.json:  # keep what is done so far if a later section breaks
                write_json(args.json, data)
    finally:
        ws.close()
    data["seconds"]["total"] = time.perf_counter() - start
    publish(data, markdown(data), json_path=args.json, markdown_path=args.markdown)
    return 0
