"""Ensemblers: how an iteration chooses its ensemble from cached logits (no model is re-run).

One interface, `Ensembler.select(previous, new, pool, labels) -> Decision`, one class per
strategy, picked by name from `ENSEMBLERS` (`search.ensembler`):

`mean`: F(x) = (1/M) sum_j h_j(x); nothing is learned.

`weighted`: mixture weights learned by minimising the complexity-regularised AdaNet objective
(Cortes et al. 2017) on the selection split:

    F(w, b) = (1/m) sum_i CE( sum_j w_j . h_j(x_i) + b , y_i ) + sum_j (lambda r(h_j) + beta) |w_j|_1

with w_j a SCALAR, a VECTOR (one weight per class) or a MATRIX (C x C, applied to the member's
logits; the original applies it to the member's last layer, we apply it to the cached logits so
no model is re-run). Solved exactly as a smooth bound-constrained problem (L-BFGS-B on w = w+ - w-),
so weights the objective does not pay for become exactly 0. Weights start at the uniform mean,
so a fit can only improve on `mean`.

Both form candidate ensembles with the configured strategies (`STRATEGIES`, data: `grow`,
`all`, `solo`) and keep the one with the lowest objective; unless `force_grow`, the unchanged
previous ensemble competes too (first, so ties keep it).

`caruana`: greedy forward selection with replacement (Caruana et al. 2004) from the pool of
every subnetwork trained so far; strategies do not apply.

Every ensembler keeps to `search.max_ensemble_params`: an ensemble whose distinct members have
more trainable parameters than that is never chosen.

Fitted combinations are judged on data that did not fit them. `weighted` and `caruana` fit on
the validation split, so their in-sample loss flatters them (a C x C matrix per member can fit
noise). Their objective is therefore CROSS-FITTED: the validation examples are split into two
folds (alternate examples), the combination is fitted on each fold and scored on the other, and
the objective is that out-of-fold loss (plus, for `weighted`, the penalty of the weights fitted
on the whole split, which are the ones kept). Selection among proposals and the returned model's
choice compare these honest scores; `mean` fits nothing and is scored as it is. (AdaNet fitted
mixture weights on the training data instead; there the members' logits are overfit, which is
why this uses held-out data, twice.)

Logits and labels arrive per dataset shard (adanas.artifacts.Sharded), and every score here is
accumulated shard by shard (`stack` yields one shard of the units at a time), so selection holds
one shard of its units' logits, never a whole split: the mean's and returned model's scores are
sums over shards, the weighted fit's objective and gradient are summed over shards at every
L-BFGS-B evaluation, and caruana recomputes its running ensemble per shard from the pick counts.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Collection, Iterator

import numpy as np

from adanas import artifacts, metrics, models

WEIGHT_TYPES = ("scalar", "vector", "matrix")
COMPLEXITIES = ("sqrt_depth", "log_params", "none")


# A split's logits shard by shard (Sharded, Row), or one array: a single shard.
Logits = Any
# (logits [M, n_k, C], labels [n_k]) per shard; re-iterable, with len() (Stack, or a list).
Shards = Collection[tuple[np.ndarray, np.ndarray]]


def as_sharded(value: Logits) -> Logits:
    """Per-shard arrays as they come; one array as a single shard (in-memory callers, tests)."""
    return artifacts.Sharded([value]) if isinstance(value, np.ndarray) else value


@dataclass
class Row:
    """Member `index` of a group's [M, n_k, C] logits shards (a previous ensemble's members):
    `stack` loads each of the group's shards once for all of its members."""
    source: artifacts.Sharded
    index: int

    def __len__(self) -> int:
        return len(self.source)

    def __iter__(self) -> Iterator[np.ndarray]:
        for part in self.source:
            yield part[self.index]


@dataclass
class Unit:
    """A trained subnetwork as selection sees it: its record (spec, metrics), cached logits
    and, where the step has it, its model file."""
    info: dict[str, Any]
    logits: dict[str, Logits]       # split -> [n_k, C] per dataset shard (Sharded or Row)
    model: Path | None = None

    def __post_init__(self):
        self.logits = {split: as_sharded(v) for split, v in self.logits.items()}

    @property
    def name(self) -> str:
        return self.info["spec"]["name"]

    @property
    def params(self) -> int:
        return int(self.info["metrics"]["params"])


@dataclass
class Mixture:
    weights: np.ndarray          # [M], [M, C] or [M, C, C]
    bias: np.ndarray             # [C] (zeros when unused)
    objective: float             # the objective at the solution (cross-fitted where fitted)
    loss: float                  # its data term alone (mean cross-entropy)
    # Fitted combinations: their score on the examples that did not fit them (out of fold).
    held_out: metrics.Score | None = None
    beta: float | None = None    # `weighted`: the adanet_beta it was fitted with

    def combine(self, logits: np.ndarray) -> np.ndarray:
        return combine(logits, self.weights, self.bias)


@dataclass
class Decision:
    label: str                              # e.g. "grow i1_c0", "previous", "caruana"
    members: list[Unit]
    mixture: Mixture
    scored: list[tuple[str, Mixture]]       # every option considered, in order


class Stack:
    """The logits of `units` on `split` beside the split's labels, one dataset shard at a time:
    iterating yields (float32 [M, n_k, C], labels [n_k]) and reads the shards again, so a pass
    holds one shard of each unit. Shards that do not line up with the labels raise ValueError
    naming the unit and the shard."""

    def __init__(self, units: list[Unit], split: str, labels: Logits):
        self.units, self.split, self.labels = units, split, as_sharded(labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        # Members of one group share a file per shard: read it once for all of them.
        sources = [(u.logits[self.split].source, u.logits[self.split].index)
                   if isinstance(u.logits[self.split], Row) else (u.logits[self.split], None)
                   for u in self.units]
        distinct = list({id(src): src for src, _ in sources}.values())
        for u, (src, _) in zip(self.units, sources):
            if len(src) != len(self.labels):
                raise ValueError(f"{u.name}: {self.split} logits in {len(src)} shard(s), the "
                                 f"dataset's {self.split} split in {len(self.labels)}; were they "
                                 f"predicted on this dataset?")
        for k, (y, *parts) in enumerate(zip(self.labels, *distinct)):
            loaded = {id(src): part for src, part in zip(distinct, parts)}
            rows = [loaded[id(src)] if row is None else loaded[id(src)][row] for src, row in sources]
            for u, a in zip(self.units, rows):
                if a.ndim != 2 or a.shape[0] != len(y) or a.shape[1] != rows[0].shape[-1]:
                    raise ValueError(f"{u.name}: {self.split} logits of shard {k} are "
                                     f"{tuple(a.shape)}, the shard holds {len(y)} labels "
                                     f"(and {self.units[0].name} {rows[0].shape[-1]} classes)")
            yield np.stack(rows).astype(np.float32, copy=False), np.asarray(y)


def stack(units: list[Unit], split: str, labels: Logits) -> Stack | None:
    """The shards of `units` on `split` with `labels` (see Stack), or None where one of them
    has no logits on it."""
    if not units or any(split not in u.logits for u in units):
        return None
    return Stack(units, split, labels)


def num_classes(units: list[Unit]) -> int:
    """The class count of the units' logits (read from one validation shard)."""
    return int(next(iter(units[0].logits["validation"])).shape[-1])


def score(shards: Shards, mixture: Mixture) -> metrics.Score:
    """Cross-entropy and error of `mixture` over the shards."""
    out = metrics.Score()
    for logits, y in shards:
        out.add(mixture.combine(logits.astype(np.float64)), y)
    return out


# --- cross-fitting: fitted combinations scored on examples that did not fit them --------------------

FOLDS = 2


class Fold:
    """One fold of re-iterable shards ([M, n_k, C], labels [n_k]): example i of the split
    (counted across shards) belongs to fold i % FOLDS. Re-iterable as its source is."""

    def __init__(self, shards: Shards, which: int):
        self.shards, self.which = shards, which

    def __len__(self) -> int:
        return len(self.shards)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        start = 0
        for logits, y in self.shards:
            keep = (np.arange(len(y)) + start) % FOLDS == self.which
            start += len(y)
            yield logits[:, keep], np.asarray(y)[keep]


# adanet_beta: null picks one of these by cross-fitting. Vector and matrix weights (C and C x C
# per member) overfit a validation split of a few hundred examples without a penalty.
AUTO_BETAS = {"scalar": (0.0,), "vector": (0.0, 1e-3, 1e-2, 1e-1), "matrix": (0.0, 1e-3, 1e-2, 1e-1)}

# Fewer validation examples than this per fold: no cross-fitting (the fit would be noise).
MIN_FOLD_EXAMPLES = 4


def out_of_fold(shards: Shards, fitted: Callable[[Shards], Mixture]) -> metrics.Score | None:
    """The score of combinations fitted on one fold, on the other fold (each way round): what
    a fitted combination scores on examples that did not fit it. None for a split too small."""
    n = sum(len(y) for _, y in shards)
    if n < FOLDS * MIN_FOLD_EXAMPLES:
        return None
    out = metrics.Score()
    for k in range(FOLDS):
        mixture = fitted(Fold(shards, k))
        for logits, y in Fold(shards, (k + 1) % FOLDS):
            out.add(mixture.combine(logits.astype(np.float64)), y)
    return out


def params_of(units: list[Unit]) -> int:
    """Trainable parameters of the distinct subnetworks in `units`."""
    return sum({u.name: u.params for u in units}.values())


# --- strategies: which candidate ensembles an iteration forms ------------------------------------

Proposal = tuple[str, list[Unit]]

STRATEGIES: dict[str, Callable[[list[Unit], list[Unit]], list[Proposal]]] = {
    # The previous members plus one new subnetwork, for each new one.
    "grow": lambda previous, new: [(f"grow {u.name}", previous + [u]) for u in new],
    # The previous members plus every new subnetwork.
    "all": lambda previous, new: [("all", previous + new)],
    # Each new subnetwork alone.
    "solo": lambda previous, new: [(f"solo {u.name}", [u]) for u in new],
}


def fits_some_strategy(search, used: int, params: int) -> bool:
    """Whether a new subnetwork of `params` can be part of some ensemble this search would form
    within `max_ensemble_params`, given `used` parameters in the current ensemble."""
    if search.max_ensemble_params is None:
        return True
    alone = params <= search.max_ensemble_params
    if search.ensembler == "caruana":
        return alone
    grown = used + params <= search.max_ensemble_params
    return any({"grow": grown, "all": grown, "solo": alone}[s] for s in search.ensemble_strategies)


# --- the interface -----------------------------------------------------------------------------

class Ensembler(ABC):
    def __init__(self, search):
        self.search = search

    def within_budget(self, units: list[Unit]) -> bool:
        limit = self.search.max_ensemble_params
        return limit is None or params_of(units) <= limit

    @abstractmethod
    def select(self, previous: list[Unit], new: list[Unit], pool: list[Unit],
               labels: Logits) -> Decision:
        """This iteration's ensemble. previous: the members so far; new: this iteration's
        trained candidates; pool: every subnetwork trained so far (caruana); labels: the
        validation labels per shard (Sharded, or one array)."""


class _Proposing(Ensembler):
    """Forms candidate ensembles with the strategies and keeps the best by `score`."""

    def proposals(self, previous: list[Unit], new: list[Unit]) -> list[Proposal]:
        out: list[Proposal] = []
        if previous and not self.search.force_grow:
            out.append(("previous", previous))
        for strategy in self.search.ensemble_strategies:
            out += STRATEGIES[strategy](previous, new)
        return [(label, units) for label, units in out if self.within_budget(units)]

    @abstractmethod
    def score(self, shards: Shards, units: list[Unit]) -> Mixture:
        """The mixture of `units` (their validation shards [M, n_k, C] with labels) and its
        objective."""

    def select(self, previous, new, pool, labels) -> Decision:
        options = self.proposals(previous, new)
        if not options:
            raise ValueError(f"no candidate ensemble fits search.max_ensemble_params "
                             f"{self.search.max_ensemble_params:,} (previous members "
                             f"{params_of(previous):,} params; new: "
                             f"{', '.join(f'{u.name} {u.params:,}' for u in new)})")
        scored = [(label, self.score(stack(units, "validation", labels), units))
                  for label, units in options]
        best = int(np.argmin([mx.objective for _, mx in scored]))
        return Decision(options[best][0], options[best][1], scored[best][1], scored)


class Mean(_Proposing):
    """Uniform average of member logits (scalar weights 1/M, no bias)."""

    def score(self, shards, units) -> Mixture:
        total = metrics.Score()
        for logits, y in shards:
            total.add(logits.mean(axis=0), y)
            c = logits.shape[-1]
        return Mixture(uniform(len(units), c, "scalar"), np.zeros(c),
                       total.objective(self.search.objective), total.loss)


class Weighted(_Proposing):
    """Mixture weights fitted to the AdaNet objective."""

    def score(self, shards, units) -> Mixture:
        s = self.search
        r = [complexity(s.complexity, _depth(u.info["spec"]), u.params) for u in units]

        def fitter(beta, start=None):
            return lambda part: fit(part, s.mixture_weight_type, s.adanet_lambda, beta, r,
                                    s.use_bias, start=start)

        betas = AUTO_BETAS[s.mixture_weight_type] if s.adanet_beta is None else (s.adanet_beta,)
        options = []
        for beta in betas:
            full = fitter(beta)(shards)
            held = out_of_fold(shards, fitter(beta, start=full))
            if held is None:   # too few examples to cross-fit: the configured or no penalty
                beta = 0.0 if s.adanet_beta is None else s.adanet_beta
                return dataclasses.replace(fitter(beta)(shards), beta=beta)
            options.append((held.loss, beta, full, held))
        _, beta, full, held = min(options, key=lambda o: o[0])
        penalty = full.objective - full.loss
        return Mixture(full.weights, full.bias, held.loss + penalty, held.loss, held, beta)


class Caruana(Ensembler):
    """Greedy selection with replacement from the pool; weights are pick counts / rounds."""

    def select(self, previous, new, pool, labels) -> Decision:
        limit = self.search.max_ensemble_params
        sizes = [u.params for u in pool]
        budget = None if limit is None else (sizes, limit)
        shards = stack(pool, "validation", labels)
        c = num_classes(pool)

        def fitted(part) -> Mixture:  # over the whole pool: unpicked models weigh 0
            counts, loss = caruana(part, self.search.caruana_rounds, budget)
            return Mixture(counts / counts.sum(), np.zeros(c), loss, loss)

        full = fitted(shards)
        held = out_of_fold(shards, fitted)
        picked = full.weights > 0
        members = [u for u, keep in zip(pool, picked) if keep]
        objective = full.loss if held is None else held.objective(self.search.objective)
        mixture = Mixture(full.weights[picked], full.bias, objective,
                          full.loss if held is None else held.loss, held)
        return Decision("caruana", members, mixture, [("caruana", mixture)])


ENSEMBLERS: dict[str, type[Ensembler]] = {"mean": Mean, "weighted": Weighted, "caruana": Caruana}


def returned_model(search, decision: Decision, best_single: Unit, labels: Logits) -> Decision:
    """What the search returns: never worse on validation than the best single subnetwork it
    trained. Options: the ensemble as grown; with the uniform mean, the ensemble without its
    earliest members (the weak early towers a mean would otherwise keep); the best single
    subnetwork so far. Each is scored by the search's objective on the validation split
    (`labels` per shard), with no complexity penalty, so that all stand on the same footing;
    the lowest wins, ties keep the ensemble. `Decision.mixture.objective` holds that score."""
    def option(label: str, units: list[Unit], mixture: Mixture) -> tuple[str, list[Unit], Mixture]:
        # A fitted combination by its out-of-fold score: in-sample it would flatter itself.
        total = mixture.held_out or score(stack(units, "validation", labels), mixture)
        return label, units, Mixture(mixture.weights, mixture.bias,
                                     total.objective(search.objective), total.loss, mixture.held_out)

    members = decision.members
    c = len(decision.mixture.bias)

    def uniform_mixture(units: list[Unit]) -> Mixture:
        return Mixture(uniform(len(units), c, "scalar"), np.zeros(c), 0.0, 0.0)

    options = [option("ensemble", members, decision.mixture)]
    if search.return_best and search.ensembler == "mean":
        options += [option(f"ensemble without its first {k}", members[k:], uniform_mixture(members[k:]))
                    for k in range(1, len(members))]
    if search.return_best and [u.name for u in members] != [best_single.name]:
        options.append(option(f"best single {best_single.name}", [best_single],
                              uniform_mixture([best_single])))
    best = int(np.argmin([mx.objective for _, _, mx in options]))
    label, units, mixture = options[best]
    return Decision(label, units, mixture, [(lbl, mx) for lbl, _, mx in options])


def make(search) -> Ensembler:
    return ENSEMBLERS[search.ensembler](search)


def _depth(spec: dict[str, Any]) -> int:
    return models.family_of_spec(spec).depth(spec["arch"])


# --- caruana -----------------------------------------------------------------------------------

def caruana(shards: Shards, rounds: int,
            budget: tuple[list[int], int] | None = None) -> tuple[np.ndarray, float]:
    """Greedy forward selection with replacement (Caruana et al. 2004) over a pool's shards
    ([P, n_k, C], labels [n_k]).

    Each round adds the pool model (repeats allowed) that most lowers the validation loss of the
    uniform mean of the chosen logits; the best ensemble along the way wins. With `budget`
    (params per pool model, limit) a model not chosen yet is eligible only while the distinct
    chosen models stay within the limit. Each round reads the shards once and rebuilds the
    running ensemble of each shard from the pick counts, so no [N, C] total is held. Returns
    (counts per pool model, its loss).
    """
    counts = np.zeros(len(next(iter(shards))[0]), dtype=np.int64)
    best_counts, best_loss = counts.copy(), float("inf")
    for r in range(rounds):
        used = 0 if budget is None else sum(p for p, c in zip(budget[0], counts) if c)
        eligible = [budget is None or bool(counts[i]) or used + budget[0][i] <= budget[1]
                    for i in range(len(counts))]
        if not any(eligible):
            if r == 0:
                raise ValueError(f"no pool model fits search.max_ensemble_params {budget[1]:,}")
            break
        scores = [metrics.Score() for _ in counts]
        for logits, y in shards:
            logits = logits.astype(np.float64)
            total = np.tensordot(counts.astype(np.float64), logits, axes=1)
            for i in np.flatnonzero(eligible):
                scores[i].add((total + logits[i]) / (r + 1), y)
        losses = [s.loss if ok else float("inf") for s, ok in zip(scores, eligible)]
        pick = int(np.argmin(losses))
        counts[pick] += 1
        if losses[pick] < best_loss:
            best_counts, best_loss = counts.copy(), losses[pick]
    return best_counts, best_loss


# --- weighted ----------------------------------------------------------------------------------

def complexity(kind: str, depth: int, params: int) -> float:
    """r(h): sqrt of depth (the default; depth = layers or cells), log of params, or none."""
    if kind == "sqrt_depth":
        return math.sqrt(depth)
    if kind == "log_params":
        return math.log(max(params, 1))
    if kind == "none":
        return 0.0
    raise ValueError(f"unknown complexity {kind!r}; allowed: {', '.join(COMPLEXITIES)}")


def combine(logits: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """sum_j w_j . h_j + b for logits [M, N, C]."""
    m, n, c = logits.shape
    if weights.ndim == 1:
        out = (weights @ logits.reshape(m, n * c)).reshape(n, c)
    elif weights.ndim == 2:
        out = (logits * weights[:, None, :]).sum(axis=0)
    else:
        out = logits.transpose(1, 0, 2).reshape(n, m * c) @ weights.reshape(m * c, c)
    return out + bias


def uniform(num_members: int, num_classes: int, weight_type: str) -> np.ndarray:
    if weight_type == "scalar":
        return np.full(num_members, 1.0 / num_members)
    if weight_type == "vector":
        return np.full((num_members, num_classes), 1.0 / num_members)
    if weight_type == "matrix":
        return np.repeat(np.eye(num_classes)[None] / num_members, num_members, axis=0)
    raise ValueError(f"unknown mixture weight type {weight_type!r}; allowed: {', '.join(WEIGHT_TYPES)}")


def _prepared(shards: Shards, matrix: bool) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """Per shard: float64 logits [M, n, C], labels, and for matrix weights the logits as
    [n, M*C] (else None)."""
    for logits, y in shards:
        logits = logits.astype(np.float64)
        m, n, c = logits.shape
        yield logits, y, logits.transpose(1, 0, 2).reshape(n, m * c) if matrix else None


def _loss_and_grad(logits, y, weights, bias, flat=None):
    """Mean cross-entropy of the mixture on one shard and its gradients. `flat`: the logits as
    [n, M*C] (matrix weights)."""
    m, n, c = logits.shape
    if flat is not None:
        f = flat @ weights.reshape(m * c, c) + bias
    else:
        f = combine(logits, weights, bias)
    logp = metrics.log_softmax(f)
    loss = -logp[np.arange(n), y].mean()
    g = np.exp(logp)
    g[np.arange(n), y] -= 1.0
    g /= n                                                   # dLoss/dF, [n, C]
    if weights.ndim == 1:
        gw = logits.reshape(m, n * c) @ g.ravel()
    elif weights.ndim == 2:
        gw = (logits * g[None]).sum(axis=1)
    else:
        gw = (flat.T @ g).reshape(m, c, c)
    return float(loss), gw, g.sum(axis=0)


def _sharded_loss_and_grad(prepared, weights, bias):
    """_loss_and_grad over every example of the `_prepared` shards: each shard's mean weighted
    by its size."""
    total, loss, gw, gb = 0, 0.0, np.zeros_like(weights), np.zeros_like(bias)
    for logits, y, flat in prepared:
        n = len(y)
        if n:
            part, part_w, part_b = _loss_and_grad(logits, y, weights, bias, flat)
            loss, gw, gb, total = loss + part * n, gw + part_w * n, gb + part_b * n, total + n
    return loss / total, gw / total, gb / total


def _penalty(weights, alphas):
    return float(sum(a * np.abs(w).sum() for a, w in zip(alphas, weights)))


def fit(shards: Shards, weight_type: str, adanet_lambda: float, adanet_beta: float,
        complexities: list[float], use_bias: bool = False, max_steps: int = 500,
        tol: float = 1e-7, start: Mixture | None = None) -> Mixture:
    """Mixture weights minimising the AdaNet objective over the members' shards ([M, n_k, C],
    labels [n_k]; re-iterable).

    The L1 term is made smooth by splitting w = w+ - w- with w+, w- >= 0 (the penalty becomes
    linear); L-BFGS-B then solves the bound-constrained problem, and a weight the objective does
    not pay for lands exactly on 0. Starts from the uniform mean, or from `start` (a fit on
    more of the same data: the cross-fitting folds start at the whole split's solution, which
    is near theirs). Each evaluation of the
    objective and its gradient reads the shards again and sums over them; the shard of a split
    that has only one is read once and held (it is what a pass would hold anyway).
    """
    from scipy.optimize import minimize

    m, _, c = next(iter(shards))[0].shape
    matrix = weight_type == "matrix"
    held = list(_prepared(shards, matrix)) if len(shards) == 1 else None

    def data_term(w, b):
        return _sharded_loss_and_grad(held or _prepared(shards, matrix), w, b)

    w0 = uniform(m, c, weight_type) if start is None else np.asarray(start.weights, np.float64)
    b0 = np.zeros(c) if start is None else np.asarray(start.bias, np.float64)
    shape, size = w0.shape, w0.size
    rates = [adanet_lambda * r + adanet_beta for r in complexities]   # per member
    alpha = np.broadcast_to(np.reshape(rates, (m,) + (1,) * (w0.ndim - 1)), shape).ravel()

    def unpack(x):
        w = (x[:size] - x[size:2 * size]).reshape(shape)
        return w, (x[2 * size:] if use_bias else np.zeros(c))

    def fun(x):
        w, b = unpack(x)
        loss, gw, gb = data_term(w, b)
        gw = gw.ravel()
        grad = np.concatenate([gw + alpha, -gw + alpha] + ([gb] if use_bias else []))
        return loss + float(alpha @ (x[:size] + x[size:2 * size])), grad

    x0 = np.concatenate([np.maximum(w0.ravel(), 0), np.maximum(-w0.ravel(), 0)]
                        + ([b0] if use_bias else []))
    bounds = [(0.0, None)] * (2 * size) + [(None, None)] * (c if use_bias else 0)
    res = minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"maxiter": max_steps, "ftol": tol, "gtol": 1e-7})
    w, b = unpack(res.x)
    loss, _, _ = data_term(w, b)
    return Mixture(w, b, float(loss + _penalty(w, rates)), float(loss))


def objective_value(shards: Shards, weights: np.ndarray, bias: np.ndarray,
                    adanet_lambda: float, adanet_beta: float, complexities: list[float]) -> float:
    """The AdaNet objective at given weights over the shards (for checks and reports)."""
    weights = np.asarray(weights, np.float64)
    loss, _, _ = _sharded_loss_and_grad(_prepared(shards, weights.ndim == 3), weights,
                                        np.asarray(bias, np.float64))
    return loss + _penalty(weights, [adanet_lambda * r + adanet_beta for r in complexities])
