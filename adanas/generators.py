"""Candidate generators: a named registry. G(f_{t-1}) -> candidate specs for iteration t.

A candidate spec is a plain JSON-able dict (it crosses task boundaries as a KFP parameter):
    {"name", "family", "arch": {...}, "arch_str", "move", "iteration", "seed"}
plus, for the candidate that finishes a budgeted search by training a tower on, "warm_from": the
subnetwork of the previous ensemble whose weights it starts from.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Callable, Iterator

import numpy as np

from adanas import artifacts, budget, continuation, ensemblers, models

# (iteration, count, base arch, last chosen arch or None, family, growth) -> [(move, arch)]
Generator = Callable[[int, int, Any, Any, "models.Family", Any], list[tuple[str, Any]]]


def simple(iteration, count, base, last, family, growth):
    """G_S: the same architecture every iteration; candidates differ only by their seed."""
    return [("same", base)] * count


def _growth_steps() -> Iterator[tuple[int, int]]:
    # (deeper, wider) multiples by total growth, balanced first: deeper, wider, both, 2x deeper, ...
    for total in itertools.count(1):
        yield from sorted(((d, total - d) for d in range(total, -1, -1)), key=max)


def _label(d: int, w: int) -> str:
    return "+".join(name if k == 1 else f"{name}x{k}"
                    for name, k in (("deeper", d), ("wider", w)) if k)


def dynamic(iteration, count, base, last, family, growth):
    """G_D: grow the last chosen architecture: deeper (N + depth) and wider (F + width) first.

    At iteration 0 there is no chosen architecture yet: the base itself is the first candidate
    and the rest are its grown variants.
    """
    origin = base if last is None else last
    out: list[tuple[str, Any]] = [("base", base)] if last is None else []
    deeper, wider = family.directions()
    for d, w in _growth_steps():
        if len(out) >= count:
            break
        if (d and not deeper) or (w and not wider):
            continue
        out.append((_label(d, w), family.grow(origin, d * growth.depth, w * growth.width)))
    return out[:count]


GENERATORS: dict[str, Generator] = {"simple": simple, "dynamic": dynamic}


def candidate_seed(seed: int, iteration: int, index: int) -> int:
    return seed * 10_000 + iteration * 100 + index


def _user_generator(path: str) -> Generator:
    """Adapts f(iteration, count, base: dict, last: dict | None) -> [arch dict] to the registry."""
    fn = models.import_object(path, "search.generator")

    def generate(iteration, count, base, last, family, growth):
        archs = fn(iteration, count, family.to_dict(base), None if last is None else family.to_dict(last))
        if not isinstance(archs, list) or not archs:
            raise ValueError(f"{path} must return a non-empty list of architecture dicts, got {archs!r}")
        return [("custom", family.parse(a, f"{path}[{i}]")) for i, a in enumerate(archs)]

    return generate


def propose(search, seed: int, iteration: int, last_chosen: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Candidate specs for `iteration`, given the spec of the last member chosen (or None)."""
    family = models.family_of(search.family, search.builder, search.growth.depth_key,
                              search.growth.width_key)
    last = None
    if last_chosen is not None and last_chosen["family"] == family.name:
        last = family.parse(last_chosen["arch"])
    generate = (_user_generator(search.generator) if ":" in search.generator
                else GENERATORS[search.generator])
    moves = generate(iteration, search.candidates_per_iteration, search.arch(), last, family,
                     search.growth)
    return [
        {
            "name": f"i{iteration}_c{j}",
            "family": family.name,
            "arch": family.to_dict(arch),
            "arch_str": family.describe(arch),
            "move": move,
            "iteration": iteration,
            "seed": candidate_seed(seed, iteration, j),
            **family.spec_fields(),
        }
        for j, (move, arch) in enumerate(moves)
    ]


def finishing_spec(best: dict[str, Any], seed: int, iteration: int) -> dict[str, Any]:
    """The candidate that finishes a budgeted search (adanas.budget): the subnetwork `best`
    ({"spec", "metrics"}, one the previous ensemble artifact carries: its `to_finish`,
    adanas.ensemble.tower_to_finish) trained on from its weights."""
    planned = ("budget_seconds", "params", "warm_from")   # set for this candidate by plan()
    spec = best["spec"]
    return {**{k: v for k, v in spec.items() if k not in planned}, "name": f"i{iteration}_c0",
            "move": budget.FINISH, "iteration": iteration, "seed": candidate_seed(seed, iteration, 0),
            "warm_from": spec["name"]}


def spec_params(spec: dict[str, Any], image_shape, num_classes: int) -> int:
    """Trainable parameters of a spec's inference model (built, not trained: imports TensorFlow)."""
    model = models.build_model(spec, image_shape, num_classes, 0.0)
    model = models.family_of_spec(spec).inference_model(model)
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def candidate_params(specs: list[dict[str, Any]], dataset_dir) -> list[int]:
    """Trainable parameters of each spec's model on the Dataset artifact's images."""
    meta = artifacts.dataset_meta(dataset_dir)
    return [spec_params(spec, meta["image_shape"], meta["num_classes"]) for spec in specs]


def plan(search, seed: int, iteration: int, previous_dir, dataset_dir) -> tuple[list[dict[str, Any]], str]:
    """(candidate specs for `iteration`, why the search stops here instead or "").

    It stops after `boosting_iterations`, when the last iteration lowered the objective by less
    than `early_stopping_margin`, when `budget` is spent (adanas.budget), or when no candidate
    fits `max_ensemble_params` in any ensemble the configured strategies (or caruana) would
    form. With a budget each spec carries its share, `budget_seconds`, and the last iteration
    (or an earlier one, once exploring would eat into the finishing share or has explored no
    tower that learned: adanas.budget) is one candidate that finishes the search (`_finishing`);
    so is one where no grown candidate fits `max_ensemble_params` but time is left, and, with a
    budget, one after which early stopping ends the exploring: the budget is for training, so
    the rest of it still finishes the best tower rather than being left unspent. The other
    iterations' candidates grow the last member chosen. It stops, too, after an iteration whose
    candidates all failed (adanas.ensemble keeps the previous ensemble then).
    """
    record = artifacts.ensemble_record(previous_dir)
    history, members = record["history"], record["members"]
    if history and history[-1].get("all_failed"):
        return [], (f"iteration {history[-1]['iteration']}: every candidate failed "
                    f"({history[-1]['all_failed']}); the search returns the ensemble of iteration "
                    f"{history[-2]['iteration']}")
    # A finishing iteration ends a budgeted search, whatever it did to the objective.
    finished = budget.finished(search, history)
    if iteration >= search.boosting_iterations:
        return [], finished or f"done: {search.boosting_iterations} iterations"
    if finished:
        return [], finished
    margin = search.early_stopping_margin
    if history and margin is not None and history[-1]["improvement"] is not None \
            and history[-1]["improvement"] < margin:
        early = (f"early stop: iteration {history[-1]['iteration']} lowered the objective "
                 f"by {history[-1]['improvement']:.4g} < {margin}")
        seconds = budget.rest(search, history)[0] if search.budget_seconds() is not None else None
        if seconds is None:
            return [], early
        reason, finishing = "", True
    else:
        seconds, reason, finishing = budget.share(search, iteration, history)
    if reason:
        return [], reason
    if finishing:
        specs = _finishing(search, seed, iteration, record)   # one of them runs, the first that fits
    else:
        specs = propose(search, seed, iteration, members[-1]["spec"] if members else None)
    if seconds is not None:
        specs = [dict(s, budget_seconds=round(seconds, 2)) for s in specs]
    if search.max_ensemble_params is None:
        return specs[:1] if finishing else specs, ""
    used = sum(m["metrics"]["params"] for m in members)

    def fit(specs):
        sizes = candidate_params(specs, dataset_dir)
        return [dict(s, params=p) for s, p in zip(specs, sizes)
                if ensemblers.fits_some_strategy(search, used, p)], sizes

    fitting, sizes = fit(specs)
    if fitting:
        return fitting[:1] if finishing else fitting, ""
    if not members:
        raise ValueError(f"search.max_ensemble_params {search.max_ensemble_params:,} is smaller than "
                         f"every first candidate ({', '.join(f'{p:,}' for p in sizes)} params)")
    stop = (f"{budget.PARAMS_STOP} {used:,} params and no candidate fits in "
            f"{search.max_ensemble_params:,} (smallest {min(sizes):,})")
    if seconds is None or finishing:
        return [], stop
    # A time budget with the growing ended by the parameter budget: the rest of the time
    # finishes the search, as it would have after the last exploring iteration.
    left, _ = budget.rest(search, history)
    if left is None:
        return [], stop
    # (A tower has learned here, else the search would be finishing already: the tower to
    # finish, trained on from its weights.)
    fitting, _ = fit([dict(s, budget_seconds=round(left, 2), move=budget.FINISH_CAPPED)
                      for s in _finishing(search, seed, iteration, record)])
    return (fitting[:1], "") if fitting else ([], stop)


def _finishing(search, seed: int, iteration: int, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The candidates that may finish a budgeted search, in order of preference (plan runs the
    first that fits search.max_ensemble_params). While no explored tower has learned
    (adanas.budget.nothing_learned: the search finishes right after such an iteration), first the
    tower the built-in generator grows first from the one to finish (G_D: one step deeper, or
    wider in a family that only widens), trained from scratch; then, or from the start where it
    has learned or the generator grows nothing new, the tower to finish, trained on from its
    weights.

    Why: a tower that has not learned at its exploring share is a few seconds of weights, and at
    shares that short a further exploring iteration rarely tells the grown towers apart either; it
    costs the finishing tower the time instead. On the suite's 32x32 sets at 120 s no tower had
    learned after iteration 0, every search went on to finish the 4-layer tower iteration 1 grew,
    and that tower is still learning steeply at the end of B (shapes: 1.97% trained for 90 s alone,
    1.00% for 120 s), so the ~12 s that iteration 1 and its steps took were what it lost."""
    # Ensembles written before `to_finish` was recorded finish their best single subnetwork.
    tower = record.get("to_finish", record["best_single"])
    on = finishing_spec(tower, seed, iteration)
    if not budget.nothing_learned(record["history"]) or ":" in search.generator \
            or tower["spec"]["family"] != search.family:
        return [on]
    family = models.family_of_spec(tower["spec"])
    grown = [s for s in propose(search, seed, iteration, tower["spec"])
             if family.parse(s["arch"]) != family.parse(tower["spec"]["arch"])]
    if not grown:
        return [on]
    return [dict(grown[0], name=f"i{iteration}_c0", move=budget.FINISH_GROWN,
                 seed=candidate_seed(seed, iteration, 0)), on]


def _plan_key(search, seed: int, iteration: int) -> dict[str, Any]:
    return {"search": dataclasses.asdict(search), "seed": seed, "iteration": iteration}


def generate_step(search, seed: int, iteration: int, previous_dir, dataset_dir) -> list[dict[str, Any]]:
    """The generate step: this iteration's candidate specs. The select task that produced
    `previous_dir` already planned them (and recorded the plan); that plan is reused when it was
    made for the same search, seed and iteration, so budgeted candidates are not built twice.
    A previous ensemble of another dataset, search space or iteration is refused first (it may
    come from an earlier search: --warm-start)."""
    continuation.check_previous(search, iteration, previous_dir, dataset_dir)
    planned = artifacts.ensemble_record(previous_dir).get("next")
    if planned and planned["key"] == _plan_key(search, seed, iteration):
        return planned["specs"]
    specs, reason = plan(search, seed, iteration, previous_dir, dataset_dir)
    if not specs:
        raise ValueError(f"iteration {iteration} should not run: {reason}")
    return specs


def should_continue(search, seed: int, next_iteration: int, ensemble_dir, dataset_dir) -> bool:
    """Whether the search runs `next_iteration`. Records in the ensemble either the plan (the
    next candidates, for the generate task) or the reason the search stops there."""
    specs, reason = plan(search, seed, next_iteration, ensemble_dir, dataset_dir)
    if specs:
        artifacts.update_ensemble_record(
            ensemble_dir, next={"key": _plan_key(search, seed, next_iteration), "specs": specs})
    else:
        artifacts.update_ensemble_record(ensemble_dir, stopped=reason)
    return bool(specs)
