"""Racing every candidate arm against a control arm, with anytime-valid confidence sequences."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ._base import Bandit, check_finite_reward, check_number, load_array

__all__ = ["Racing", "Verdict"]

#: Differences are clipped at this many standard deviations of the earlier differences.
SCALE_FACTOR = 3.0
#: Cap ``c`` on the bets: a factor ``1 + lambda * Y`` never falls below ``1 - c``.
BET_CAP = 0.75
#: Prior sum of squares in the bet ``lambda = S / (PRIOR_SQUARES + Q)``; damps the first bets.
PRIOR_SQUARES = 0.25
#: Grid points per interval search (then refined by bisection).
_GRID = 129
#: Prior variance ``g`` of the standardised effect ``delta = Delta / sigma`` in the t-mixture.
PRIOR_EFFECT_VARIANCE = 1.0

Method = Literal["t-mixture", "betting"]
#: The confidence sequences :class:`Racing` can use; the first is the default.
METHODS: tuple[Method, ...] = ("t-mixture", "betting")
VerdictName = Literal["helps", "negligible", "hurts", "undecided"]
_NAMES: dict[int, VerdictName] = {1: "helps", -1: "hurts", 0: "undecided", 2: "negligible"}


@dataclass(frozen=True)
class Verdict:
    """What the race says about one candidate arm, compared with the control.

    ``effect`` is the mean paired difference (candidate minus control reward; ``nan`` before the
    first pair), ``[low, high]`` the confidence sequence's interval for the effect (``-inf`` /
    ``inf`` while the evidence cannot bound it) and ``n`` the number of paired differences.
    """

    arm: int
    verdict: VerdictName
    effect: float
    low: float
    high: float
    n: int


class Racing(Bandit):
    """Race every candidate arm against a reference arm until each is decided.

    Built for "does adding this auxiliary task beat training the main task without it?":
    ``control`` is the reference arm (the main task trained alone), ``candidates`` the arms
    judged against it (default: every other arm). Arms that are neither are never selected.
    ``watch`` names candidates that are raced for calibration only (a shuffled-label null
    control, whose verdict checks the error rate): they are raced while some other candidate
    is open and never keep the race going on their own.

    *Select* plays rounds: each round is the reference and every *open* candidate once, in an
    order drawn from the policy's generator, so a trend shared by all arms (rewards that shrink
    as training goes on) favours no arm. When no candidate is open the rounds hold the
    reference and every candidate, so a run that goes on keeps collecting evidence. A round
    once drawn is played out.

    *Pairing*: ``update`` keeps, per candidate, the latest unpaired reward of either side (the
    candidate or the control) and pairs it with the first reward of the other side that
    follows, i.e. with the reward of the same round. Pair ``i`` of candidate ``j`` gives the
    difference ``D_i = r_candidate - r_control``. Rewards are any finite numbers, on any scale.

    *Decisions.* Each candidate ``j`` has a confidence sequence for its effect ``Delta_j`` (the
    mean of its differences) built from a statistic ``E(d)`` per tested value ``d`` of the
    effect, and a threshold ``T``. Candidate ``j`` *helps* once every ``d <= 0`` is rejected
    (``E(d) >= T``: it beats the reference), *hurts* once every ``d >= 0`` is rejected, and,
    with a practical ``margin > 0``, is *negligible* once every ``d >= margin`` is rejected
    without either (whatever it adds is below the margin: not worth its cost); it is otherwise
    ``undecided``. A verdict, once reached, is final and closes the candidate (it is no longer
    raced); its interval is the set of values not rejected, intersected with the interval it
    had when its verdict was reached. :attr:`done` is true when no candidate outside ``watch``
    is open: no further round can change which candidates help. ``method`` picks the
    statistic.

    ``method="t-mixture"`` (default): *the anytime-valid t-test* (Lai, "On confidence
    sequences", Ann. Stat. 1976; Perez-Ortiz, Lardy, de Heide & Grunwald, "E-statistics,
    group invariance and anytime-valid testing", Ann. Stat. 2024). After ``n >= 2`` pairs with
    mean ``M`` and sum of squared deviations ``SS = sum_i (D_i - M)^2``, the Bayes factor of
    "``D_i ~ N(d + delta sigma, sigma^2)``, ``delta ~ N(0, g)``" against "``D_i ~ N(d,
    sigma^2)``", both with the right-Haar prior ``1 / sigma`` on the unknown scale, is::

        R(d)  = n (M - d)^2 / SS                      (= t^2 / (n - 1), t the one-sample t)
        k     = 1 + n g                                (g = 1: delta ~ N(0, 1))
        E(d)  = k^(-1/2) * ( k (1 + R(d)) / (k + R(d)) )^(n / 2)

    with threshold ``T = m / alpha``. ``E(d)`` grows with ``|M - d|``, so the confidence
    sequence is the interval ``M -+ sqrt(r_n SS / n)``, ``r_n = k (e^L - 1) / (k - e^L)`` with
    ``L = (2 log T + log k) / n`` (unbounded while ``k <= e^L``: at ``g = 1`` and ``m / alpha
    = 100``, for ``n < 6``). ``g = 1`` (a prior standard deviation of one noise standard
    deviation for the effect): of ``g`` in {0.25, 0.5, 1, 2, 4}, simulated at ``m / alpha =
    100``, it ties for the fewest median pairs at ``d' = 0.7`` and 1 (29, 17) and is within
    one pair of the best at ``d' = 2`` and 3.

    *Assumption:* each candidate's differences are independent ``N(Delta_j, sigma_j^2)``,
    ``sigma_j`` unknown (rewards on any scale). ``E(Delta_j)`` is then the likelihood ratio
    of the scale-invariant data ``(D_1, ..., D_n) / |D_1|``, a nonnegative martingale starting
    at 1 (``E = 1`` at ``n = 1``), so by Ville's inequality ``Delta_j`` ever leaves candidate
    ``j``'s interval with probability at most ``alpha / m``. One two-sided test per candidate
    covers both verdicts, hence ``m / alpha`` rather than ``2 m / alpha``. Outside the
    assumption nothing is proved; measured (``benchmarks/bench_racing.py``, fixed seeds):
    symmetric heavy tails make it more conservative (t with 3 degrees of freedom: 1.5% of
    races with a false ``helps`` at alpha = 5%, against 2.3% for normal noise). A candidate
    whose rewards follow the control's distribution gives symmetric differences even when
    the rewards are skewed; differences skewed and shifted at once are where it is weakest.

    ``method="betting"``: *sequential tests by betting* (Waudby-Smith & Ramdas, "Estimating
    means of bounded random variables by betting", JRSS-B 2024; Shafer & Vovk's testing by
    betting). For a value ``d`` of the effect, each difference is scaled by ``B_i`` (``3 x``
    the standard deviation of the earlier differences; no bet while there are fewer than two)
    and clipped::

        Y_i(d)    = clip((D_i - d) / B_i, -1, 1)
        S, Q      = sum of the earlier Y_k(d), sum of their squares          (predictable)
        lam_i     = min(max(S / (1/4 + Q), 0), 3/4)       (bet on "above d", aGRAPA)
        mu_i      = min(max(-S / (1/4 + Q), 0), 3/4)      (bet on "below d")
        K_up(d)   = prod_i (1 + lam_i Y_i(d))
        K_down(d) = prod_i (1 - mu_i Y_i(d))

    with threshold ``T = 2 m / alpha``: ``d`` is rejected from above by ``K_up(d) >= T`` and
    from below by ``K_down(d) >= T`` (so helps once ``K_up(0) >= T``, hurts once
    ``K_down(0) >= T``, negligible once ``K_down(margin) >= T``). *Assumption:* given the
    past, each candidate's differences are symmetric about a common mean, its effect
    ``Delta_j`` (true when the candidate's rewards are the reference's shifted by the effect;
    exactly true for a candidate whose rewards follow the reference's distribution, because the
    order within a round is random). Then
    ``K_up(d)`` for ``d >= Delta_j`` and ``K_down(d)`` for ``d <= Delta_j`` are nonnegative
    supermartingales starting at 1 (clipping is odd and increasing, so ``E[Y_i(d)]`` has the
    sign of ``Delta_j - d``), and by Ville's inequality each ever reaches ``T`` with
    probability at most ``alpha / (2 m)``; no assumption on the rewards' scale or tails (a
    badly learnt scale costs power, never validity). For normal differences it needs 1.7-2
    times the pairs of the t-mixture (``benchmarks/bench_racing.py``).

    *Guarantee* (either method, under its assumption): with probability at least
    ``1 - alpha``, at all times at once, every candidate's interval holds its effect, so no
    candidate with ``Delta_j <= 0`` is declared to help, none with ``Delta_j >= 0`` to hurt
    and none with ``Delta_j >= margin`` to be negligible, whatever the stopping rule.

    :meth:`utilities` returns the effect estimates (mean paired difference; 0 for the control,
    ``nan`` for arms without a pair); :meth:`verdicts` the :class:`Verdict` of every candidate.

    Args:
        n_arms: number of arms (>= 1).
        control: the reference arm.
        candidates: the arms raced against the reference (default: all others).
        watch: candidates raced for calibration only (they never keep the race going).
        alpha: the error rate shared by all candidates, in (0, 1).
        margin: the practical margin, >= 0 (reward units): an effect whose interval lies below
            it is ``negligible``; 0 turns that verdict off.
        method: the confidence sequence, ``"t-mixture"`` or ``"betting"`` (see above).
        seed: seed of the generator that orders each round.
    """

    name = "racing"

    def __init__(
        self,
        n_arms: int,
        *,
        control: int = 0,
        candidates: Sequence[int] | None = None,
        watch: Sequence[int] = (),
        alpha: float = 0.05,
        margin: float = 0.0,
        method: Method = "t-mixture",
        seed: int | None = None,
    ) -> None:
        super().__init__(n_arms, seed=seed)
        self._control = _check_control(control, self.n_arms)
        self._candidates = _check_candidates(candidates, self._control, self.n_arms)
        self._watch = sorted({int(a) for a in watch})
        if any(a not in self._candidates for a in self._watch):
            raise ValueError(
                f"watch={list(watch)!r} is invalid; accepted: candidates among {self._candidates}"
            )
        self._alpha = check_number("alpha", alpha, low=0.0, high=1.0, low_open=True, high_open=True)
        self._margin = check_number("margin", margin, low=0.0, high=math.inf, high_open=True)
        if method not in METHODS:
            raise ValueError(
                f"method={method!r} is invalid; accepted: one of {', '.join(map(repr, METHODS))}"
            )
        self._method: Method = method
        sides = 2.0 if method == "betting" else 1.0  # betting: one test per side
        self._log_threshold = math.log(sides * max(len(self._candidates), 1) / self._alpha)
        self._is_candidate = np.zeros(self.n_arms, dtype=bool)
        self._is_candidate[self._candidates] = True
        n = self.n_arms
        self._queue: list[int] = []
        self._pending_arm = np.full(n, np.nan)  # candidate's unpaired reward
        self._pending_control = np.full(n, np.nan)  # control's unpaired reward, per candidate
        self._diffs: list[list[float]] = [[] for _ in range(n)]
        self._scales: list[list[float]] = [[] for _ in range(n)]
        self._welford = [(0, 0.0, 0.0)] * n  # count, mean, sum of squared deviations of diffs
        # per tested effect (rows: 0 and margin) and arm: sums of Y and Y^2, log capitals
        self._y_sum = [[0.0] * n for _ in range(2)]
        self._y_sq_sum = [[0.0] * n for _ in range(2)]
        self._log_up = [[0.0] * n for _ in range(2)]
        self._log_down = [[0.0] * n for _ in range(2)]
        self._decision = np.zeros(n, dtype=np.int64)  # 1 helps, -1 hurts, 0 undecided
        self._decided_low = np.full(n, -math.inf)
        self._decided_high = np.full(n, math.inf)
        self._open = self._is_candidate.copy()

    # ------------------------------------------------------------------ reading

    @property
    def control(self) -> int:
        """The control arm."""
        return self._control

    @property
    def candidates(self) -> tuple[int, ...]:
        """The arms raced against the reference, ascending."""
        return tuple(self._candidates)

    @property
    def alpha(self) -> float:
        """The error rate shared by all candidates."""
        return self._alpha

    @property
    def margin(self) -> float:
        """How much a candidate must beat the control by to help."""
        return self._margin

    @property
    def method(self) -> Method:
        """The confidence sequence: ``"t-mixture"`` or ``"betting"``."""
        return self._method

    @property
    def watch(self) -> tuple[int, ...]:
        """The candidates raced for calibration only."""
        return tuple(self._watch)

    @property
    def done(self) -> bool:
        """True when every candidate outside :attr:`watch` is decided."""
        return not any(self._open[a] for a in self._candidates if a not in self._watch)

    def open_arms(self) -> list[int]:
        """The candidates still raced, ascending (none once :attr:`done`)."""
        if self.done:
            return []
        return [int(a) for a in np.flatnonzero(self._open)]

    def verdict(self, arm: int) -> Verdict:
        """The :class:`Verdict` of candidate ``arm``."""
        index = self._check_arm(arm)
        if not self._is_candidate[index]:
            raise ValueError(
                f"arm={arm!r} is not a candidate; accepted: one of {list(self._candidates)}"
            )
        diffs = self._diffs[index]
        low, high = self._interval(index)
        if self._decision[index] != 0:
            low_d, high_d = float(self._decided_low[index]), float(self._decided_high[index])
            low, high = (max(low, low_d), min(high, high_d))
            if low > high:  # an event of probability below alpha: keep the verdict's interval
                low, high = low_d, high_d
        return Verdict(
            arm=index,
            verdict=_NAMES[int(self._decision[index])],
            effect=float(np.mean(diffs)) if diffs else math.nan,
            low=float(low),
            high=float(high),
            n=len(diffs),
        )

    def verdicts(self) -> list[Verdict]:
        """The :class:`Verdict` of every candidate, in arm order."""
        return [self.verdict(arm) for arm in self._candidates]

    def utilities(self) -> np.ndarray:
        """Effect estimates (mean paired difference), shape ``(n_arms,)``.

        0 for the control; ``nan`` for candidates without a pair and for arms not raced.
        """
        effects = np.full(self.n_arms, np.nan)
        for arm in self._candidates:
            if self._diffs[arm]:
                effects[arm] = float(np.mean(self._diffs[arm]))
        effects[self._control] = 0.0
        return effects

    def queued(self) -> tuple[int, ...]:
        """The arms of the current round not yet selected, in the order :meth:`select` will
        return them (empty between rounds). A round once drawn is played out, so a caller may
        play these arms side by side and :meth:`update` them in this order."""
        return tuple(self._queue)

    # ------------------------------------------------------------------ playing

    def select(self) -> int:
        if not self._queue:
            raced = self.open_arms() or list(self._candidates)
            round_arms = np.array([self._control, *raced], dtype=np.int64)
            self._queue = [int(a) for a in self._rng.permutation(round_arms)]
        return self._queue.pop(0)

    def _check_reward(self, reward: float) -> float:
        return check_finite_reward(reward)

    def _update(self, arm: int, reward: float) -> None:
        if arm == self._control:
            for j in self._candidates:
                if math.isnan(self._pending_arm[j]):
                    self._pending_control[j] = reward
                else:
                    self._pair(j, float(self._pending_arm[j]) - reward)
                    self._pending_arm[j] = math.nan
        elif self._is_candidate[arm]:
            if math.isnan(self._pending_control[arm]):
                self._pending_arm[arm] = reward
            else:
                self._pair(arm, reward - float(self._pending_control[arm]))
                self._pending_control[arm] = math.nan

    def _pair(self, j: int, diff: float) -> None:
        diffs = self._diffs[j]
        count, mean, squares = self._welford[j]
        scale = SCALE_FACTOR * math.sqrt(squares / (count - 1)) if count >= 2 else 0.0
        diffs.append(diff)
        self._scales[j].append(scale)
        count += 1
        delta = diff - mean
        mean += delta / count
        self._welford[j] = (count, mean, squares + delta * (diff - mean))
        if scale > 0.0 and self._method == "betting":
            for row, point in enumerate((0.0, self._margin)):
                y = min(max((diff - point) / scale, -1.0), 1.0)
                y_sum, y_sq_sum = self._y_sum[row][j], self._y_sq_sum[row][j]
                bet = y_sum / (PRIOR_SQUARES + y_sq_sum)
                self._log_up[row][j] += math.log1p(min(max(bet, 0.0), BET_CAP) * y)
                self._log_down[row][j] += math.log1p(-min(max(-bet, 0.0), BET_CAP) * y)
                self._y_sum[row][j] = y_sum + y
                self._y_sq_sum[row][j] = y_sq_sum + y * y
        self._decide(j)

    def _decide(self, j: int) -> None:
        if self._method == "betting":
            threshold = self._log_threshold
            helps = self._log_up[0][j] >= threshold
            hurts = self._log_down[0][j] >= threshold
            below_margin = self._log_down[1][j] >= threshold
        else:
            low, high = self._interval(j)
            helps, hurts, below_margin = low > 0.0, high < 0.0, high < self._margin
        if self._decision[j] == 0:
            if helps:
                self._decision[j] = 1
            elif hurts:
                self._decision[j] = -1
            elif self._margin > 0.0 and below_margin:
                self._decision[j] = 2
            if self._decision[j] != 0:
                self._decided_low[j], self._decided_high[j] = self._interval(j)
        if self._decision[j] != 0:
            self._open[j] = False

    def _interval(self, j: int) -> tuple[float, float]:
        """The current confidence interval of candidate ``j``'s effect."""
        if self._method == "betting":
            return self._betting_interval(j)
        count, mean, squares = self._welford[j]
        ratio = _t_mixture_ratio(count, self._log_threshold)
        if not math.isfinite(ratio):
            return -math.inf, math.inf
        half = math.sqrt(ratio * squares / count)
        return mean - half, mean + half

    def _betting_interval(self, j: int) -> tuple[float, float]:
        """The betting confidence interval of candidate ``j``'s effect."""
        scales = np.asarray(self._scales[j])
        used = scales > 0.0
        if not used.any():
            return -math.inf, math.inf
        diffs, scales = np.asarray(self._diffs[j])[used], scales[used]

        def rejected(points: np.ndarray) -> np.ndarray:
            up, down = _log_capitals(diffs, scales, points)
            return (up >= self._log_threshold) | (down >= self._log_threshold)

        # beyond [left, right] every Y is clipped to +1 (or -1): the capitals no longer change
        left, right = float((diffs - scales).min()), float((diffs + scales).max())
        grid = np.linspace(left, right, _GRID)
        inside = np.flatnonzero(~rejected(grid))
        if inside.size == 0:  # nothing survives (probability below alpha): a point interval
            centre = float(np.mean(diffs))
            return centre, centre
        low = (
            -math.inf
            if inside[0] == 0
            else _boundary(rejected, grid[inside[0] - 1], grid[inside[0]])
        )
        last = inside[-1]
        high = math.inf if last == _GRID - 1 else _boundary(rejected, grid[last + 1], grid[last])
        return low, high

    # ------------------------------------------------------------------ state

    def _options(self) -> dict[str, Any]:
        return {
            "control": self._control,
            "candidates": list(self._candidates),
            "watch": list(self._watch),
            "alpha": self._alpha,
            "margin": self._margin,
            "method": self._method,
        }

    def _policy_state(self) -> dict[str, Any]:
        return {
            "queue": list(self._queue),
            "pending_arm": _optional_list(self._pending_arm),
            "pending_control": _optional_list(self._pending_control),
            "diffs": [list(d) for d in self._diffs],
            "scales": [list(s) for s in self._scales],
            "y_sum": [list(row) for row in self._y_sum],
            "y_sq_sum": [list(row) for row in self._y_sq_sum],
            "log_up": [list(row) for row in self._log_up],
            "log_down": [list(row) for row in self._log_down],
            "decision": self._decision.tolist(),
            "decided_low": _optional_list(self._decided_low),
            "decided_high": _optional_list(self._decided_high),
            "open": self._open.tolist(),
        }

    def _load_policy_state(self, state: Mapping[str, Any]) -> None:
        n = self.n_arms
        matrices: dict[str, list[list[float]]] = {}
        for key in ("y_sum", "y_sq_sum", "log_up", "log_down"):
            try:
                matrix = np.array(state.get(key), dtype=np.float64)
            except (TypeError, ValueError):
                matrix = np.empty(0)
            if matrix.shape != (2, n):
                raise ValueError(f"state[{key!r}] is invalid; accepted: 2 lists of {n} numbers")
            matrices[key] = matrix.tolist()
        decision = load_array(state, "decision", n, np.int64)
        opened = load_array(state, "open", n, bool)
        optional: dict[str, np.ndarray] = {}
        fills = {
            "pending_arm": math.nan,
            "pending_control": math.nan,
            "decided_low": -math.inf,
            "decided_high": math.inf,
        }
        for key, fill in fills.items():
            values = state.get(key)
            if not isinstance(values, list) or len(values) != n:
                raise ValueError(
                    f"state[{key!r}] is invalid; accepted: a list of {n} numbers or nulls"
                )
            optional[key] = np.array([fill if v is None else float(v) for v in values])
        histories: dict[str, list[list[float]]] = {}
        for key in ("diffs", "scales"):
            try:
                histories[key] = [[float(v) for v in row] for row in state[key]]
            except (KeyError, TypeError, ValueError) as error:
                raise ValueError(
                    f"state[{key!r}] is invalid; accepted: {n} lists of numbers"
                ) from error
            if len(histories[key]) != n:
                raise ValueError(f"state[{key!r}] is invalid; accepted: {n} lists of numbers")
        if [len(r) for r in histories["diffs"]] != [len(r) for r in histories["scales"]]:
            raise ValueError("state['diffs'] and state['scales'] differ in length")
        try:
            queue = [operator.index(a) for a in state["queue"]]
        except (KeyError, TypeError) as error:
            raise ValueError("state['queue'] is invalid; accepted: a list of arms") from error
        if any(not 0 <= a < n for a in queue):
            raise ValueError(f"state['queue'] is invalid; accepted: arms in [0, {n - 1}]")
        self._queue = queue
        self._pending_arm = optional["pending_arm"]
        self._pending_control = optional["pending_control"]
        self._decided_low = optional["decided_low"]
        self._decided_high = optional["decided_high"]
        self._diffs, self._scales = histories["diffs"], histories["scales"]
        self._welford = [_welford(row) for row in self._diffs]
        self._y_sum, self._y_sq_sum = matrices["y_sum"], matrices["y_sq_sum"]
        self._log_up, self._log_down = matrices["log_up"], matrices["log_down"]
        self._decision, self._open = decision, opened


def _welford(values: Sequence[float]) -> tuple[int, float, float]:
    """Count, mean and sum of squared deviations, accumulated in order as :meth:`_pair` does."""
    count, mean, squares = 0, 0.0, 0.0
    for value in values:
        count += 1
        delta = value - mean
        mean += delta / count
        squares += delta * (value - mean)
    return count, mean, squares


def _t_mixture_ratio(count: int, log_threshold: float) -> float:
    """``r_n``: the t-mixture rejects ``d`` once ``n (M - d)^2 >= r_n SS`` (``inf``: never)."""
    if count < 2:
        return math.inf
    log_k = math.log1p(count * PRIOR_EFFECT_VARIANCE)
    level = (2.0 * log_threshold + log_k) / count  # L; the ratio k (1 + R) / (k + R) must reach e^L
    if level >= log_k:
        return math.inf
    return math.exp(log_k) * math.expm1(level) / (math.exp(log_k) - math.exp(level))


def _log_capitals(
    diffs: np.ndarray, scales: np.ndarray, points: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``log K_up(d)`` and ``log K_down(d)`` for each ``d`` in ``points`` (shape ``(g,)``).

    ``diffs`` and ``scales`` (shape ``(t,)``) are the differences that were bet on, in order.
    """
    y = np.clip((diffs[None, :] - points[:, None]) / scales[None, :], -1.0, 1.0)
    before = np.cumsum(y, axis=1) - y
    before_sq = np.cumsum(y * y, axis=1) - y * y
    bet = before / (PRIOR_SQUARES + before_sq)
    up = np.log1p(np.clip(bet, 0.0, BET_CAP) * y).sum(axis=1)
    down = np.log1p(-np.clip(-bet, 0.0, BET_CAP) * y).sum(axis=1)
    return up, down


def _boundary(rejected: Callable[[np.ndarray], np.ndarray], outside: float, inside: float) -> float:
    """Bisection between a rejected and a kept effect; returns the kept side's end."""
    for _ in range(40):
        middle = 0.5 * (outside + inside)
        if rejected(np.array([middle]))[0]:
            outside = middle
        else:
            inside = middle
    return inside


def _optional_list(values: np.ndarray) -> list[float | None]:
    """Floats as a JSON list, ``None`` for NaN and infinities."""
    return [float(v) if math.isfinite(v) else None for v in values]


def _check_control(control: int, n_arms: int) -> int:
    try:
        index = operator.index(control)
    except TypeError:
        index = -1
    if isinstance(control, bool) or not 0 <= index < n_arms:
        raise ValueError(
            f"control={control!r} is invalid; accepted: an integer in [0, {n_arms - 1}]"
        )
    return index


def _check_candidates(candidates: Sequence[int] | None, control: int, n_arms: int) -> list[int]:
    if candidates is None:
        return [a for a in range(n_arms) if a != control]
    accepted = f"accepted: distinct integers in [0, {n_arms - 1}] other than the control {control}"
    try:
        arms = [operator.index(a) for a in candidates]
    except TypeError:
        raise ValueError(f"candidates={candidates!r} is invalid; {accepted}") from None
    if (
        len(set(arms)) != len(arms)
        or any(isinstance(a, bool) for a in candidates)
        or any(not 0 <= a < n_arms or a == control for a in arms)
    ):
        raise ValueError(f"candidates={candidates!r} is invalid; {accepted}")
    return sorted(arms)
