"""Ensemble selection from cached logits (NumPy only: no model is re-run to select).

At iteration t the ensemble f_{t-1} has members h_1..h_{t-1}, frozen. Each new candidate h_j
forms the candidate ensemble f_{t-1} + h_j, whose output combines its members' logits with the
configured ensembler (`mean`, or mixture weights fitted to the AdaNet objective: see
adanas.ensemblers). The winner minimises the objective on the validation split. Unless `force_grow` is set,
the unchanged previous ensemble competes too (the library's candidate at index 0), so an
iteration whose candidates would all make things worse adds nobody. Strategies (`grow`, `all`,
`solo`) decide which candidate ensembles are formed; the `caruana` ensembler instead picks, with
replacement, from the pool of every subnetwork trained so far.

The ensemble artifact is a folder:
    ensemble.json                 members (spec, metrics, artifact uri), mixture weights and bias,
                                  per-iteration history
    member_logits_validation.npy  float32 [M, N_val, C]: cached, so selection never re-runs a model
    member_logits_test.npy        float32 [M, N_test, C]
    member_logits_train.npy       float32 [M, N_train, C], with distillation on: the members'
    teacher_logits_train.npz      logits on un-augmented training images, and the teachers of
                                  the next iteration (`adaptive`: the ensemble, `born_again`: the
                                  last member), so a distilling step never runs the members
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from adanas import data, ensemblers

log = logging.getLogger(__name__)

TEACHER_FILE = "teacher_logits_train.npz"   # {"adaptive": [N, C], "born_again": [N, C]}


def log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean softmax cross-entropy (natural log) of integer labels."""
    lp = log_softmax(np.asarray(logits, dtype=np.float64))
    return float(-lp[np.arange(len(labels)), labels].mean())


def error_rate(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((np.argmax(logits, axis=-1) != labels).mean())


def objective(logits: np.ndarray, labels: np.ndarray, name: str) -> float:
    if name == "validation_loss":
        return cross_entropy(logits, labels)
    if name == "validation_error":
        return error_rate(logits, labels)
    raise ValueError(f"unknown objective {name!r}")


def mean_mixture(stack: np.ndarray, labels: np.ndarray, objective_name: str) -> ensemblers.Mixture:
    """The uniform `mean` ensembler as a Mixture (scalar weights 1/M, no bias)."""
    m, _, c = stack.shape
    w = ensemblers.uniform(m, c, "scalar")
    logits = stack.mean(axis=0)
    value = objective(logits, labels, objective_name)
    return ensemblers.Mixture(w, np.zeros(c), value, cross_entropy(logits, labels))


def scorer(search, labels: np.ndarray) -> Callable[[np.ndarray, list[dict[str, Any]]], ensemblers.Mixture]:
    """Score(stack [M, N, C], member infos) -> Mixture, per the configured ensembler."""
    if search.ensembler == "mean":
        return lambda stack, infos: mean_mixture(stack, labels, search.objective)

    def weighted(stack, infos):
        r = [ensemblers.complexity(search.complexity, _depth(i["spec"]), i["metrics"]["params"])
             for i in infos]
        return ensemblers.fit(stack, labels, search.mixture_weight_type, search.adanet_lambda,
                              search.adanet_beta, r, search.use_bias)

    return weighted


def _depth(spec: dict[str, Any]) -> int:
    from adanas import models
    return models.family_of_spec(spec).depth(spec["arch"])


# --- artifact paths ----------------------------------------------------------------------------

_MOUNTS = {"gs://": "/gcs/", "s3://": "/s3/", "minio://": "/minio/"}


def uri_to_path(uri: str) -> str:
    """Where a task sees an artifact uri on its file system (KFP's mount conventions)."""
    for prefix, mount in _MOUNTS.items():
        if uri.startswith(prefix):
            return mount + uri[len(prefix):]
    return uri


def _load_logits(d: Path, pattern: str) -> dict[str, np.ndarray]:
    """{split: array} for the splits whose file exists (train logits exist only with KD)."""
    return {s: np.load(d / pattern.format(s)) for s in ("validation", "test", "train")
            if (d / pattern.format(s)).exists()}


def read_state(ensemble_dir: str | os.PathLike | None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(ensemble.json, {split: [M, N, C] logits}) of an ensemble artifact; empty for f_0 = 0."""
    if ensemble_dir is None:
        return read_record(None), {}
    return read_record(ensemble_dir), _load_logits(Path(ensemble_dir), "member_logits_{}.npy")


def read_candidate(candidate_dir: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    d = Path(candidate_dir)
    return json.loads((d / "candidate.json").read_text()), _load_logits(d, "logits_{}.npy")


# --- the select step ---------------------------------------------------------------------------

@dataclass
class Unit:
    """A trained subnetwork as selection sees it: its record (spec, metrics, uri) and logits."""
    info: dict[str, Any]
    logits: dict[str, np.ndarray]   # split -> [N, C]

    @property
    def name(self) -> str:
        return self.info["spec"]["name"]


def _stack(units: list[Unit], split: str) -> np.ndarray | None:
    if not units or any(split not in u.logits for u in units):
        return None
    return np.stack([u.logits[split] for u in units]).astype(np.float32)


def _units(infos: list[dict[str, Any]], stacks: dict[str, np.ndarray]) -> list[Unit]:
    return [Unit(info, {s: a[i] for s, a in stacks.items()}) for i, info in enumerate(infos)]


def proposals(search, previous: list[Unit], new: list[Unit]) -> list[tuple[str, list[Unit]]]:
    """Candidate ensembles (label, members) per the configured strategies.

    `grow`: the previous members plus one new subnetwork, for each; `all`: plus all of them;
    `solo`: each new subnetwork alone. Unless force_grow, the unchanged previous ensemble comes
    first (ties keep it).
    """
    out: list[tuple[str, list[Unit]]] = []
    if previous and not search.force_grow:
        out.append(("previous", previous))
    for strategy in search.ensemble_strategies:
        if strategy == "grow":
            out += [(f"grow {u.name}", previous + [u]) for u in new]
        elif strategy == "all":
            out.append(("all", previous + new))
        elif strategy == "solo":
            out += [(f"solo {u.name}", [u]) for u in new]
    return out


def decide(options: list[tuple[str, list[Unit]]], score_fn):
    """Scores each candidate ensemble on validation; the lowest objective wins (ties: first).

    Returns (label, members, Mixture, [(label, Mixture) for every option])."""
    scored = [(lbl, score_fn(_stack(units, "validation"), [u.info for u in units]))
              for lbl, units in options]
    best = int(np.argmin([mx.objective for _, mx in scored]))
    return options[best][0], options[best][1], scored[best][1], scored


def caruana(stack: np.ndarray, labels: np.ndarray, rounds: int) -> tuple[np.ndarray, float]:
    """Greedy forward selection with replacement (Caruana et al. 2004) over a pool [P, N, C].

    Each round adds the pool model (repeats allowed) that most lowers the validation loss of the
    uniform mean of the chosen logits; the best ensemble along the way wins. Returns
    (counts per pool model, its loss).
    """
    total = np.zeros(stack.shape[1:], dtype=np.float64)
    counts = np.zeros(len(stack), dtype=np.int64)
    best_counts, best_loss = counts.copy(), float("inf")
    for r in range(rounds):
        losses = [cross_entropy((total + p) / (r + 1), labels) for p in stack]
        pick = int(np.argmin(losses))
        counts[pick] += 1
        total += stack[pick]
        if losses[pick] < best_loss:
            best_counts, best_loss = counts.copy(), losses[pick]
    return best_counts, best_loss


def select_step(search, iteration: int, dataset_dir: str | os.PathLike,
                candidate_dirs: list[str], candidate_uris: list[str],
                previous_dir: str | os.PathLike | None, out_dir: str | os.PathLike) -> dict[str, Any]:
    """Chooses this iteration's members and writes the new ensemble artifact. Returns its summary."""
    y_val = data.read_split(dataset_dir, "validation", labels_only=True)
    y_test = data.read_split(dataset_dir, "test", labels_only=True)
    state, prev_logits = read_state(previous_dir)
    loaded = [(read_candidate(d), u) for d, u in zip(candidate_dirs, candidate_uris)]
    failed = [{"name": info["spec"]["name"], "arch": info["spec"].get("arch_str"), **info["failed"]}
              for (info, _), _ in loaded if "failed" in info]
    new = [Unit({**info, "uri": uri}, logits) for (info, logits), uri in loaded if "failed" not in info]
    if not new:
        detail = "; ".join(f"{f['name']}: {f['type']}: {f['message'][:200]}" for f in failed)
        raise ValueError(f"iteration {iteration}: every candidate failed ({detail or 'none was trained'})")
    for f in failed:
        log.warning("iteration %d: candidate %s failed (%s: %s); selecting among the others",
                    iteration, f["name"], f["type"], f["message"][:200])
    previous = _units(state["members"], prev_logits)
    score_fn = scorer(search, y_val)
    prev_objective = state["history"][-1]["ensemble"]["objective"] if state["history"] else None
    pool: list[Unit] = []

    if search.ensembler == "caruana":
        pool_dir = Path(previous_dir) if previous_dir is not None else None
        pool = (_units(state.get("pool", []), _load_logits(pool_dir, "pool_logits_{}.npy"))
                if pool_dir is not None else []) + new
        counts, loss = caruana(_stack(pool, "validation"), y_val, search.caruana_rounds)
        members = [u for u, c in zip(pool, counts) if c]
        weights = counts[counts > 0] / counts.sum()
        mixture = ensemblers.Mixture(weights, np.zeros(pool[0].logits["validation"].shape[1]), loss, loss)
        label, scored = "caruana", [("caruana", mixture)]
    else:
        label, members, mixture, scored = decide(proposals(search, previous, new), score_fn)

    before = {id(u.info) for u in previous}
    added = [u for u in members if id(u.info) not in before]
    stacks = {s: _stack(members, s) for s in ("validation", "test", "train")}
    ens_val, ens_test = (mixture.combine(stacks[s].astype(np.float64)) for s in ("validation", "test"))
    best_single = min(new, key=lambda u: u.info["metrics"]["validation_loss"]).info
    objective_by_name = {lbl.split(" ", 1)[1]: mx.objective for lbl, mx in scored if " " in lbl}
    entry = {
        "iteration": iteration,
        "decision": label,
        "chosen": ", ".join(u.name for u in added) or None,
        "chosen_arch": ", ".join(u.info["spec"]["arch_str"] for u in added) or None,
        "previous_objective": prev_objective,
        # What early stopping looks at: how much this iteration lowered the objective.
        "improvement": None if prev_objective is None else prev_objective - mixture.objective,
        "proposals": [{"label": lbl, "objective": mx.objective} for lbl, mx in scored],
        "failed": failed,
        "candidates": [
            {"name": u.name, "arch": u.info["spec"]["arch_str"], "move": u.info["spec"]["move"],
             "ensemble_objective": objective_by_name.get(u.name), **u.info["metrics"]}
            for u in new
        ],
        "best_single": {"name": best_single["spec"]["name"], "arch": best_single["spec"]["arch_str"],
                        "test_error": best_single["metrics"]["test_error"]},
        "ensemble": {
            "size": len(members),
            "params": int(sum(u.info["metrics"]["params"] for u in members)),
            "ensembler": search.ensembler,
            "objective": mixture.objective,
            "validation_loss": cross_entropy(ens_val, y_val),
            "validation_error": error_rate(ens_val, y_val),
            # Reported, never used to select.
            "test_error": error_rate(ens_test, y_test),
        },
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for s, arr in stacks.items():
        if arr is not None:
            np.save(out / f"member_logits_{s}.npy", arr)
    if stacks["train"] is not None:
        # What the next iteration's candidates distil from, one row per training example.
        np.savez(out / TEACHER_FILE,
                 adaptive=mixture.combine(stacks["train"].astype(np.float64)).astype(np.float32),
                 born_again=added[-1].logits["train"] if added else stacks["train"][-1])
    new_state = {"iteration": iteration, "members": [u.info for u in members],
                 "history": state["history"] + [entry],
                 "mixture": {"weights": np.asarray(mixture.weights).tolist(),
                             "bias": np.asarray(mixture.bias).tolist()}}
    if pool:
        new_state["pool"] = [u.info for u in pool]
        for s in ("validation", "test"):
            np.save(out / f"pool_logits_{s}.npy", _stack(pool, s))
    (out / "ensemble.json").write_text(json.dumps(new_state, indent=2))
    log.info("iteration %d: %s; ensemble of %d: objective %.4f, validation error %.4f, test error %.4f",
             iteration, label, len(members), mixture.objective,
             entry["ensemble"]["validation_error"], entry["ensemble"]["test_error"])
    return entry


def read_record(ensemble_dir: str | os.PathLike | None) -> dict[str, Any]:
    """ensemble.json alone (no logits): members and history; empty for f_0 = 0."""
    if ensemble_dir is None:
        return {"members": [], "history": []}
    return json.loads((Path(ensemble_dir) / "ensemble.json").read_text())


def last_chosen_spec(ensemble_dir: str | os.PathLike | None) -> dict[str, Any] | None:
    """The spec of the most recently added member: what the dynamic generator grows."""
    members = read_record(ensemble_dir)["members"]
    return members[-1]["spec"] if members else None


def resolve_members(state: dict[str, Any],
                    to_path: Callable[[str], str] = uri_to_path) -> list[tuple[dict[str, Any], str]]:
    return [(m, to_path(m["uri"])) for m in state["members"]]
