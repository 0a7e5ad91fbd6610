"""The select step: this iteration's ensemble, chosen from cached logits (NumPy only).

At iteration t the ensemble f_{t-1} has members h_1..h_{t-1}, frozen. The configured ensembler
(adanas.ensemblers) forms candidate ensembles from them and this iteration's trained candidates,
scores them on the validation split and keeps the best; the test split is only reported.

The new ensemble artifact (adanas.artifacts) carries everything later steps need: the members'
records, mixture weights, cached logits, the teachers of the next iteration's distillation, and
the members' model files themselves (with `caruana`, the whole pool's), so that the next
iteration and the evaluate step need no other artifact than this one.

Logits and labels are read and written one dataset shard at a time (adanas.ensemblers.Stack):
the step's memory holds one shard of the logits it combines, whatever the split sizes.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import shutil
from typing import Any, Iterator

import numpy as np

from adanas import artifacts, ensemblers, metrics, models
from adanas.ensemblers import Row, Unit, stack

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


def _previous_units(previous_dir: PathLike | None, records: list[dict[str, Any]],
                    logits: dict[str, artifacts.Sharded]) -> list[Unit]:
    return [Unit(info, {s: Row(a, i) for s, a in logits.items()},
                 artifacts.ensemble_model(previous_dir, info["spec"]["name"]))
            for i, info in enumerate(records)]


def _logits_only(shards: ensemblers.Stack | None) -> Iterator[np.ndarray] | None:
    """The [M, n_k, C] shards of a Stack, for writing (a generator: one shard at a time)."""
    return None if shards is None else (logits for logits, _ in shards)


# How many standard errors of the paired difference in validation cross-entropy make one
# subnetwork better than another (about 95% one-sided at 2).
TIE_Z = 2.0


def best_subnetwork(units: list[Unit], y_val: Any) -> Unit:
    """The best subnetwork of `units`: the lowest validation loss, unless that is within the noise
    of the validation split; then the one with the most parameters among those it does not beat.

    Why: it is the subnetwork a budgeted search finishes (trains on with most of the budget)
    once a tower has learned, and the bar the returned model must meet. When the exploring
    shares were too short for any candidate to learn (validation loss still near log C), their
    losses differ by noise and the smallest tower, the fastest per step, tends to edge ahead;
    finished, it may then lack the capacity the data needs (shapes in clutter: 2-layer towers
    stay at 72% error where 3- and 4-layer ones reach 4-36%). "Within the noise": the mean of
    the paired per-example differences in cross-entropy from the cached logits is under TIE_Z
    standard errors of that mean. A small tower ahead by more than that is kept (the suite's
    shapes finished one in 2 of 5 seeds in one run of 2026-11-29, in none of 5 in the next,
    whose candidates trained more steps).
    """
    # A subnetwork whose validation loss is not finite is never preferred to one whose loss is
    # (the train step fails such a candidate; older artifacts may still carry one).
    units = [u for u in units if math.isfinite(u.info["metrics"]["validation_loss"])] or units[:1]
    lowest = min(units, key=lambda u: u.info["metrics"]["validation_loss"])
    if len(units) == 1:
        return lowest
    losses = [np.concatenate(parts) for parts in zip(*(
        [metrics.cross_entropy_per_example(z, y) for z in logits]
        for logits, y in stack(units, "validation", y_val)))]
    base = losses[units.index(lowest)]
    tied = [u for u, loss in zip(units, losses) if _not_worse(loss - base)]
    return max(tied, key=lambda u: (u.params, -u.info["metrics"]["validation_loss"]))


# A tower has not learned yet while its validation error is above this fraction of chance's
# error, 1 - 1/C.
UNLEARNED = 0.5


def tower_to_finish(units: list[Unit], y_val: Any, num_classes: int) -> Unit:
    """The subnetwork a budgeted search finishes (trains on with most of the budget): the best one
    (best_subnetwork), unless none of `units` has learned yet, that is the lowest validation error
    is above UNLEARNED x chance's; then the deepest (then the most parameters, then the lowest
    validation loss) of those whose loss is finite.

    Why: at exploring shares of a few epochs, towers that have not learned yet are ranked by how
    fast they start, not by where they end, and shallow towers start first. On the held-out counts
    set (benchmarks/suite_data.py: 1-10 dots to count) every candidate was still at 78-90% error
    (chance: 90%) when its share ended, the 3-layer tower led the grown 4-layer one by more than the
    validation noise, and the search finished it: 6-19% test error trained alone for 120 s (with a
    dense layer before the logits), where the 4-layer tower reaches 0.8-1.2% (BENCHMARKS.md,
    "Held-out set"). A deeper tower may even be above the loss of a uniform guess then (ln C:
    overconfident while its batch statistics settle) and still be the better one given the time,
    so that is not held against it. Once a tower has learned, validation ranks as before: the bar
    the returned model must meet stays best_subnetwork.
    """
    best = best_subnetwork(units, y_val)
    if has_learned(units, num_classes):
        return best
    finite = [u for u in units if math.isfinite(u.info["metrics"]["validation_loss"])]
    if not finite:
        return best
    return max(finite, key=lambda u: (_depth(u), u.params, -u.info["metrics"]["validation_loss"]))


def has_learned(units: list[Unit], num_classes: int) -> bool:
    """Whether some tower of `units` has learned: its validation error at most UNLEARNED x
    chance's. Until then a budgeted search finishes the deepest tower (tower_to_finish), not the
    one validation ranks first, or rather the one grown from it (adanas.generators._finishing)."""
    chance = 1.0 - 1.0 / num_classes
    return min(u.info["metrics"]["validation_error"] for u in units) <= UNLEARNED * chance


def _depth(unit: Unit) -> int:
    spec = unit.info["spec"]
    return models.family_of_spec(spec).depth(spec["arch"])


def _not_worse(diff: np.ndarray) -> bool:
    """Whether paired differences (this one's loss - the lowest one's) are within the noise."""
    if len(diff) < 2:
        return float(diff.mean()) <= 0.0
    return float(diff.mean()) <= TIE_Z * float(diff.std(ddof=1)) / np.sqrt(len(diff))


def _mixture_record(mixture: ensemblers.Mixture) -> dict[str, Any]:
    return {"weights": np.asarray(mixture.weights).tolist(), "bias": np.asarray(mixture.bias).tolist(),
            **({"adanet_beta": mixture.beta} if mixture.beta is not None else {})}


def _keep_previous(iteration: int, previous_dir: PathLike, out_dir: PathLike, state: dict[str, Any],
                   failed: list[dict[str, Any]], detail: str) -> dict[str, Any]:
    """Every candidate of an iteration after the first failed (a finishing tower that diverged,
    an out-of-memory grown one): the iteration's ensemble is the previous one, unchanged, and the
    search stops there (adanas.generators.plan reads `all_failed`), so what it trained before is
    evaluated and exported rather than lost with the run."""
    log.error("iteration %d: every candidate failed (%s); keeping the ensemble of iteration %d and "
              "stopping", iteration, detail, state["history"][-1]["iteration"])
    shutil.copytree(previous_dir, out_dir, dirs_exist_ok=True)
    last = state["history"][-1]
    entry = {**last, "iteration": iteration, "decision": "every candidate failed: previous kept",
             "chosen": None, "chosen_arch": None, "previous_objective": last["ensemble"]["objective"],
             "improvement": 0.0, "proposals": [], "failed": failed, "candidates": [],
             "all_failed": detail or "none was trained"}
    # `next` was the plan for this iteration; the search stops after it.
    artifacts.update_ensemble_record(out_dir, iteration=iteration, history=state["history"] + [entry],
                                     next=None)
    return entry


def select_step(search, iteration: int, dataset_dir: PathLike, candidate_dirs: list[PathLike],
                previous_dir: PathLike | None, out_dir: PathLike) -> dict[str, Any]:
    """Chooses this iteration's members and writes the new ensemble artifact. Returns its
    history entry."""
    labels = {s: artifacts.dataset_labels(dataset_dir, s) for s in artifacts.SPLITS}
    meta = artifacts.dataset_meta(dataset_dir)
    y_val = labels["validation"]
    state = artifacts.ensemble_record(previous_dir)
    loaded = [(d, *artifacts.read_candidate(d)) for d in candidate_dirs]
    failed = [{"name": info["spec"]["name"], "arch": info["spec"].get("arch_str"), **info["failed"]}
              for _, info, _ in loaded if "failed" in info]
    new = [Unit({"spec": info["spec"], "metrics": info["metrics"]}, logits,
                artifacts.candidate_model(d))
           for d, info, logits in loaded if "failed" not in info]
    if not new:
        detail = "; ".join(f"{f['name']}: {f['type']}: {f['message'][:200]}" for f in failed)
        if not state["members"]:
            raise ValueError(f"iteration {iteration}: every candidate failed ({detail or 'none was trained'})")
        return _keep_previous(iteration, previous_dir, out_dir, state, failed, detail)
    for f in failed:
        log.warning("iteration %d: candidate %s failed (%s: %s); selecting among the others",
                    iteration, f["name"], f["type"], f["message"][:200])
    previous = _previous_units(previous_dir, state["members"], artifacts.ensemble_logits(previous_dir))
    caruana = search.ensembler == "caruana"
    pool = (_previous_units(previous_dir, state.get("pool", []),
                            artifacts.ensemble_logits(previous_dir, "pool")) + new
            if caruana else [])
    # The best subnetwork trained so far (best_subnetwork), carried from iteration to iteration.
    carried_best = (_previous_units(previous_dir, [state["best_single"]],
                                    artifacts.ensemble_logits(previous_dir, "best_single"))
                    if "best_single" in state else [])
    best_so_far = best_subnetwork(carried_best + new, y_val)
    # The tower a budgeted search would finish (tower_to_finish), carried the same way.
    carried_finish = (_previous_units(previous_dir, [state["to_finish"]],
                                      artifacts.ensemble_logits(previous_dir, "to_finish"))
                      if "to_finish" in state else [])
    pool_to_finish = list({u.name: u for u in carried_finish + carried_best + new}.values())
    to_finish = tower_to_finish(pool_to_finish, y_val, meta["num_classes"])
    learned = has_learned(pool_to_finish, meta["num_classes"])

    decision = ensemblers.make(search).select(previous, new, pool, y_val)
    returned = ensemblers.returned_model(search, decision, best_so_far, y_val)
    members, mixture = decision.members, decision.mixture
    before = {u.name for u in previous}
    added = [u for u in members if u.name not in before]
    ens_val = ensemblers.score(stack(members, "validation", y_val), mixture)
    ens_test = ensemblers.score(stack(members, "test", labels["test"]), mixture)
    best_single = min(new, key=lambda u: u.info["metrics"]["validation_loss"]).info
    objective_by_name = {lbl.split(" ", 1)[1]: mx.objective for lbl, mx in decision.scored if " " in lbl}
    prev_objective = state["history"][-1]["ensemble"]["objective"] if state["history"] else None
    entry = {
        "iteration": iteration,
        "decision": decision.label,
        "chosen": ", ".join(u.name for u in added) or None,
        "chosen_arch": ", ".join(u.info["spec"]["arch_str"] for u in added) or None,
        "previous_objective": prev_objective,
        # What early stopping looks at: how much this iteration lowered the objective.
        "improvement": None if prev_objective is None else prev_objective - mixture.objective,
        "proposals": [{"label": lbl, "objective": mx.objective} for lbl, mx in decision.scored],
        "failed": failed,
        "candidates": [
            {"name": u.name, "arch": u.info["spec"]["arch_str"], "move": u.info["spec"]["move"],
             "ensemble_objective": objective_by_name.get(u.name), **u.info["metrics"]}
            for u in new
        ],
        "best_single": {"name": best_single["spec"]["name"], "arch": best_single["spec"]["arch_str"],
                        "test_error": best_single["metrics"]["test_error"]},
        # The tower a budgeted search would finish, and whether any had learned (the rule).
        "to_finish": {"name": to_finish.name, "arch": to_finish.info["spec"]["arch_str"],
                      "learned": learned},
        # What the search would return if it ended here, and why (never worse on validation
        # than its best single subnetwork).
        "returned": {"label": returned.label, "members": [u.name for u in returned.members],
                     "validation_objective": returned.mixture.objective,
                     "options": [{"label": lbl, "validation_objective": mx.objective}
                                 for lbl, mx in returned.scored]},
        "ensemble": {
            "size": len(members),
            "params": ensemblers.params_of(members),
            "ensembler": search.ensembler,
            "objective": mixture.objective,
            # In-sample where the combination was fitted on validation (weighted, caruana)...
            "validation_loss": ens_val.loss,
            "validation_error": ens_val.error,
            # ...and out of fold: what selection compared (adanas.ensemblers, cross-fitting).
            **({"held_out_validation_loss": mixture.held_out.loss,
                "held_out_validation_error": mixture.held_out.error} if mixture.held_out else {}),
            # Reported, never used to select.
            "test_error": ens_test.error,
        },
    }
    teacher = None
    train = stack(members, "train", labels["train"])
    if train is not None:
        # What the next iteration's candidates distil from, one row per training example,
        # written shard by shard.
        last = stack([added[-1] if added else members[-1]], "train", labels["train"])
        teacher = {"adaptive": (mixture.combine(x.astype(np.float64)) for x, _ in train),
                   "born_again": (x[0] for x, _ in last)}
    record = {"iteration": iteration, "members": [u.info for u in members],
              # The born-again teacher of the next iteration: the member added last.
              "teacher_member": (added[-1] if added else members[-1]).name,
              "history": state["history"] + [entry],
              "mixture": _mixture_record(mixture),
              "returned": {"label": returned.label, "members": [u.info for u in returned.members],
                           "mixture": _mixture_record(returned.mixture)},
              "best_single": best_so_far.info,
              # Whether any tower explored so far has learned is the history's last
              # `to_finish.learned` (adanas.budget.nothing_learned reads it there).
              "to_finish": to_finish.info}
    # What a search continued from this ensemble checks first (adanas.continuation).
    record["dataset"] = artifacts.dataset_identity(meta)
    record["search"] = dataclasses.asdict(search) if dataclasses.is_dataclass(search) else {}
    groups = {"member": members, "returned": returned.members, "best_single": [best_so_far],
              "to_finish": [to_finish]}
    if caruana:
        record["pool"] = [u.info for u in pool]
        groups["pool"] = pool
    artifacts.write_ensemble(
        out_dir, record, {u.name: u.model for units in groups.values() for u in units},
        {group: {s: _logits_only(stack(units, s, labels[s])) for s in artifacts.SPLITS}
         for group, units in groups.items()},
        teacher)
    log.info("iteration %d: %s; ensemble of %d: objective %.4f, validation error %.4f, test error %.4f",
             iteration, decision.label, len(members), mixture.objective,
             entry["ensemble"]["validation_error"], entry["ensemble"]["test_error"])
    return entry
