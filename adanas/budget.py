"""The search budget (`search.budget`): how it is counted, and each candidate's share of it.

Counted per training task, from what its candidate recorded: accelerator time (task seconds x
accelerators) on GPU/TPU, wall-clock task seconds on CPU; a candidate that failed counts what it
spent until it failed, and a retried (preempted) task its earlier attempts up to their last
checkpoint too (adanas.train.earlier_seconds). The data, select and evaluate tasks
are not counted (seconds, beside training's minutes to hours); the report shows them apart.

Shares. The iterations before the last grow the ensemble on `search.budget_exploration` of the
budget, planned at the start: each of their candidates gets `exploration x budget /
((boosting_iterations - 1) x candidates_per_iteration)`, raised to the least a candidate needs
(`MIN_SHARE_SECONDS`, or twice the overhead a candidate task has shown beyond its training:
building the model, caching logits, saving). The last iteration *finishes*: one candidate trains
with all that is left: the best tower so far, on from its weights. An exploring iteration after
which no tower has learned is the last to explore (`nothing_learned`): the next one finishes, on
the tower the generator grows from the deepest explored one (adanas.ensemble.tower_to_finish),
from scratch (adanas.generators._finishing says why). Why: on data where a tower is still
learning when its share ends (the quality suite's sets at minutes of budget), its error keeps
falling steeply with training time, and towers trained for a sixth of the budget each lose to
one trained for all of it; the tower that is finished has had most of the budget, and selection
still returns the ensemble where that is better (ensemblers.returned_model).

Why planned, not recomputed from what is left: which candidates are explored must not depend on
how fast the machine runs that hour. Shares were once what was left of exploration's fraction
split over the candidates still to come; a slow hour's tasks overran their shares by a second or
two, the next iteration's share fell under the floor, and the search finished before it ever
proposed the grown (deeper) towers, where a fast hour explored them (the suite's shapes: a
3-layer tower finished at 29% error one evening, the 4-layer one at 1.7% that night, the same
code). Now overruns, and shares raised to the floor, come out of the finishing share: an
exploring iteration runs if, at its planned shares, it leaves the finishing at least half of
the finishing's planned share, `(1 - exploration) x budget / 2`; else the search finishes early.
So `budget_exploration` is the planned fraction, and exploring may take up to `(1 +
exploration) / 2` of the budget (0.6 at the default 0.2) where floors or a slow machine need it.
With one iteration its candidates share the whole budget. The first candidates get at least the
floor even when that bound is not met, and the search stops after it finishes, or when even the
finishing share would be under the floor. Where `search.max_ensemble_params` admits no grown
candidate before the exploring ends, what is left finishes the search too (`rest`), so the
parameter budget does not leave the time budget unspent. Shares count what the budget counts
(accelerator time on GPU/TPU); a task holding N accelerators runs for its share / N
(`wall_seconds`).
"""

from __future__ import annotations

from typing import Any

from adanas.config import MIN_SHARE_SECONDS, duration_seconds


def spent_seconds(metrics: dict[str, Any]) -> float:
    """What one candidate's training task counts against the budget."""
    accel = float(metrics.get("accelerator_seconds") or 0.0)
    return accel if accel > 0 else float(metrics.get("task_seconds") or 0.0)


def wall_seconds(share_seconds: float, accelerators: int) -> float:
    """How long a task may run for `share_seconds` of the budget while holding `accelerators`
    (0 on CPU): the budget counts accelerator time on GPU/TPU, wall-clock time on CPU."""
    return share_seconds / max(1, accelerators)


def used_seconds(history: list[dict[str, Any]]) -> float:
    """What the search's training tasks have spent: the trained candidates', and the failed
    ones' up to their failure (recorded since 2026-12-01; older records count them as 0)."""
    return sum(spent_seconds(c) for h in history for c in h["candidates"] + h.get("failed", []))


def overhead_seconds(history: list[dict[str, Any]]) -> float:
    """The most a finished candidate task spent outside its training (0 before any); a retried
    task's earlier attempts are not overhead."""
    return max((float(c.get("task_seconds", 0.0)) - float(c.get("train_seconds", 0.0))
                - float(c.get("earlier_attempts_seconds", 0.0))
                for h in history for c in h["candidates"]), default=0.0)


def floor_seconds(history: list[dict[str, Any]]) -> float:
    """The least a candidate is given: MIN_SHARE_SECONDS, or twice the overhead a candidate
    task has shown beyond its training."""
    return max(MIN_SHARE_SECONDS, 2.0 * overhead_seconds(history))


def share(search, iteration: int, history: list[dict[str, Any]]) -> tuple[float | None, str, bool]:
    """(seconds each candidate of `iteration` may spend, "", whether it finishes the search) or
    (None, why the search stops, False). (None, "", False) when the search has no budget."""
    total = search.budget_seconds()
    if total is None:
        return None, "", False
    used, floor = used_seconds(history), floor_seconds(history)
    why = finished(search, history)
    if why:
        return None, why, False
    iterations, count = search.boosting_iterations, search.candidates_per_iteration
    if iterations > 1 and iteration < iterations - 1 and not nothing_learned(history):
        each = max(search.budget_exploration * total / ((iterations - 1) * count), floor)
        keep = (1.0 - search.budget_exploration) * total / 2.0
        if used + each * count <= total - keep:
            return each, "", False
    elif iterations == 1:
        each = (total - used) / count
        if each >= floor:
            return each, "", False
        return None, _too_small(used, total, each, floor), False
    if not history:
        # Nothing trained yet to finish: the first candidates get the least a candidate needs.
        return min(floor, total / count), "", False
    each, why = rest(search, history)
    return each, why, each is not None


def rest(search, history: list[dict[str, Any]]) -> tuple[float | None, str]:
    """(what is left of the budget for the candidate that finishes the search now, "") or (None,
    why not: it is under the least a candidate needs). Also where search.max_ensemble_params
    ends the growing before the exploring does (adanas.generators.plan): the rest of the time
    then still trains the best tower on, rather than being left unspent."""
    total, used, floor = search.budget_seconds(), used_seconds(history), floor_seconds(history)
    each = total - used
    if each < floor:
        return None, _too_small(used, total, each, floor)
    return each, ""


# The moves of the candidate that finishes a budgeted search (adanas.generators): it trains on
# the tower to finish from its weights, or (nothing learned) the tower grown from it, from
# scratch, or trains it on because search.max_ensemble_params admits no grown tower (`rest`).
FINISH, FINISH_GROWN, FINISH_CAPPED = "continue", "grow-finish", "continue-at-cap"
FINISHING = (FINISH, FINISH_GROWN, FINISH_CAPPED)
# How the reason of a search stopped by search.max_ensemble_params begins (adanas.generators.plan
# writes it, adanas.continuation reads it); a time budget's reasons begin "budget: N s".
PARAMS_STOP = "budget: the ensemble has"


def finished(search, history: list[dict[str, Any]]) -> str:
    """Why the search stops, if its last iteration finished it (adanas.generators._finishing), or ""."""
    total = search.budget_seconds()
    if total is None or not history:
        return ""
    moves = {c.get("move") for c in history[-1]["candidates"]}
    if not moves & set(FINISHING):
        return ""
    how = (("no explored tower had learned; the deepest was trained on with the rest"
            if nothing_learned(history[:-1]) else "the best tower was trained on with the rest")
           if FINISH in moves else
           "search.max_ensemble_params admitted no grown tower; the best one was trained on with "
           "the rest" if FINISH_CAPPED in moves else
           "no explored tower had learned; the one grown from the deepest was trained with the rest")
    return f"budget: {used_seconds(history):.0f} s of {total:.0f} s used; {how}"


def capped(history: list[dict[str, Any]]) -> bool:
    """Whether the search finished because search.max_ensemble_params admitted no grown tower."""
    return bool(history) and any(c.get("move") == FINISH_CAPPED for c in history[-1].get("candidates", []))


def nothing_learned(history: list[dict[str, Any]]) -> bool:
    """Whether the iterations so far explored no tower that has learned (adanas.ensemble.has_learned,
    recorded with the tower to finish; older ensembles did not record it: False)."""
    return bool(history) and (history[-1].get("to_finish") or {}).get("learned") is False


def _too_small(used: float, total: float, each: float, floor: float) -> str:
    return (f"budget: {used:.0f} s of {total:.0f} s used; the {max(total - used, 0):.0f} s left "
            f"give each candidate {max(each, 0):.1f} s, under the {floor:.1f} s a candidate needs")


def summary(total_seconds: float | None, history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Budget given and used, for the report (None without a budget)."""
    if total_seconds is None:
        return None
    used = used_seconds(history)
    return {"given_seconds": total_seconds, "used_seconds": used, "used_fraction": used / total_seconds,
            "counted": "training tasks: accelerator time on GPU/TPU, wall-clock on CPU"}


def total_seconds(search: dict[str, Any]) -> float | None:
    """The budget in seconds of a search section as an ensemble records it (a dict), or None."""
    value = search.get("budget")
    return None if value is None else duration_seconds(value)
