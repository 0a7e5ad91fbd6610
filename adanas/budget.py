"""The search budget (`search.budget`): how it is counted, and each candidate's share of it.

Counted per training task, from what its candidate recorded: accelerator time (task seconds x
accelerators) on GPU/TPU, wall-clock task seconds on CPU. The data, select and evaluate tasks
are not counted (seconds, beside training's minutes to hours); the report shows them apart.

Shares: before iteration t, what is left is split evenly over the candidates of the iterations
left, `left / ((boosting_iterations - t) x candidates_per_iteration)`; a candidate that finishes
early leaves its rest to the next iterations. The search stops when a share would be under
`MIN_SHARE_SECONDS` or under twice the overhead a candidate task has shown beyond its training
(building the model, caching logits, saving): such a candidate could barely train.
"""

from __future__ import annotations

from typing import Any

from adanas.config import duration_seconds

# The least a candidate is given: below it a task is mostly start-up and logits.
MIN_SHARE_SECONDS = 5.0


def spent_seconds(metrics: dict[str, Any]) -> float:
    """What one candidate's training task counts against the budget."""
    accel = float(metrics.get("accelerator_seconds") or 0.0)
    return accel if accel > 0 else float(metrics.get("task_seconds") or 0.0)


def used_seconds(history: list[dict[str, Any]]) -> float:
    return sum(spent_seconds(c) for h in history for c in h["candidates"])


def overhead_seconds(history: list[dict[str, Any]]) -> float:
    """The most a finished candidate task spent outside its training (0 before any)."""
    return max((float(c.get("task_seconds", 0.0)) - float(c.get("train_seconds", 0.0))
                for h in history for c in h["candidates"]), default=0.0)


def share(search, iteration: int, history: list[dict[str, Any]]) -> tuple[float | None, str]:
    """(seconds each candidate of `iteration` may spend, "") or (None, why the search stops).
    (None, "") when the search has no budget."""
    total = search.budget_seconds()
    if total is None:
        return None, ""
    used = used_seconds(history)
    left = total - used
    iterations_left = max(search.boosting_iterations - iteration, 1)
    each = left / (iterations_left * search.candidates_per_iteration)
    floor = max(MIN_SHARE_SECONDS, 2.0 * overhead_seconds(history))
    if each < floor:
        return None, (f"budget: {used:.0f} s of {total:.0f} s used; the {max(left, 0):.0f} s left "
                      f"give each candidate {max(each, 0):.1f} s, under the {floor:.1f} s a "
                      f"candidate needs")
    return each, ""


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
