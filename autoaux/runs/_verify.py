"""The checks a resume makes on the whole of ``state.json`` (see :mod:`autoaux.runs.checkpoint`).

A checkpoint is read back by a later process, perhaps after someone else had the folder, so
everything it says is checked before it is used:

- one sha256 digest over the whole state (canonical JSON), written with it: an edit by hand, a
  truncation or a copy mixing two states is refused;
- a race's verdicts are recomputed from its saved paired differences by the racing policy
  itself (a fresh :class:`bandits.Racing` with the saved options, fed the differences through
  its public ``update``): a saved decision, interval or open arm that the differences do not
  give is refused;
- ``selected`` lies in the pool less its controls, and after a race is exactly the candidates
  that help;
- the stage-2 trials are numbered in order, agree with the trials of the saved search (ratios,
  score, state), and the best trial, its weights file and the test score follow from them;
- the data fingerprint has one entry per ``[[task]]``, at that task's path.

Each check raises :class:`StateMismatch` with a one-line reason; the checkpoint turns it (and any
malformed value) into a :class:`~autoaux.runs.checkpoint.CheckpointError`.

What no check here can do: the digest is not a signature (whoever can write the folder can
recompute it), so a state forged consistently, its paired differences included, is taken as
the truth. The checks make a forged answer consistent with its evidence; they cannot tell
forged evidence from measured evidence.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["StateMismatch", "state_digest", "verify_state"]

DIGEST_KEY = "digest"
_REL = 1e-9


class StateMismatch(ValueError):
    """A part of ``state.json`` disagrees with another part or with the configuration."""


def state_digest(state: Mapping[str, Any]) -> str:
    """sha256 of ``state`` (the ``digest`` entry left out) as canonical JSON (sorted keys)."""
    body = {k: v for k, v in state.items() if k != DIGEST_KEY}
    text = json.dumps(body, sort_keys=True, allow_nan=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def verify_state(state: Mapping[str, Any], config: Any) -> None:
    """Check the parts of a loaded ``state`` against each other and ``config`` (the saved
    :class:`~autoaux.config.RunConfig`).

    Raises:
        StateMismatch: naming the part that disagrees.
        ValueError, KeyError, TypeError: a malformed part (the caller words these).
    """
    for key in ("mlflow", "files"):
        if not isinstance(state.get(key), Mapping):
            raise StateMismatch(f"{key}: not a mapping")
    _check_data_entries(state, config)
    pool = tuple(config.auxiliary_tasks())
    controls = tuple(config.control_tasks())
    selected: tuple[str, ...] | None = None
    stage1 = state.get("stage1")
    if stage1 and stage1.get("kind") == "race":
        _recomputed_verdicts(stage1["bandit"], where="stage1.bandit")
    saved_selection = state.get("stage1_result")
    if saved_selection:
        selected = _check_selection(saved_selection, config, pool, controls)
    stage2 = state.get("stage2")
    if stage2 and stage2.get("trials"):
        _check_stage2_progress(stage2, config)
    mix = state.get("stage2_result")
    if mix:
        _check_mix(mix, config, selected)
    baselines = state.get("baselines") or {}
    if not isinstance(baselines, Mapping):
        raise StateMismatch("baselines: not a mapping")
    unknown = set(baselines) - set(config.baselines.run)
    if unknown:
        raise StateMismatch(f"baselines: {sorted(unknown)} were not asked for by the configuration")


# ----------------------------------------------------------------------------- data
def _check_data_entries(state: Mapping[str, Any], config: Any) -> None:
    data = state["fingerprint"].get("data")
    if not isinstance(data, Mapping):
        raise StateMismatch("fingerprint.data: not a mapping of task -> file")
    expected = {
        spec.name: str(Path(spec.path).expanduser().resolve()) for spec in config.task_files
    }
    if set(data) != set(expected):
        missing, extra = sorted(set(expected) - set(data)), sorted(set(data) - set(expected))
        raise StateMismatch(
            f"fingerprint.data: one entry per [[task]] expected (missing {missing}, "
            f"unexpected {extra})"
        )
    for name, path in expected.items():
        entry = data[name]
        if not isinstance(entry, Mapping) or str(entry.get("path")) != path:
            raise StateMismatch(f"fingerprint.data[{name!r}]: not the file of task {name!r}")
        digest = entry.get("sha256")
        if not isinstance(digest, str) or len(digest) != 64:
            raise StateMismatch(f"fingerprint.data[{name!r}]: no sha256 of {path}")


# ----------------------------------------------------------------------------- stage 1
def _recomputed_verdicts(bandit_state: Mapping[str, Any], *, where: str) -> list[Any]:
    """Load ``bandit_state`` into the racing policy it names, recompute every verdict from its
    paired differences with a fresh policy of the same options, and return the verdicts.

    Raises:
        StateMismatch: a saved verdict, interval or open arm differs from the recomputed one.
    """
    from bandits import Racing, make_bandit

    options = dict(bandit_state["options"])
    saved = make_bandit(str(bandit_state["policy"]), int(bandit_state["n_arms"]), **options)
    if not isinstance(saved, Racing):
        raise StateMismatch(f"{where}: policy {bandit_state['policy']!r} is not a race")
    saved.load_state_dict(bandit_state)
    fresh = make_bandit(str(bandit_state["policy"]), int(bandit_state["n_arms"]), **options)
    assert isinstance(fresh, Racing)
    control = saved.control
    diffs = bandit_state["state"]["diffs"]
    for arm in saved.candidates:
        for diff in diffs[arm]:
            # pairing: the candidate's reward, then the control's, gives their difference
            fresh.update(arm, float(diff))
            fresh.update(control, 0.0)
    kept, redone = saved.verdicts(), fresh.verdicts()
    for old, new in zip(kept, redone, strict=True):
        same = (
            old.arm == new.arm
            and old.verdict == new.verdict
            and old.n == new.n
            and all(_same(getattr(old, k), getattr(new, k)) for k in ("effect", "low", "high"))
        )
        if not same:
            raise StateMismatch(
                f"{where}: arm {old.arm} is saved as {old.verdict} (interval {old.low:.4g} .. "
                f"{old.high:.4g}) but its {old.n} paired differences give {new.verdict} "
                f"({new.low:.4g} .. {new.high:.4g})"
            )
    if saved.open_arms() != fresh.open_arms():
        raise StateMismatch(
            f"{where}: open arms {saved.open_arms()} do not follow from the paired differences "
            f"({fresh.open_arms()})"
        )
    return redone


def _check_selection(
    data: Mapping[str, Any], config: Any, pool: Sequence[str], controls: Sequence[str]
) -> tuple[str, ...]:
    from autoaux.runs.checkpoint import _selection_from

    where = "stage1_result"
    result = _selection_from(data)
    if result.main_task != config.main.task:
        raise StateMismatch(f"{where}: main task {result.main_task!r} is not the configured one")
    arms = list(result.arms)  # an in-run bandit also has the main task as an arm
    if len(set(arms)) != len(arms) or not set(arms) <= {*pool, config.main.task}:
        raise StateMismatch(f"{where}: arms {arms} are not within the configured pool")
    if not set(result.controls) <= set(controls) & set(arms):
        raise StateMismatch(f"{where}: controls {list(result.controls)} are not the pool's")
    allowed = [a for a in arms if a not in controls and a != config.main.task]
    selected = list(result.selected)
    if len(set(selected)) != len(selected) or not set(selected) <= set(allowed):
        raise StateMismatch(
            f"{where}: selected {selected} must lie in the pool less its controls ({allowed})"
        )
    if result.rule == "race" or result.verdicts:
        verdicts = _recomputed_verdicts(result.bandit_state, where=f"{where}.bandit_state")
        by_name = {arms[v.arm]: v for v in verdicts}
        if set(by_name) != set(result.verdicts):
            raise StateMismatch(f"{where}: verdicts name other tasks than the race's candidates")
        for name, saved in result.verdicts.items():
            new = by_name[name]
            if (
                saved.verdict != new.verdict
                or saved.episodes != new.n
                or not all(_same(getattr(saved, k), getattr(new, k)) for k in ("effect", "low"))
                or not _same(saved.high, new.high)
            ):
                raise StateMismatch(
                    f"{where}: the verdict of {name!r} is saved as {saved.verdict} but the "
                    f"race's paired differences give {new.verdict}"
                )
        helps = [a for a in allowed if a in by_name and by_name[a].verdict == "helps"]
        if selected != helps:
            raise StateMismatch(
                f"{where}: selected {selected} is not the set of tasks the race found to help "
                f"({helps})"
            )
    return tuple(selected)


# ----------------------------------------------------------------------------- stage 2
def _trials_of(records: Sequence[Mapping[str, Any]], where: str) -> list[Any]:
    from autoaux.runs.checkpoint import _trial_from

    trials = [_trial_from(d) for d in records]
    numbers = [t.number for t in trials]
    if numbers != list(range(len(trials))):
        raise StateMismatch(f"{where}: trial numbers {numbers[:8]} are not 0, 1, 2, ... in order")
    for trial in trials:
        if trial.score is not None and not math.isfinite(float(trial.score)):
            raise StateMismatch(f"{where}: trial {trial.number} has a non-finite score")
    return trials


def _best_of(trials: Sequence[Any]) -> Any:
    """The trial with the highest score, the earliest on ties (as stage 2 keeps it)."""
    best = None
    for trial in trials:
        if trial.score is not None and (best is None or trial.score > best.score):
            best = trial
    return best


def _max_trials(config: Any) -> int:
    return max(int(config.stage2.trials), 1)


def _check_stage2_progress(saved: Mapping[str, Any], config: Any) -> None:
    where = "stage2"
    trials = _trials_of(saved["trials"], where)
    if len(trials) > _max_trials(config):
        raise StateMismatch(f"{where}: more trials than the configured {_max_trials(config)}")
    search = saved.get("search")
    if search is not None:
        from bayesopt import Trial

        told = [Trial.from_dict(t) for t in search["trials"]]
        if len(told) != len(trials):
            raise StateMismatch(
                f"{where}: {len(trials)} trials saved but the search was told {len(told)}"
            )
        for record, trial in zip(trials, told, strict=True):
            same = (
                record.number == trial.number
                and set(record.ratios) == set(trial.ratios)
                and all(_same(float(v), float(trial.ratios[k])) for k, v in record.ratios.items())
                and _same_score(record.score, trial.score)
            )
            if not same:
                raise StateMismatch(
                    f"{where}: trial {record.number} disagrees with the search's record of it "
                    "(ratios or score)"
                )
    best = _best_of(trials)
    number = saved.get("best")
    if (best.number if best is not None else None) != number:
        raise StateMismatch(
            f"{where}: best trial saved as {number!r}, the trials' scores give "
            f"{best.number if best is not None else None!r}"
        )
    if best is None:
        if saved.get("best_file") is not None or saved.get("test_score") is not None:
            raise StateMismatch(f"{where}: a best weights file or test score without a best trial")
    elif saved.get("best_file") != f"best-trial-{best.number:04d}.pt":
        raise StateMismatch(f"{where}: best_file is not the best trial's ({best.number})")
    test = saved.get("test_score")
    if test is not None and not (isinstance(test, int | float) and math.isfinite(test)):
        raise StateMismatch(f"{where}: test_score {test!r} is not a finite number")


def _check_mix(data: Mapping[str, Any], config: Any, selected: tuple[str, ...] | None) -> None:
    where = "stage2_result"
    trials = _trials_of(data["trials"], where)
    if len(trials) > _max_trials(config):
        raise StateMismatch(f"{where}: more trials than the configured {_max_trials(config)}")
    tasks = list(data["tasks"])
    if selected is not None and set(tasks) != set(selected):
        raise StateMismatch(f"{where}: tasks {tasks} are not stage 1's selection {list(selected)}")
    if str(data["main_task"]) != config.main.task:
        raise StateMismatch(f"{where}: main task {data['main_task']!r} is not the configured one")
    best = _best_of(trials)
    if data.get("best_trial") != (best.number if best is not None else None):
        raise StateMismatch(f"{where}: best_trial {data.get('best_trial')!r} is not the best trial")
    score = data.get("best_dev_score")
    if best is None:
        if score is not None and not (isinstance(score, float) and math.isnan(score)):
            raise StateMismatch(f"{where}: a best dev score without a completed trial")
        if data.get("test_score") is not None:
            raise StateMismatch(f"{where}: a test score without a completed trial")
        return
    if score is None or best.score is None or not _same(float(score), float(best.score)):
        raise StateMismatch(f"{where}: best_dev_score {score!r} is not trial {best.number}'s")
    ratios = {str(k): float(v) for k, v in data["ratios"].items()}
    wanted = {config.main.task: 1.0, **{k: float(v) for k, v in best.ratios.items()}}
    if set(ratios) != set(wanted) or not all(_same(ratios[k], wanted[k]) for k in wanted):
        raise StateMismatch(f"{where}: ratios are not those of the best trial {best.number}")
    test = data.get("test_score")
    if test is not None and not (isinstance(test, int | float) and math.isfinite(test)):
        raise StateMismatch(f"{where}: test_score {test!r} is not a finite number")


# ----------------------------------------------------------------------------- numbers
def _same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=_REL, abs_tol=1e-12)


def _same_score(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return _same(float(a), float(b))
