"""Training a :class:`~autoaux.model.multitask.MultiTaskModel` on one task or on a mixture of tasks.

One optimiser step on task ``t`` (a *main* step when ``t`` is the main task, else *auxiliary*)::

    batch  = next(batches[t])                        # seeded, reshuffled each epoch
    loss   = model.loss(t, batch)                    # bf16 autocast on CUDA, fp32 on the CPU
    loss.backward()
    if t is auxiliary and a gate is set:             # see autoaux.training.gating.CosineGate
        g_m = stored main gradient, refreshed on a fresh main batch every k auxiliary steps
        shared-encoder grads *= scale(cos(g_m, g_a)) # the head of t keeps its gradient
    clip_grad_norm_(all parameters, clip_norm)
    AdamW step; learning-rate schedule step; zero grads

The learning rate follows a linear warm-up and a linear decay: for the ``t``-th update
(``t = 0, 1, ...``), ``w`` warm-up steps and ``T`` total steps, the multiplier is
``(t + 1) / (w + 1)`` while ``t < w``, then ``max(0, (T - t) / (T - w))`` (constant 1 when ``T``
is not set). Biases and LayerNorm weights get no weight decay.

Randomness: the mixture's task draws come from the trainer's ``numpy.random.Generator``,
batches from per-task ``BatchIterator`` s, dropout from a private torch random state that is
swapped in only for the duration of the trainer's own calls; all of them derive from ``seed``.
On the CPU two trainers built from the same weights, data, spec and seed produce identical
losses and scores.

This module holds the :class:`Trainer` and its evaluation batches (:data:`ONE_ID_EVAL_ROWS`,
the shared cache ``_EVAL_BATCHES``); it re-exports the settings (:class:`TrainerSpec`, from
``autoaux.training._spec`` with the schedule), the task data (:class:`TaskData`,
:func:`prepare_tasks`, from ``autoaux.training._data``) and the reports and error
(:class:`StepReport`, :class:`MixtureReport`, :class:`NonFiniteLossError`, from
``autoaux.training._reports``).
"""

from __future__ import annotations

import contextlib
import copy
import math
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from autoaux._device import autocast_context, resolve_device
from autoaux._seeding import TorchRngState, derive_seed
from autoaux.model.multitask import MultiTaskModel, output_loss
from autoaux.training._data import TaskData, prepare_tasks
from autoaux.training._reports import MixtureReport, NonFiniteLossError, StepReport, _mean
from autoaux.training._spec import TrainerSpec, _adamw, _LinearSchedule
from autoaux.training.gating import CosineGate
from tasks import compute_metric
from tasks.encoding import BatchIterator, EncodedSplit

__all__ = [
    "MixtureReport",
    "NonFiniteLossError",
    "StepReport",
    "TaskData",
    "Trainer",
    "TrainerSpec",
    "prepare_tasks",
]

ONE_ID_EVAL_ROWS = 8192
"""Evaluation batch size for examples of one id each (the cached encoder's): a dev split of up to
this many rows is scored in one forward pass."""

# EncodedSplit -> (task, split, max_batches, batch size, eval seed, pad id, device) ->
# (batches on the device, references); shared by the trainers over the same data.
_EVAL_BATCHES: weakref.WeakKeyDictionary[
    EncodedSplit, dict[tuple[Any, ...], tuple[list[dict[str, Tensor]], np.ndarray]]
] = weakref.WeakKeyDictionary()


def _copy_to_cpu(value: Any) -> Any:
    """A deep copy with every tensor detached and moved to the CPU."""
    if isinstance(value, Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: _copy_to_cpu(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_to_cpu(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_copy_to_cpu(v) for v in value)
    return copy.deepcopy(value)


class Trainer:
    """Trains ``model`` on the tasks in ``data``; ``main`` is the task that gets scored.

    Args:
        model: the multi-task model (moved to the spec's device).
        data: task name -> :class:`TaskData`; every task needs a head in ``model``.
        main: the main task's name (never gated; its dev score picks the best checkpoint).
        spec: optimisation settings.
        gate: gradient-cosine gate for auxiliary steps, or ``None`` for plain updates (no main
            gradient is computed then, so no cosine either).
        seed: seeds the task draws, the batch order and dropout.

    Main-gradient bookkeeping for the gate: before a gated auxiliary step, ``g_m`` is recomputed
    on a batch from a separate main-task iterator (so the main task's own training batches are
    the same with or without gating) when none is stored or the stored one has served
    ``gate.refresh_every`` auxiliary steps. A main-task training step stores its own
    shared-encoder gradient as ``g_m`` for free (no extra pass) and restarts that count.
    """

    def __init__(
        self,
        model: MultiTaskModel,
        data: Mapping[str, TaskData],
        *,
        main: str,
        spec: TrainerSpec | None = None,
        gate: CosineGate | None = None,
        seed: int = 0,
    ) -> None:
        spec = spec if spec is not None else TrainerSpec()
        if main not in data:
            raise ValueError(f"main task {main!r} is not among the data's tasks {sorted(data)}")
        for name, td in data.items():
            if name not in model.num_outputs:
                raise ValueError(f"task {name!r} has no head in the model")
            if model.num_outputs[name] != td.task.num_labels:
                raise ValueError(
                    f"task {name!r} needs {td.task.num_labels} outputs, its head has "
                    f"{model.num_outputs[name]}"
                )
        self.model = model
        self.data = dict(data)
        self.main = main
        self.spec = spec
        self.gate = gate
        self.seed = int(seed)
        self.device = resolve_device(spec.device)
        self.model.to(self.device)
        self.model.train()
        if gate is not None:
            gate.to(self.device)
        self._kinds = {name: td.kind for name, td in self.data.items()}
        self._shared = model.shared_parameters()
        params = [p for p in model.parameters() if p.requires_grad]
        if not any(td.has_pairs for td in self.data.values()):
            unused = {id(p) for p in model.pair_parameters()}  # never trained by single texts
            params = [p for p in params if id(p) not in unused]
        self._params = params
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]
        self.optimizer = _adamw(
            [
                {"params": decay, "weight_decay": spec.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=spec.lr,
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, _LinearSchedule(spec.warmup, spec.total_steps)
        )
        self._rng = np.random.default_rng(derive_seed(self.seed, "mixture"))
        self._torch_rng = TorchRngState(derive_seed(self.seed, "torch"), device=self.device)
        self._iterators = {
            name: BatchIterator(
                td.train,
                batch_size=spec.batch_size,
                seed=derive_seed(self.seed, "batches", name),
                pad_id=td.pad_id,
            )
            for name, td in self.data.items()
        }
        self._main_grad_iterator = BatchIterator(
            self.data[main].train,
            batch_size=spec.batch_size,
            seed=derive_seed(self.seed, "main-gradient", main),
            pad_id=self.data[main].pad_id,
        )
        self._main_grads: list[Tensor | None] | None = None
        self._aux_since_refresh = 0
        self._main_grad_losses: list[tuple[int, Tensor]] = []
        self.global_step = 0

    # ---------------------------------------------------------------- steps

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        ctx = autocast_context(self.device)
        return ctx if ctx is not None else contextlib.nullcontext()

    def _to_device(self, batch: Mapping[str, np.ndarray]) -> dict[str, Tensor]:
        device = self.device
        if device.type == "cpu":
            return {k: torch.from_numpy(v) for k, v in batch.items()}
        return {k: torch.from_numpy(v).to(device, non_blocking=True) for k, v in batch.items()}

    def _backward(self, task: str, batch: Mapping[str, np.ndarray]) -> Tensor:
        with self._autocast():
            loss = self.model.loss(task, self._to_device(batch), self._kinds[task])
        loss.backward()
        return loss.detach()

    def _refresh_main_gradient(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss = self._backward(self.main, next(self._main_grad_iterator))
        self._main_grad_losses.append((self.global_step, loss))
        # Keep the gradient tensors themselves; zero_grad(set_to_none) makes the next backward
        # allocate fresh ones, so no copy is needed.
        self._main_grads = [p.grad for p in self._shared]
        self.optimizer.zero_grad(set_to_none=True)
        self._aux_since_refresh = 0

    def _step(self, task: str) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """One optimiser step on ``task``: (loss, cosine, scale), tensors, no host sync."""
        gate = self.gate
        cosine = scale = None
        if (
            gate is not None
            and task != self.main
            and (self._main_grads is None or self._aux_since_refresh >= gate.refresh_every)
        ):
            self._refresh_main_gradient()
        loss = self._backward(task, next(self._iterators[task]))
        if gate is not None:
            if task == self.main:
                self._main_grads = [p.grad for p in self._shared]
                self._aux_since_refresh = 0
            else:
                assert self._main_grads is not None
                cosine, scale = gate.gate(task, self._shared, self._main_grads)
                self._aux_since_refresh += 1
        if self.spec.clip_norm is not None:
            nn.utils.clip_grad_norm_(self._params, self.spec.clip_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.global_step += 1
        return loss, cosine, scale

    def _check_finite(self, tasks: list[str], losses: list[Tensor], first_step: int) -> None:
        """Raise :class:`NonFiniteLossError` for the earliest non-finite loss, if any.

        ``losses[j]`` is the loss of ``tasks[j]`` at step ``first_step + j``; the losses of the
        main-gradient batches taken since the last check are checked too. One host sync.
        """
        bad_main = None
        if self._main_grad_losses:
            values = torch.stack([loss for _, loss in self._main_grad_losses])
            finite = torch.isfinite(values).cpu().numpy()
            if not finite.all():
                j = int(np.argmin(finite))
                step, loss = self._main_grad_losses[j]
                bad_main = (step, float(loss))
            self._main_grad_losses.clear()
        if losses:
            finite = torch.isfinite(torch.stack(losses)).cpu().numpy()
            if not finite.all():
                j = int(np.argmin(finite))
                if bad_main is None or first_step + j <= bad_main[0]:
                    raise NonFiniteLossError(tasks[j], first_step + j, float(losses[j]))
        if bad_main is not None:
            raise NonFiniteLossError(self.main, bad_main[0], bad_main[1])

    def train_steps(self, task: str, n: int, *, raise_on_nonfinite: bool = True) -> StepReport:
        """Take ``n`` optimiser steps on ``task`` (auxiliary steps gated when a gate is set).

        Raises :class:`NonFiniteLossError` (after the ``n`` steps; losses are read back once
        per call) when a loss was NaN or infinite, unless ``raise_on_nonfinite`` is false, in
        which case the report's ``nonfinite`` flag is set.
        """
        if task not in self.data:
            raise ValueError(f"unknown task {task!r}; have {sorted(self.data)}")
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        first = self.global_step
        losses: list[Tensor] = []
        cosines: list[Tensor] = []
        scales: list[Tensor] = []
        with self._torch_rng.active():
            for _ in range(n):
                loss, cosine, scale = self._step(task)
                losses.append(loss)
                if cosine is not None and scale is not None:
                    cosines.append(cosine)
                    scales.append(scale)
        nonfinite = False
        try:
            self._check_finite([task] * len(losses), losses, first)
        except NonFiniteLossError:
            if raise_on_nonfinite:
                raise
            nonfinite = True
        loss_values = tuple(torch.stack(losses).tolist()) if losses else ()
        return StepReport(
            task=task,
            steps=n,
            mean_loss=_mean(loss_values),
            losses=loss_values,
            cosines=tuple(torch.stack(cosines).tolist()) if cosines else (),
            scales=tuple(torch.stack(scales).tolist()) if scales else (),
            nonfinite=nonfinite,
        )

    def train_mixture(
        self,
        probabilities: Mapping[str, float],
        n_steps: int,
        *,
        eval_every: int,
        eval_max_batches: int | None = None,
        callback: Callable[[int, float], bool | None] | None = None,
        count: str = "all",
        patience: int | None = None,
    ) -> MixtureReport:
        """Train on a mixture, each step on a task drawn with the given probabilities.

        ``probabilities`` maps task names to non-negative weights (normalised here; the mixing
        ratios can be passed as they are). Draws come from the trainer's seeded generator.

        ``count`` says what ``n_steps`` and ``eval_every`` count:

        - ``"all"``: optimiser steps of every task (a fixed total split by the weights; the main
          task gets ``n_steps * p_main`` steps in expectation);
        - ``"main"``: main-task steps only. Auxiliary steps come *on top*: tasks are drawn
          until the main task has taken ``eval_every`` steps, so with weight 1 for
          the main task and ``r`` for an auxiliary task there are ``r`` auxiliary steps per main
          step in expectation, and the main task takes exactly the same number of steps (on the
          same batches, which come from its own seeded iterator) whatever the mixture.

        The main task's dev score (on the fixed ``eval_max_batches`` subsample) is measured every
        ``eval_every`` steps (as counted) and after the last one; the weights with the best score
        are kept and restored into the model before returning. ``patience = P`` stops early
        after ``P`` evaluations in a row without a better score (``None``: never).
        ``callback(step, score)`` is called after each evaluation (``step`` as counted);
        returning ``True`` stops the training early.
        """
        if n_steps < 1:
            raise ValueError(f"n_steps must be >= 1, got {n_steps}")
        if eval_every < 1:
            raise ValueError(f"eval_every must be >= 1, got {eval_every}")
        if count not in ("all", "main"):
            raise ValueError(f"count must be 'all' or 'main', got {count!r}")
        if patience is not None and patience < 1:
            raise ValueError(f"patience must be >= 1 or None, got {patience}")
        names = list(probabilities)
        for name in names:
            if name not in self.data:
                raise ValueError(f"unknown task {name!r} in the mixture; have {sorted(self.data)}")
        weights = np.asarray([float(probabilities[n]) for n in names], dtype=np.float64)
        if not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
            raise ValueError(
                f"mixture weights must be finite, >= 0 and not all 0: {dict(probabilities)}"
            )
        p = weights / weights.sum()
        if count == "main" and self.main not in names:
            raise ValueError(
                f"count='main' needs the main task {self.main!r} in the mixture {names}"
            )
        main_index = names.index(self.main) if self.main in names else -1

        curve: list[tuple[int, float]] = []
        best_score = -math.inf
        best_step = 0
        best_state: dict[str, Tensor] | None = None
        counts = dict.fromkeys(names, 0)
        loss_sums: dict[str, list[Tensor]] = {n: [] for n in names}
        cos_sums: dict[str, list[Tensor]] = {n: [] for n in names}
        scale_sums: dict[str, list[Tensor]] = {n: [] for n in names}
        done = 0
        stale = 0
        stopped = False
        while done < n_steps and not stopped:
            segment = min(eval_every, n_steps - done)
            if count == "all":
                draws = self._rng.choice(len(names), size=segment, p=p)
            else:
                draws = self._draw_until_main(p, main_index, segment)
            first = self.global_step
            seg_tasks = [names[int(i)] for i in draws]
            seg_losses: list[Tensor] = []
            with self._torch_rng.active():
                for task in seg_tasks:
                    loss, cosine, scale = self._step(task)
                    seg_losses.append(loss)
                    if cosine is not None and scale is not None:
                        cos_sums[task].append(cosine)
                        scale_sums[task].append(scale)
            for task, loss in zip(seg_tasks, seg_losses, strict=True):
                counts[task] += 1
                loss_sums[task].append(loss)
            self._check_finite(seg_tasks, seg_losses, first)
            done += segment
            score = self.evaluate(self.main, "dev", max_batches=eval_max_batches)
            curve.append((done, score))
            if score > best_score:  # nan never wins
                best_score, best_step, stale = score, done, 0
                best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            else:
                stale += 1
            if callback is not None and callback(done, score):
                stopped = True
            if patience is not None and stale >= patience:
                stopped = True
        if best_state is not None:
            self.model.load_state_dict(best_state)

        def means(table: dict[str, list[Tensor]]) -> dict[str, float]:
            return {n: float(torch.stack(v).float().mean()) for n, v in table.items() if v}

        return MixtureReport(
            steps=done,
            dev_curve=tuple(curve),
            best_dev=best_score if best_state is not None else float("nan"),
            best_step=best_step,
            steps_per_task={n: c for n, c in counts.items() if c},
            mean_loss=means(loss_sums),
            mean_cosine=means(cos_sums),
            mean_scale=means(scale_sums),
            stopped_early=stopped,
        )

    def _draw_until_main(self, p: np.ndarray, main_index: int, main_steps: int) -> np.ndarray:
        """Task indices drawn from ``p`` until the main task has been drawn ``main_steps``
        times (the last draw is the main task's). Drawn in blocks of the expected length, so a
        draw costs what the ``"all"`` protocol's draws cost; the stream depends only on the
        generator's state, ``p`` and ``main_steps``."""
        if p[main_index] >= 1.0:
            return np.full(main_steps, main_index, dtype=np.int64)
        chunks: list[np.ndarray] = []
        need = main_steps
        block = max(8, math.ceil(main_steps / p[main_index]))
        while need > 0:
            draws = self._rng.choice(len(p), size=block, p=p)
            hits = np.flatnonzero(draws == main_index)
            if len(hits) >= need:
                chunks.append(draws[: hits[need - 1] + 1])
                need = 0
            else:
                chunks.append(draws)
                need -= len(hits)
        return np.concatenate(chunks)

    # ---------------------------------------------------------------- evaluation

    def _eval_batches(
        self, task: str, split: str, max_batches: int | None
    ) -> tuple[list[dict[str, Tensor]], np.ndarray]:
        """The evaluation batches (on the device) and references of ``task``'s ``split``.

        Built once per split and settings, and shared by every trainer over the same
        :class:`TaskData` (a race builds a trainer per episode). Examples of one id each (the
        cached encoder's) need no padding and go in one batch of up to
        :data:`ONE_ID_EVAL_ROWS`; others in batches of ``eval_batch_size``, sorted by length.
        """
        td = self.data[task]
        encoded = td.split(split)
        size = self.spec.eval_batch_size
        key = (task, split, max_batches, size, self.spec.eval_seed, td.pad_id, str(self.device))
        shared = _EVAL_BATCHES.setdefault(encoded, {})
        cached = shared.get(key)
        if cached is not None:
            return cached
        n = len(encoded)
        if n == 0:
            raise ValueError(f"task {task!r} has no {split} examples to evaluate")
        if max_batches is not None:
            if max_batches < 1:
                raise ValueError(f"max_batches must be >= 1 or None, got {max_batches}")
            order = np.random.default_rng(derive_seed(self.spec.eval_seed, "eval", task, split))
            chosen = order.permutation(n)[: max_batches * size]
        else:
            chosen = np.arange(n)
        # Sort the chosen examples by length: less padding, same metric.
        lengths = encoded.lengths[chosen]
        chosen = chosen[np.argsort(lengths, kind="stable")]
        step = max(size, ONE_ID_EVAL_ROWS) if lengths.max(initial=0) <= 1 else size
        batches: list[dict[str, Tensor]] = []
        for start in range(0, len(chosen), step):
            rows = [encoded.input_ids[int(i)] for i in chosen[start : start + step]]
            width = max(len(r) for r in rows)
            ids = np.full((len(rows), width), td.pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for k, row in enumerate(rows):
                ids[k, : len(row)] = row
                mask[k, : len(row)] = 1
            batches.append(self._to_device({"input_ids": ids, "attention_mask": mask}))
        result = (batches, np.asarray(encoded.labels)[chosen])
        shared[key] = result
        return result

    def predict(
        self, task: str, split: str = "dev", *, max_batches: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(predictions, references)`` for ``task``'s ``split`` (subsample as in evaluate).

        Predictions are class indices (classification) or floats (regression), aligned with the
        references; the order is the evaluation order, not the split's.
        """
        out, references = self._outputs(task, split, max_batches)
        values = out.cpu().numpy()
        if self._kinds[task] == "classification":
            return values.argmax(axis=-1), references
        return values[:, 0], references

    def _outputs(self, task: str, split: str, max_batches: int | None) -> tuple[Tensor, np.ndarray]:
        """``task``'s head outputs (float32, dropout off) on ``split`` and the references."""
        if task not in self.data:
            raise ValueError(f"unknown task {task!r}; have {sorted(self.data)}")
        batches, references = self._eval_batches(task, split, max_batches)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode(), self._autocast():
                outs = [self.model(task, b["input_ids"], b["attention_mask"]) for b in batches]
            out = torch.cat(outs).float()
        finally:
            self.model.train(was_training)
        return out, references

    def evaluate_loss(
        self, task: str, split: str = "dev", *, max_batches: int | None = None
    ) -> float:
        """``task``'s mean training loss on ``split`` (dropout off; cross-entropy or squared
        error, as in training), on the same examples as :meth:`evaluate`."""
        out, references = self._outputs(task, split, max_batches)
        labels = torch.as_tensor(references, device=out.device)
        return float(output_loss(out, labels, self._kinds[task]))

    def evaluate(self, task: str, split: str = "dev", *, max_batches: int | None = None) -> float:
        """``task``'s metric on ``split`` (dropout off).

        ``max_batches = M`` scores a fixed subsample: the first ``M * eval_batch_size`` examples
        of the split in an order drawn once from ``spec.eval_seed`` and the task and split names,
        so every call (and every trainer with the same ``eval_seed``) sees the same examples.
        """
        predictions, references = self.predict(task, split, max_batches=max_batches)
        return float(compute_metric(self.data[task].task.metric, predictions, references))

    # ---------------------------------------------------------------- state

    @property
    def main_gradient_stored(self) -> bool:
        """Whether a main-task gradient is held for gating."""
        return self._main_grads is not None

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue identically: model, optimiser, schedule, generators,
        batch positions, gate averages and the stored main gradient (tensors copied to CPU)."""
        return _copy_to_cpu(
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "rng": self._rng.bit_generator.state,
                "torch_rng": self._torch_rng.state_dict(),
                "iterators": {n: it.state_dict() for n, it in self._iterators.items()},
                "main_grad_iterator": self._main_grad_iterator.state_dict(),
                "gate": self.gate.state_dict() if self.gate is not None else None,
                "main_grads": self._main_grads,
                "aux_since_refresh": self._aux_since_refresh,
                "global_step": self.global_step,
            }
        )

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` taken from a trainer over the same tasks and spec."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self._rng.bit_generator.state = copy.deepcopy(state["rng"])
        self._torch_rng.load_state_dict(state["torch_rng"])
        for name, it_state in state["iterators"].items():
            self._iterators[name].load_state_dict(it_state)
        self._main_grad_iterator.load_state_dict(state["main_grad_iterator"])
        if self.gate is not None and state.get("gate") is not None:
            self.gate.load_state_dict(state["gate"])
            self.gate.to(self.device)
        grads = state.get("main_grads")
        self._main_grads = (
            None if grads is None else [None if g is None else g.to(self.device) for g in grads]
        )
        self._aux_since_refresh = int(state["aux_since_refresh"])
        self.global_step = int(state["global_step"])
