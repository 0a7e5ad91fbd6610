"""Ensemble selection from cached logits (NumPy only: no model is re-run to select).

At iteration t the ensemble f_{t-1} has members h_1..h_{t-1}, frozen. Each new candidate h_j
forms the candidate ensemble f_{t-1} + h_j, whose output combines its members' logits with the
configured ensembler (`mean`, or mixture weights fitted to the AdaNet objective: see
adanas.ensemblers). The winner minimises the objective on the validation split. Unless `force_grow` is set,
the unchanged previous ensemble competes too (the library's candidate at index 0), so an
iteration whose candidates would all make things worse adds nobody.

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
from pathlib import Path
from typing import Any, Callable

import numpy as np

from adanas import data, ensemblers

log = logging.getLogger(__name__)

KEEP_PREVIOUS = -1
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
    family = models.FAMILIES.get(spec["family"])
    return int(spec["arch"].get(family.depth_field, 1)) if family else 1


def choose(previous: np.ndarray | None, candidates: list[np.ndarray], force_grow: bool,
           score: Callable[[np.ndarray, int | None], ensemblers.Mixture]):
    """Picks the candidate whose ensemble with the previous members scores best.

    previous: [M, N, C] logits of the frozen members (None at the first iteration).
    candidates: each [N, C]. score(stack, candidate index or None for the previous ensemble)
    returns the fitted Mixture. Returns (winner index or KEEP_PREVIOUS, each candidate
    ensemble's Mixture, the previous ensemble's Mixture or None). Ties go to the lower index.
    """
    def stack(c):
        return c[None] if previous is None or len(previous) == 0 else np.concatenate([previous, c[None]])

    mixtures = [score(stack(c), j) for j, c in enumerate(candidates)]
    best = int(np.argmin([mx.objective for mx in mixtures]))
    prev = None if previous is None or len(previous) == 0 else score(previous, None)
    if prev is not None and not force_grow and prev.objective <= mixtures[best].objective:
        return KEEP_PREVIOUS, mixtures, prev
    return best, mixtures, prev


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
        return {"members": [], "history": []}, {}
    d = Path(ensemble_dir)
    return json.loads((d / "ensemble.json").read_text()), _load_logits(d, "member_logits_{}.npy")


def read_candidate(candidate_dir: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    d = Path(candidate_dir)
    return json.loads((d / "candidate.json").read_text()), _load_logits(d, "logits_{}.npy")


# --- the select step ---------------------------------------------------------------------------

def select_step(search, iteration: int, dataset_dir: str | os.PathLike,
                candidate_dirs: list[str], candidate_uris: list[str],
                previous_dir: str | os.PathLike | None, out_dir: str | os.PathLike) -> dict[str, Any]:
    """Chooses this iteration's member and writes the new ensemble artifact. Returns its summary."""
    y_val = data.read_split(dataset_dir, "validation", labels_only=True)
    y_test = data.read_split(dataset_dir, "test", labels_only=True)
    state, prev_logits = read_state(previous_dir)
    cands = [read_candidate(d) for d in candidate_dirs]
    if not cands:
        raise ValueError(f"iteration {iteration}: no candidate was trained")
    score_fn = scorer(search, y_val)
    members = list(state["members"])

    def score(stack, j):
        return score_fn(stack, members if j is None else members + [cands[j][0]])

    winner, mixtures, prev_mix = choose(prev_logits.get("validation"),
                                        [c[1]["validation"] for c in cands], search.force_grow, score)
    mixture = prev_mix if winner == KEEP_PREVIOUS else mixtures[winner]
    logits = {s: prev_logits.get(s) for s in ("validation", "test", "train")}
    if winner != KEEP_PREVIOUS:
        info, cand_logits = cands[winner]
        members.append({**info, "uri": candidate_uris[winner]})
        for s in logits:
            if s not in cand_logits or (logits[s] is None and len(members) > 1):
                logits[s] = None  # train logits are kept only while every member has them
                continue
            new = cand_logits[s][None].astype(np.float32)
            logits[s] = new if logits[s] is None else np.concatenate([logits[s], new])

    ens_val, ens_test = (mixture.combine(logits[s].astype(np.float64)) for s in ("validation", "test"))
    best_single = min(cands, key=lambda c: c[0]["metrics"]["validation_loss"])[0]
    entry = {
        "iteration": iteration,
        "chosen": None if winner == KEEP_PREVIOUS else cands[winner][0]["spec"]["name"],
        "chosen_arch": None if winner == KEEP_PREVIOUS else cands[winner][0]["spec"]["arch_str"],
        "previous_objective": None if prev_mix is None else prev_mix.objective,
        "candidates": [
            {"name": c[0]["spec"]["name"], "arch": c[0]["spec"]["arch_str"],
             "move": c[0]["spec"]["move"], "ensemble_objective": mx.objective, **c[0]["metrics"]}
            for c, mx in zip(cands, mixtures)
        ],
        "best_single": {"name": best_single["spec"]["name"], "arch": best_single["spec"]["arch_str"],
                        "test_error": best_single["metrics"]["test_error"]},
        "ensemble": {
            "size": len(members),
            "params": int(sum(m["metrics"]["params"] for m in members)),
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
    for s, arr in logits.items():
        if arr is not None:
            np.save(out / f"member_logits_{s}.npy", arr)
    if logits["train"] is not None:
        # What the next iteration's candidates distil from, one row per training example.
        np.savez(out / TEACHER_FILE,
                 adaptive=mixture.combine(logits["train"].astype(np.float64)).astype(np.float32),
                 born_again=logits["train"][-1])
    new_state = {"iteration": iteration, "members": members, "history": state["history"] + [entry],
                 "mixture": {"weights": mixture.weights.tolist(), "bias": mixture.bias.tolist()}}
    (out / "ensemble.json").write_text(json.dumps(new_state, indent=2))
    log.info("iteration %d: chose %s (%s); ensemble of %d: validation error %.4f, test error %.4f",
             iteration, entry["chosen"], entry["chosen_arch"], len(members),
             entry["ensemble"]["validation_error"], entry["ensemble"]["test_error"])
    return entry


def last_chosen_spec(ensemble_dir: str | os.PathLike | None) -> dict[str, Any] | None:
    """The spec of the most recently added member: what the dynamic generator grows."""
    state, _ = read_state(ensemble_dir) if ensemble_dir else ({"members": []}, {})
    return state["members"][-1]["spec"] if state["members"] else None


def resolve_members(state: dict[str, Any],
                    to_path: Callable[[str], str] = uri_to_path) -> list[tuple[dict[str, Any], str]]:
    return [(m, to_path(m["uri"])) for m in state["members"]]
