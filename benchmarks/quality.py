"""Quality per compute: AdaNAS against its own best single tower and its peers, at an equal
wall-clock budget, on a suite of four image sets that need no network.

The question (issue tracker): on each set of the suite (benchmarks/suite_data.py: the embedded
8x8 digits, the same digits CIFAR-shaped at 32x32 RGB, procedural textures and procedural shapes
in clutter; held-out test splits, 5 seeds), with every system given the same wall-clock budget B
on the same 2 cores, is AdaNAS's mean test error
  (1) at most 1.0x its own best single tower's, trained alone for B, on at least 3 of the 4 sets,
  (2) at most 0.8x the best peer's on every set?
Systems (each gets B seconds of wall-clock time per set and seed):

  adanas     the default search (pipelines/configs/digits.yaml: its search and training sections
             as they are; the dataset section pointed at the set and the augmentation valid for
             its image size, by suite_data.dataset_overrides) with search.budget = B - RESERVE,
             in-process through `adanas.search.run_search`. The budget counts the training
             tasks; RESERVE is what the rest of run_search takes (data step and preview,
             generate and select steps, export and test evaluation), measured (see RESERVE).
  single     AdaNAS's best single tower trained alone for B: the member of the final ensemble
             with the lowest validation error (ties: lower validation loss; the choice a user
             could make without touching test), retrained from scratch with
             `adanas.train.train_candidate` and a budget of B seconds for its task (the same
             recipe: momentum, cosine decay over the whole run, label smoothing, weight decay,
             augmentation; the library's budgeted training: it trains until its B is spent, less
             its logits and save, its cosine schedule driven by the elapsed fraction of B).
  hyperband  KerasTuner Hyperband over a comparable CNN space: 1-4 conv-BN-ReLU blocks (a 2x2
             max-pool after every second one, as AdaNAS's towers), 8-64 filters, global average
             pooling, a dense head of 0/32/64/128 units, dropout 0-0.5, Adam learning rate
             1e-4..1e-2 (log); validation loss is the objective (AdaNAS's too). max_epochs =
             AdaNAS's epochs per candidate in the same run (at least 2), factor 3, brackets
             repeated until the search's share of B ends, then the best model is finished (see
             "Search, then finish" below). BatchNormalization momentum 0.9: with Keras' 0.99
             the moving statistics still lag the weights after a trial's few hundred steps (20%
             vs 4.5% validation error for the same model on digits), an artifact the peer should
             not lose to.
  bayesian   KerasTuner BayesianOptimization over the same space, each trial trained for AdaNAS's
             epochs per candidate; 3 random initial points (the default, 3 per hyperparameter,
             would spend the whole budget on random trials).
  autokeras  AutoKeras ImageClassifier: its own search space and augmentation, max_trials 10,
             AdaNAS's epochs per candidate per trial, its own EarlyStopping replaced by ours
             (patience 3) so it does not retrain the best model after the search. AutoKeras
             3.0.0 fails on Keras 3.15 as released (its head passes a NumPy integer as Dense
             `units`); a small runtime patch casts the recorded shapes to int, and the table
             says "patched". If it still fails, the row says "did not run: <reason>". Its
             search, too, is followed by finishing its best model.
  adanet     the original adanet 0.9.0 AutoEnsembleEstimator (pool: cnn(2@16), cnn(4@24),
             dnn(2@128); validation-loss selection) in its own venv (tensorflow-cpu 2.15.1),
             run by benchmarks/adanet_peer.py as a subprocess, with AdaNAS's number of
             iterations sized to fill B: max_iteration_steps from a step time it measures on its
             first 30 steps (kept in the model), as a user with B seconds would size them. The
             venv is created under bench-out/adanet-venv on first use.
"AdaNAS's epochs per candidate": the median over the run's candidates of the training steps
the budget gave them, in epochs of the training split (at least 1).

Search, then finish (since 2026-11-29; the earlier tables gave the peers no finishing phase and
trials as short as AdaNAS's exploring candidates, so their best model was one trained for a
share of B). AdaNAS spends part of its budget growing the ensemble (search.budget_exploration as
planned, more where shares are raised to their floor, less where an exploring iteration left no
tower learned: adanas.budget) and the rest finishing its best tower from the weights it explored
(or, where none had learned, a tower grown from the deepest, from scratch). The tuners get the
same split, the fraction AdaNAS spent exploring on that set and seed (its row's
exploring_seconds over its search budget; for rows recorded before that field, its train tasks'
walls before the last iteration: `exploring_from_stages`; a one-iteration search, as --quick's,
explores with all of it): the search runs until that share of B (no trial starts after it; a
running trial stops after its current epoch, or is abandoned if it has none and another trial
already has a score), then the best trial's model trains on from its weights with its own
optimizer until B (less EVAL_RESERVE), keeping the weights with the lowest validation loss
(`finish_best`). adanet has no single best model to finish, so its iterations are sized from B
instead.

Fairness:
  - Data: per set, one Dataset artifact written by `adanas.data.prepare_step` from the set's
    source (the embedded digits with their fixed split; the generated image folders, seed
    --data-seed, the same for every search seed, as the digits' split is) feeds every system;
    AdaNAS's own artifact is checked to be byte-identical. Peers select models on the validation
    split (as AdaNAS does); test is only ever used for the score.
  - Augmentation: the KerasTuner models and the adanet candidates train on the same on-the-fly
    augmentation policy AdaNAS records in the artifact (pad-and-crop, cutout, flips where the
    set allows them), so the comparison is between search methods, not input pipelines.
    The KerasTuner models' pipeline (`adanas.augment.training_dataset`, in memory) ends as
    AdaNAS's streamed one does (`augment.finish`: no tf.data autotuning thread, since 1bebe90).
    AutoKeras uses its own (searched) augmentation.
  - Budget: B per set (BUDGETS, or --budget), the same for every system, AdaNAS included: its
    wall time is that of the whole run_search (data step to test evaluation). Each system's
    clock starts after its framework is imported (TensorFlow is imported before any clock) and
    includes its final test evaluation; peers stop training a few seconds before B
    (EVAL_RESERVE) so that evaluation fits. Enforcement: AdaNAS and its single tower through
    the library's budget (candidates' shares, a deadline per task); KerasTuner and AutoKeras
    through TrialDeadline at the end of their search share (no trial is created after it, a
    trial that has finished an epoch stops at the first batch past it, one that has not is
    abandoned by SIGALRM: it has no score to keep) and the finishing phase's deadline callback
    at B; adanet through a SessionRunHook that also skips an iteration that could not finish
    in time. The wall each system really used is reported next
    to its error, and the reading flags any system above 1.1 B.
  - Same machine, same run: per set and seed AdaNAS runs first (its epochs per candidate set the
    peers'), then the others in an order that rotates with the seed. Ratios are computed only
    from the systems of one invocation, except with --reuse RESULTS: AdaNAS (and its tower) are
    not rerun, their rows come from an earlier run in RESULTS (checked: same data digest and
    budget), the peers take that run's epochs per candidate, and the table names the reused run;
    and the other way round with --peers-from RESULTS: AdaNAS and its tower run, the peers'
    rows come from the latest run in RESULTS that has them (checked the same way), and the
    table names that run and sets this run's epochs per candidate beside the ones the peers'
    trials were sized from (a change to AdaNAS that leaves its exploring shares alone, such as
    which tower it finishes, can be measured without rerunning the peers' 109 minutes).

    python benchmarks/quality.py [--sets digits digits32 textures shapes counts angles] [--seeds 0 1 2 3 4]
        [--budget SECONDS | --budget SET=SECONDS ...] [--systems ...]
        [--reuse RESULTS | --peers-from RESULTS] [--quick] [--table RESULTS]
        [--write BENCHMARKS.md]

--quick: the four sets, 1 seed, a budget of 20 s per system and set, a 1-iteration search (the
budget's shares need it: 3 iterations x 2 candidates would leave a candidate under the 5 s the
library allows), and per set AdaNAS, its single tower and one peer, the peers taking turns over
the sets (adanet only if its venv already exists; --systems lists them all instead); results go
to bench-out/quality-quick.jsonl and nothing is written outside bench-out/. About 5 minutes.
--sets counts angles: the held-out sets (suite_data.py), at 120 s like the other 32x32 sets;
reported per set like the others but not counted in the targets, and --write puts a table of
held-out sets alone in a section of its own.
Raw per-system results are appended to bench-out/quality.jsonl (one JSON object per line, with
the set's name).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import importlib.metadata
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import suite_data  # noqa: E402
from environment import cpu_model  # noqa: E402
from orchestration import write_section  # noqa: E402

from adanas import artifacts, data  # noqa: E402
from adanas.budget import FINISHING, spent_seconds  # noqa: E402
from adanas.config import Config, load_config  # noqa: E402

MARK = "quality"
TITLE = "Quality per compute: AdaNAS vs peers at equal budget"
HELD_OUT_MARK, HELD_OUT_TITLE = "quality-held-out", "Held-out set: do the defaults carry over?"
BENCH_OUT = ROOT / "bench-out"
ADANET_VENV = BENCH_OUT / "adanet-venv"
SETS = list(suite_data.SUITE)            # the four the targets are judged on
ALL_SETS = list(suite_data.SETS)         # and the held-out ones (--sets counts angles), reported apart
# Seconds per system, set and seed. digits: about twice what the unbudgeted default search takes
# (about 32 s), so its three iterations train longer than by default (13 epochs per candidate
# measured); the 32x32 sets have 16x the pixels per image and 2.4x the training images (digits32:
# the same 1,258), so twice the digits' budget (4-6 epochs per candidate measured). A full run
# (4 sets, 6 systems, 5 seeds) is then about 3.5 hours on 2 cores.
BUDGETS = {"digits": 60.0, "digits32": 120.0, "textures": 120.0, "shapes": 120.0, "counts": 120.0,
           "angles": 120.0}
# What run_search spends outside its training tasks (search.budget counts only those): the data
# step and its preview page, the generate and select steps, export and test evaluation (with its
# latency and calibration sections). Measured here on 2 cores (2026-11-29, wall - budget used):
# digits 8.3 s, textures 10.4 s, shapes 8.5-9.1 s; 10 s for every set. The candidates train by
# the clock (adanas.timed): measured 0.99-1.00x of search.budget in 20 runs (2026-11-29), and
# AdaNAS's wall came to 0.91-1.00 B but in 3 runs where one step outside training stalled for
# 45-61 s (1.38-1.59 B; the reading flags any system above 1.1 B).
RESERVE = {"digits": 10.0, "digits32": 10.0, "textures": 10.0, "shapes": 10.0, "counts": 10.0,
           "angles": 10.0}
QUICK_BUDGET = 20.0
QUICK_OVERRIDES = ["search.boosting_iterations=1"]
TARGET_SINGLE, TARGET_SINGLE_SETS = 1.0, 3     # <= 1.0x own single tower on >= 3 of the 4 sets
TARGET_PEER = 0.8                              # <= 0.8x the best peer's, on every set
SYSTEMS = ["adanas", "single", "hyperband", "bayesian", "autokeras", "adanet"]
PEERS = ["hyperband", "bayesian", "autokeras", "adanet"]   # external systems: the target's "peers"
LABELS = {
    "adanas": "AdaNAS (digits.yaml search, search.budget)",
    "single": "AdaNAS best single tower, alone, same time",
    "hyperband": "KerasTuner Hyperband",
    "bayesian": "KerasTuner BayesianOptimization",
    "autokeras": "AutoKeras ImageClassifier",
    "adanet": "adanet 0.9.0 AutoEnsembleEstimator",
}
# Seconds each peer stops training before B, to leave room for its final evaluation on test
# (measured on digits: loading the best KerasTuner/AutoKeras model and predicting 270 images
# takes about a second; adanet's predict rebuilds its graph and restores a checkpoint, about 5 s).
EVAL_RESERVE = {"hyperband": 1.0, "bayesian": 1.0, "autokeras": 2.0, "adanet": 5.0}
# The adanet venv: the newest TensorFlow adanet 0.9.0 still runs on, and NumPy 1 for it.
ADANET_VENV_PINS = ["tensorflow-cpu==2.15.1", "numpy==1.26.4"]
ADANET_PIN = "adanet==0.9.0"
AUTOKERAS_MAX_TRIALS = 10


def progress(msg: str) -> None:
    print(f"[quality {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class DeadlineReached(RuntimeError):
    """Raised inside a trial that had not finished one epoch when the deadline came."""


# --- data ------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Data:
    dir: Path                      # the Dataset artifact every system reads
    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    meta: dict[str, Any]
    sha: str                       # of the three splits: the same data for every system

    @property
    def num_classes(self) -> int:
        return int(self.meta["num_classes"])


def _digest(dataset_dir: Path) -> str:
    h = hashlib.sha256()
    for split in data.SPLITS:
        x, y = artifacts.dataset_split(dataset_dir, split)
        h.update(np.ascontiguousarray(x).tobytes())
        h.update(np.ascontiguousarray(y).tobytes())
    return h.hexdigest()[:16]


def prepare_data(cfg: Config, out: Path) -> Data:
    data.prepare_step(cfg.dataset, cfg.augmentation, out)
    splits = {s: artifacts.dataset_split(out, s) for s in data.SPLITS}
    return Data(out, {s: v[0] for s, v in splits.items()}, {s: v[1] for s, v in splits.items()},
                artifacts.dataset_meta(out), _digest(out))


def error_of(predicted: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.asarray(predicted).reshape(-1) != labels))


# --- AdaNAS and its single tower -------------------------------------------------------------------

def run_adanas(cfg: Config, work: Path, ds: Data) -> dict[str, Any]:
    from adanas.search import run_search
    t0 = time.perf_counter()
    report, _ = run_search(cfg, work)
    wall = time.perf_counter() - t0
    if _digest(work / "dataset") != ds.sha:
        raise RuntimeError("AdaNAS's dataset artifact differs from the shared one")
    last = max(work.glob("iteration-*/ensemble"), key=lambda p: int(p.parent.name.split("-")[1]))
    state = artifacts.ensemble_record(last)
    # The member a user would pick without looking at test: lowest validation error, then loss.
    best = min(state["members"], key=lambda m: (m["metrics"]["validation_error"], m["metrics"]["validation_loss"]))
    candidates = [c for h in state["history"] for c in h["candidates"]]
    batch = min(cfg.training.batch_size, len(ds.y["train"]))
    steps = int(statistics.median(c["train_steps"] for c in candidates))
    used = (report.get("budget") or {}).get("used_seconds")
    exploring = sum(spent_seconds(c) for c in candidates if c.get("move") not in FINISHING)
    return {
        "test_error": report["test_error"],
        "validation_error": state["history"][-1]["ensemble"]["validation_error"],
        "wall": wall,
        "search_budget": cfg.search.budget_seconds(),
        "budget_used": used,
        "exploring_seconds": exploring,   # the peers' search share (peer_split)
        "outside_training": None if used is None else wall - used,   # what RESERVE must cover
        "iterations": len(state["history"]),
        "candidates": len(candidates),
        "stopped": report.get("stopped", ""),
        "steps_per_candidate": steps,
        "epochs_per_candidate": max(1, round(steps / max(1, len(ds.y["train"]) // batch))),
        "members": report["ensemble_size"],
        "params": report["total_params"],
        "architecture": [m["arch"] for m in report["members"]],
        # Every candidate as the search scored it (which tower it finished, and from what).
        "explored": [{k: c.get(k) for k in ("name", "arch", "move", "params", "validation_loss",
                                            "validation_error", "train_steps")} for c in candidates],
        "best_member": {"spec": best["spec"], "metrics": best["metrics"]},
        "stage_seconds": report.get("stage_seconds"),   # to find a slow step outside training
        "note": (f"{report['ensemble_size']} members, {report['total_params']:,} params; "
                 f"{len(state['history'])} iterations, {len(candidates)} candidates"
                 + (f"; {wall - used:.1f} s outside training" if used is not None else "")),
    }


def run_single(cfg: Config, work: Path, ds: Data, budget: float, best_member: dict[str, Any]) -> dict[str, Any]:
    from adanas import train
    # From scratch, for B by the clock (adanas.timed): the member may be the tower a budgeted
    # search trained on from its weights.
    spec = {k: v for k, v in best_member["spec"].items() if k != "warm_from"}
    spec.update(name="single", budget_seconds=round(budget, 2))
    t0 = time.perf_counter()
    metrics = train.train_candidate(spec, cfg.training, ds.dir, work / "single")
    wall = time.perf_counter() - t0
    return {"test_error": metrics["test_error"], "validation_error": metrics["validation_error"],
            "wall": wall, "epochs": metrics["epochs"], "epochs_done": metrics["epochs_done"],
            "train_steps": metrics["train_steps"], "train_seconds": metrics["train_seconds"],
            "task_seconds": metrics["task_seconds"], "architecture": spec["arch_str"],
            "params": metrics["params"],
            "note": f"{spec['arch_str']} ({best_member['spec']['name']}), {metrics['train_steps']} steps "
                    f"({metrics['epochs_done']} epochs)"}


# --- KerasTuner and AutoKeras ----------------------------------------------------------------------

class TrialDeadline:
    """Enforces the end of a KerasTuner search (AutoKeras runs on KerasTuner too).

    `deadline` ends the search: no trial is created after it (the oracle answers STOPPED), and a
    trial that has finished at least one epoch stops at the first batch past it and keeps its
    scored epochs (Keras still validates the cut epoch: well under a second for these models).
    A trial that has not finished an epoch by then has no score to keep: it is abandoned, unless
    no trial has a score yet (there would be nothing to finish), in which case it may go on until
    it has one, but only until `hard` (the end of the budget; by default the same moment).
    Abandoning happens at once, by SIGALRM, wherever it is (building a model, a first batch; while
    TensorFlow traces a function, once the trace ends), so a large model that happened to start
    late (AutoKeras's ResNet50 at 224x224) cannot run on for a minute. The tuner records it as a
    failed trial. The alarm repeats every half second past `deadline` and only acts while a
    trial runs.
    """

    def __init__(self, deadline: float, hard: float | None = None):
        self.deadline = deadline        # time.monotonic()
        self.hard = deadline if hard is None else max(hard, deadline)
        self.in_trial = False
        self.epochs_done = 0
        self.abandoned = 0
        self.scored = 0                 # trials that finished at least one epoch

    def __deepcopy__(self, memo):
        return self   # KerasTuner deep-copies callbacks per trial; the state must stay shared

    def past(self) -> bool:
        return time.monotonic() >= self.deadline

    def must_abandon(self) -> bool:
        """Whether the running trial, with no epoch finished, is to be given up now."""
        now = time.monotonic()
        return now >= self.hard or (now >= self.deadline and self.scored > 0)

    def attach(self, tuner) -> None:
        populate, run_trial = tuner.oracle.populate_space, tuner.run_trial

        def populate_space(trial_id):
            return {"status": "STOPPED", "values": None} if self.past() else populate(trial_id)

        def tracked_run_trial(trial, *args, **kwargs):
            self.in_trial, self.epochs_done = True, 0
            try:
                result = run_trial(trial, *args, **kwargs)
                self.scored += self.epochs_done > 0
                return result
            except DeadlineReached:
                self.abandoned += 1
                raise
            finally:
                self.in_trial = False

        tuner.oracle.populate_space = populate_space
        tuner.run_trial = tracked_run_trial

    def callback(self):
        import keras
        state = self

        class Deadline(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                state.epochs_done += 1
                if state.past():
                    self.model.stop_training = True

            def on_train_batch_end(self, batch, logs=None):
                if state.epochs_done == 0:
                    if state.must_abandon():
                        state.abandon()
                elif state.past():
                    self.model.stop_training = True

        return Deadline()

    def abandon(self):
        raise DeadlineReached("budget used up before this trial finished an epoch")

    def _alarm(self, signum, frame):
        import tensorflow as tf
        # Never while TensorFlow traces a function: raised there, the exception leaves its graph
        # stack nested wrongly and every later clear_session fails (an AutoKeras trial on
        # counts, 2026-11-30, ended the whole run so). The alarm repeats every half second.
        if self.in_trial and self.epochs_done == 0 and self.must_abandon() and not tf.inside_function():
            self.abandon()

    def __enter__(self):
        self._previous = signal.signal(signal.SIGALRM, self._alarm)
        signal.setitimer(signal.ITIMER_REAL, max(self.deadline - time.monotonic(), 0.01), 0.5)
        return self

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._previous)
        return False


def exploring_from_stages(ada: dict[str, Any]) -> float | None:
    """For rows written before exploring_seconds (2026-11-30 morning): the wall seconds of the
    train tasks before the last iteration, whose single task finishes the best tower. Task wall
    time includes building the model, so this is a little above the budget's own count."""
    stages = ada.get("stage_seconds") or {}
    trains = {k: v for k, v in stages.items() if k.startswith("train-i")}
    if not trains or ada.get("iterations", 0) < 2:
        return None
    last = f"train-i{max(int(k[len('train-i'):].split('_')[0]) for k in trains)}_"
    return sum(v for k, v in trains.items() if not k.startswith(last))


def peer_split(cfg: Config, ada: dict[str, Any]) -> Config:
    """`cfg` with search.budget_exploration set to the fraction of its search budget AdaNAS
    spent exploring in `ada` (its row on the same set and seed), for the peers' search share."""
    spent, total = ada.get("exploring_seconds"), ada.get("search_budget")
    if spent is None:
        spent = exploring_from_stages(ada)
    if not spent or not total:
        return cfg
    fraction = min(max(spent / total, 0.01), 0.99)
    return dataclasses.replace(cfg, search=dataclasses.replace(cfg.search, budget_exploration=fraction))


def search_then_finish(cfg: Config, t0: float, budget: float, kind: str) -> tuple[float, float]:
    """(end of the search, end of training) on time.monotonic() for a tuner whose clock started
    at `t0`: AdaNAS's split of the budget (search.budget_exploration of it exploring, as
    `peer_split` sets it, the rest finishing), of what is left of B after the peer's
    EVAL_RESERVE."""
    train_end = t0 + budget - EVAL_RESERVE[kind]
    return t0 + cfg.search.budget_exploration * (train_end - t0), train_end


def finish_best(model, fit: Callable[..., Any], score: float, deadline: float) -> dict[str, Any]:
    """The peers' finishing phase, AdaNAS's counterpart: the search's best model (its trained
    weights, as AdaNAS's finishing tower starts from its explored weights once one has learned)
    trains on until `deadline` with the optimizer its trial had, and keeps the weights with the
    lowest validation loss, those it came with (validation loss `score`) included, so finishing
    never returns a model worse on validation than the search's. `fit(callbacks)` runs model.fit
    for as many epochs as it likes; the deadline stops it at the first batch past it."""
    import keras

    t0 = time.monotonic()
    state = {"best": score, "weights": model.get_weights(), "epochs": 0, "improved": 0}

    class Finish(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if time.monotonic() >= deadline:
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            state["epochs"] += 1
            loss = (logs or {}).get("val_loss")
            if loss is not None and loss < state["best"]:
                state.update(best=float(loss), weights=self.model.get_weights(), improved=state["epochs"])
            if time.monotonic() >= deadline:
                self.model.stop_training = True

    if time.monotonic() < deadline:
        fit([Finish()])
    model.set_weights(state["weights"])
    return {"finish_seconds": time.monotonic() - t0, "finish_epochs": state["epochs"],
            "finish_best_epoch": state["improved"], "finish_val_loss": state["best"], "search_val_loss": score}


def cnn_hypermodel(input_shape, num_classes: int):
    """The KerasTuner space: AdaNAS's CNN tower family with its sizes and training searched."""
    import keras

    def build(hp):
        layers = hp.Int("conv_layers", 1, 4)
        filters = hp.Int("filters", 8, 64, step=8)
        dense = hp.Choice("dense_units", [0, 32, 64, 128])
        dropout = hp.Float("dropout", 0.0, 0.5, step=0.25)
        lr = hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")
        inputs = keras.Input(shape=tuple(input_shape))
        x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0)(inputs)   # as AdaNAS's models
        size = min(input_shape[:2])
        for i in range(layers):
            x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            # Momentum 0.9, not Keras' 0.99: a trial trains a few hundred steps, after which the
            # 0.99 moving statistics still lag the weights (measured here on the same model:
            # 20% vs 4.5% validation error). The peer should not lose to that artifact.
            x = keras.layers.BatchNormalization(momentum=0.9)(x)
            x = keras.layers.ReLU()(x)
            if i % 2 == 1 and i < layers - 1 and size >= 4:
                x = keras.layers.MaxPooling2D(2)(x)
                size, filters = size // 2, filters * 2
        x = keras.layers.GlobalAveragePooling2D()(x)
        if dense:
            x = keras.layers.Dense(dense, activation="relu")(x)
        if dropout:
            x = keras.layers.Dropout(dropout)(x)
        model = keras.Model(inputs, keras.layers.Dense(num_classes)(x))
        model.compile(optimizer=keras.optimizers.Adam(lr),
                      loss=keras.losses.CategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        return model

    return build


def run_keras_tuner(kind: str, cfg: Config, work: Path, ds: Data, budget: float, seed: int,
                    epochs: int) -> dict[str, Any]:
    import keras
    import keras_tuner as kt
    from keras_tuner.src.tuners.bayesian import BayesianOptimizationOracle
    from keras_tuner.src.tuners.hyperband import HyperbandOracle

    from adanas import augment

    keras.utils.set_random_seed(seed)
    t0 = time.monotonic()
    explore_end, deadline = search_then_finish(cfg, t0, budget, kind)
    objective = kt.Objective("val_loss", "min")   # AdaNAS selects by validation loss too
    common = {"hypermodel": cnn_hypermodel(ds.meta["image_shape"], ds.num_classes),
              "directory": str(work), "project_name": kind, "overwrite": True}
    if kind == "hyperband":
        oracle = HyperbandOracle(objective, max_epochs=max(2, epochs), factor=3, hyperband_iterations=1000, seed=seed)

        class DeadlineHyperband(kt.Hyperband):
            # kt.Hyperband builds its own oracle; keep its trial logic, pass ours.
            def __init__(self, oracle, **kwargs):
                kt.Tuner.__init__(self, oracle=oracle, **kwargs)

        tuner = DeadlineHyperband(oracle, **common)
    else:
        oracle = BayesianOptimizationOracle(objective, max_trials=100_000, num_initial_points=3, seed=seed)
        tuner = kt.Tuner(oracle=oracle, **common)
    guard = TrialDeadline(explore_end, hard=deadline)
    guard.attach(tuner)

    batch = min(cfg.training.batch_size, len(ds.y["train"]))
    train_ds = augment.training_dataset(ds.x["train"], ds.y["train"], ds.num_classes, batch,
                                        ds.meta["augmentation"], seed=seed)
    val = (ds.x["validation"], keras.utils.to_categorical(ds.y["validation"], ds.num_classes))
    steps_per_epoch = len(ds.y["train"]) // batch
    with guard:
        tuner.search(train_ds, epochs=epochs, steps_per_epoch=steps_per_epoch,
                     validation_data=val, callbacks=[guard.callback()], verbose=0)
    search_seconds = time.monotonic() - t0
    trials = list(tuner.oracle.trials.values())
    scored = [t for t in trials if t.score is not None]
    if not scored:
        raise RuntimeError(f"no trial finished an epoch within the budget ({len(trials)} started)")
    model = tuner.get_best_models(1)[0]
    finish = finish_best(model, lambda callbacks: model.fit(
        train_ds, epochs=1_000_000, steps_per_epoch=steps_per_epoch, validation_data=val,
        callbacks=callbacks, verbose=0), tuner.oracle.get_best_trials(1)[0].score, deadline)

    def predict(split):
        return np.argmax(model.predict(ds.x[split], batch_size=512, verbose=0), axis=1)

    test_error, val_error = error_of(predict("test"), ds.y["test"]), error_of(predict("validation"), ds.y["validation"])
    wall = time.monotonic() - t0
    best = tuner.oracle.get_best_trials(1)[0].hyperparameters.values
    return {"test_error": test_error, "validation_error": val_error, "wall": wall,
            "search_seconds": search_seconds, "trials": len(trials), "trials_scored": len(scored),
            "trials_abandoned": guard.abandoned, "best_hyperparameters": {k: v for k, v in best.items() if not k.startswith("tuner/")},
            **finish,
            "note": f"{len(scored)} trials scored in {search_seconds:.0f} s; best {best['conv_layers']} conv x "
                    f"{best['filters']}, finished {finish['finish_epochs']} epochs"}


def _patch_autokeras() -> str:
    """AutoKeras 3.0.0 on Keras 3.15: shapes recorded from the data hold NumPy ints, and
    keras.layers.Dense rejects a NumPy `units` ("expected a positive integer. Received:
    units=10"). Cast them to Python ints after AutoKeras records them."""
    from autokeras import graph

    if getattr(graph.Graph.set_io_shapes, "_bench_patched", False):
        return "patched"
    original = graph.Graph.set_io_shapes

    def ints(shape):
        return tuple(None if d is None else int(d) for d in shape)

    def set_io_shapes(self, shapes):
        original(self, shapes)
        for node in self.inputs:
            node.shape = ints(node.shape)
        for node in self.outputs:
            node.in_blocks[0].shape = ints(node.in_blocks[0].shape)

    set_io_shapes._bench_patched = True
    graph.Graph.set_io_shapes = set_io_shapes
    return "patched"


def run_autokeras(cfg: Config, work: Path, ds: Data, budget: float, seed: int, epochs: int) -> dict[str, Any]:
    import autokeras as ak
    import keras

    patch = _patch_autokeras()
    keras.utils.set_random_seed(seed)
    t0 = time.monotonic()
    explore_end, deadline = search_then_finish(cfg, t0, budget, "autokeras")
    clf = ak.ImageClassifier(max_trials=AUTOKERAS_MAX_TRIALS, directory=str(work), project_name="autokeras",
                             overwrite=True, seed=seed)
    guard = TrialDeadline(explore_end, hard=deadline)
    guard.attach(clf.tuner)
    # Passing our own EarlyStopping keeps AutoKeras from inserting one and then retraining the
    # best model from scratch after the search (which the deadline would cut short).
    stop_early = keras.callbacks.EarlyStopping(monitor="val_loss", patience=3, min_delta=1e-4)
    try:
        with guard:
            clf.fit(ds.x["train"], ds.y["train"], validation_data=(ds.x["validation"], ds.y["validation"]),
                    epochs=epochs, callbacks=[stop_early, guard.callback()],
                    verbose=0)
    finally:
        search_seconds = time.monotonic() - t0
        trials = list(clf.tuner.oracle.trials.values())
        scored = [t for t in trials if t.score is not None]
        if not scored:   # AutoKeras then fails loading a best model that does not exist
            raise RuntimeError(f"no trial finished an epoch within the budget ({len(trials)} started, "
                               f"{search_seconds:.1f}s)")

    # Finishing: the best trial's model and preprocessing pipeline, as AutoKeras's own predict
    # loads them, trained on; predictions then go through that model, not a reloaded one.
    pipeline, model = clf.tuner.get_best_pipeline(), clf.tuner.get_best_model()

    def adapted(split):
        return pipeline.transform((clf._adapt(ds.x[split], clf.inputs), clf._adapt(ds.y[split], clf._heads)))

    (x_train, y_train), val = adapted("train"), adapted("validation")
    finish = finish_best(model, lambda callbacks: model.fit(
        x=x_train, y=y_train, validation_data=val, epochs=1_000_000, callbacks=callbacks, verbose=0),
        clf.tuner.oracle.get_best_trials(1)[0].score, deadline)

    def predict(split):   # AutoKeras decodes to the original labels (possibly as strings)
        x = pipeline.transform_x(clf._adapt(ds.x[split], clf.inputs))
        raw = np.asarray(pipeline.postprocess(model.predict(x, verbose=0))).reshape(-1)
        return np.array([int(float(v)) for v in raw])

    test_error, val_error = error_of(predict("test"), ds.y["test"]), error_of(predict("validation"), ds.y["validation"])
    wall = time.monotonic() - t0
    best = clf.tuner.oracle.get_best_trials(1)[0].hyperparameters.values
    return {"test_error": test_error, "validation_error": val_error, "wall": wall,
            "search_seconds": search_seconds, "trials": len(trials), "trials_scored": len(scored),
            "trials_abandoned": guard.abandoned, "patch": patch,
            "best_block": best.get("image_block_1/block_type"), **finish,
            "note": f"{patch}; {len(scored)} trials scored in {search_seconds:.0f} s; best "
                    f"{best.get('image_block_1/block_type')}, finished {finish['finish_epochs']} epochs"}


# --- adanet 0.9.0 in its own venv -----------------------------------------------------------------

def _base_python() -> str:
    """A Python 3.11 interpreter to create the adanet venv from (the project's venv's base)."""
    base = getattr(sys, "_base_executable", None)
    if base and Path(base).exists():
        return base
    return shutil.which("python3.11") or sys.executable


def _venv_ready(python: Path) -> bool:
    """Whether the venv has adanet and TensorFlow 2.15 installed (read from package metadata)."""
    if not python.exists():
        return False
    check = ("import importlib.metadata as m, sys; "
             "sys.exit(0 if m.version('tensorflow-cpu').startswith('2.15.') and m.version('adanet') else 1)")
    return subprocess.run([str(python), "-c", check], check=False, capture_output=True).returncode == 0


def ensure_adanet_venv(venv: Path, create: bool) -> Path | None:
    """The venv's python, creating the venv when allowed; None when absent and not allowed."""
    python = venv / "bin" / "python"
    if _venv_ready(python):
        return python
    if not create:
        return None
    progress(f"creating the adanet venv in {venv} (tensorflow-cpu 2.15.1 + adanet 0.9.0, a few minutes)")
    if venv.exists():
        shutil.rmtree(venv)
    subprocess.run([_base_python(), "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    subprocess.run(pip + ADANET_VENV_PINS, check=True)
    # adanet 0.9.0's declared requirements would pull TF 1-era packages; TF 2.15 brings what it uses.
    subprocess.run(pip + ["--no-deps", ADANET_PIN], check=True)
    if not _venv_ready(python):
        raise RuntimeError(f"{venv}: the install finished but adanet / tensorflow-cpu 2.15 are not there")
    return python


def run_adanet(cfg: Config, work: Path, ds: Data, budget: float, seed: int, python: Path) -> dict[str, Any]:
    job = work / "adanet-job"
    job.mkdir(parents=True)
    for split in data.SPLITS:   # plain arrays: the worker must not need the adanas library
        np.save(job / f"{split}_x.npy", ds.x[split])
        np.save(job / f"{split}_y.npy", ds.y[split])
    batch = min(cfg.training.batch_size, len(ds.y["train"]))
    (job / "job.json").write_text(json.dumps({
        "seed": seed, "budget_seconds": budget, "eval_reserve_seconds": EVAL_RESERVE["adanet"],
        "iterations": cfg.search.boosting_iterations, "batch_size": batch, "num_classes": ds.num_classes,
        "augmentation": ds.meta["augmentation"]}))
    log_file = work / "adanet.log"
    t0 = time.monotonic()
    with open(log_file, "w") as log:
        proc = subprocess.run([str(python), str(ROOT / "benchmarks" / "adanet_peer.py"), "--job", str(job)],
                              check=False, stdout=subprocess.PIPE, stderr=log, text=True,
                              timeout=3 * budget + 300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    process_wall = time.monotonic() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("ADANET_RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = log_file.read_text().strip().splitlines()[-3:]
        raise RuntimeError(f"adanet worker exited {proc.returncode}: {' | '.join(tail)[-400:]}")
    result = json.loads(lines[-1].removeprefix("ADANET_RESULT "))
    result["process_wall"] = process_wall   # including interpreter start and TF 2.15 import
    cut = {"deadline": " + 1 cut at the deadline", "next iteration would not fit": " + 1 not bookkept"}
    result["note"] = (f"{result['iterations_completed']} iterations{cut.get(result['stopped'], '')}; "
                      f"bookkept members {', '.join(result['architecture']) or '-'}")
    return result


def adanet_version(python: Path | None) -> str:
    if python is None:
        return "not installed"
    proc = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('adanet'))"],
                          check=False, capture_output=True, text=True)
    return proc.stdout.strip() or "not installed"


# --- one set and seed ------------------------------------------------------------------------------

def set_config(args, name: str, seed: int) -> Config:
    """The default config pointed at the set, its search budgeted to B - RESERVE."""
    from adanas.budget import MIN_SHARE_SECONDS
    search_budget = args.budgets[name] - RESERVE[name]
    cfg = load_config(args.config, suite_data.dataset_overrides(name, args.suite_dir, args.data_seed)
                      + args.overrides + [f"seed={seed}", f"search.budget={search_budget:g}s"])
    need = MIN_SHARE_SECONDS * cfg.search.boosting_iterations * cfg.search.candidates_per_iteration
    if search_budget < need:
        raise SystemExit(f"{name}: a budget of {args.budgets[name]:g} s leaves search.budget {search_budget:g} s "
                         f"after the {RESERVE[name]:g} s reserve, under the {need:g} s that "
                         f"{cfg.search.boosting_iterations} iterations x {cfg.search.candidates_per_iteration} "
                         f"candidates need ({MIN_SHARE_SECONDS:g} s each); raise --budget or set "
                         f"search.boosting_iterations lower")
    return cfg


def read_rows(path: Path, option: str) -> list[dict[str, Any]]:
    """The rows of a results file (one JSON object per line), for --reuse, --peers-from, --table."""
    if not path.is_file():
        raise SystemExit(f"{option} {path}: no such results file")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def load_reused(rows: list[dict[str, Any]], systems: tuple[str, ...] = ("adanas",)) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """--reuse / --peers-from: per (set, seed), the rows of the latest run among `rows` in which
    one of `systems` ran ok for it."""
    by_run: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    for r in rows:
        by_run.setdefault((r["set"], r["seed"], r["run_id"]), []).append(r)
    out: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for (name, seed, run), group in sorted(by_run.items(), key=lambda kv: kv[0][2]):
        if any(r["system"] in systems and r["status"] == "ok" for r in group):
            out[(name, seed)] = group   # sorted by run id (its start time): the latest wins
    return out


def _check_reused(option: str, path: Path, name: str, seed: int, rows: list[dict[str, Any]],
                  sha: str, budget: float) -> None:
    for r in rows:
        if r["data_sha"] != sha or r["budget"] != budget:
            raise SystemExit(f"{option} {path}: {name} seed {seed} ran on other data or another budget "
                             f"(data {r['data_sha']} vs {sha}, budget {r['budget']:g} vs {budget:g})")


def run_set_seed(args, name: str, seed: int, index: int, systems: list[str], adanet_python: Path | None,
                 record: Callable[[dict[str, Any]], None]) -> None:
    import keras
    budget = args.budgets[name]
    cfg = set_config(args, name, seed)
    BENCH_OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"quality-{name}-", dir=BENCH_OUT) as tmp:
        work = Path(tmp)
        ds = prepare_data(cfg, work / "data")
        base = {"set": name, "seed": seed, "data_sha": ds.sha, "test_examples": len(ds.y["test"]),
                "image_shape": ds.meta["image_shape"], "budget": budget, "reserve": RESERVE[name]}

        if args.reused is not None:
            old = args.reused.get((name, seed))
            if old is None:
                raise SystemExit(f"--reuse {args.reuse}: no AdaNAS result for {name} seed {seed}")
            ada = next(r for r in old if r["system"] == "adanas")
            _check_reused("--reuse", args.reuse, name, seed, [ada], ds.sha, budget)
            for r in old:   # kept with their own run id and date: the table says they are reused
                if r["system"] == "adanas" or r["system"] not in systems:
                    record({**r, "reused": True})
            epochs, steps = ada["epochs_per_candidate"], ada["steps_per_candidate"]
            progress(f"{name} seed {seed}: adanas reused from run {ada['run_id']} (test error "
                     f"{100 * ada['test_error']:.2f}%; {epochs} epochs ({steps} steps) per candidate)")
            run_others(args, name, seed, index, systems[1:], peer_split(cfg, ada), work, ds, base,
                       budget, epochs, None, adanet_python, record)
            return

        progress(f"{name} seed {seed}: adanas (budget {budget:g} s, search.budget {cfg.search.budget})")
        keras.backend.clear_session()
        try:
            result = run_adanas(cfg, work / "adanas", ds)
        except Exception as e:  # noqa: BLE001 - reported; without it there is no tower to retrain
            reason = f"{type(e).__name__}: {str(e).strip()[:300]}"
            record({**base, "system": "adanas", "status": "failed", "reason": reason})
            progress(f"{name} seed {seed}: adanas failed ({reason}); the other systems are skipped")
            return
        best_member = result.pop("best_member")
        record({**base, "system": "adanas", "status": "ok", **result})
        epochs, steps = result["epochs_per_candidate"], result["steps_per_candidate"]
        progress(f"{name} seed {seed}: adanas test error {100 * result['test_error']:.2f}%, wall "
                 f"{result['wall']:.1f}s ({result['wall'] / budget:.2f} B), {result['note']}; "
                 f"{epochs} epochs ({steps} steps) per candidate")

        run_others(args, name, seed, index, systems[1:], peer_split(cfg, result), work, ds, base,
                   budget, epochs, best_member, adanet_python, record)
        if args.peers_reused is not None:
            source = args.peers_reused.get((name, seed), [])
            peers = [r for r in source if r["system"] in PEERS and r["system"] not in systems]
            # The epochs per candidate of the AdaNAS rows the peers' trials were sized from (in
            # the same file; with --reuse they keep their own run id).
            trial_epochs = args.peers_adanas_epochs.get((name, seed))
            if not peers:
                raise SystemExit(f"--peers-from {args.peers_from}: no peer result for {name} seed {seed}")
            _check_reused("--peers-from", args.peers_from, name, seed, peers, ds.sha, budget)
            for r in peers:   # kept with their own run id and date: the table says they are reused
                record({**r, "reused": "peers", "trial_epochs": trial_epochs})
            progress(f"{name} seed {seed}: {', '.join(r['system'] for r in peers)} reused from run "
                     f"{peers[0]['run_id']}")


def run_others(args, name: str, seed: int, index: int, others: list[str], cfg: Config, work: Path, ds: Data,
               base: dict[str, Any], budget: float, epochs: int, best_member: Any,
               adanet_python: Path | None, record: Callable[[dict[str, Any]], None]) -> None:
    """Every system but AdaNAS on one set and seed, in an order that rotates with the seed."""
    import keras
    k = index % len(others) if others else 0
    for system in others[k:] + others[:k]:   # alternate the order across seeds
        progress(f"{name} seed {seed}: {system} (budget {budget:g}s)")
        row = {**base, "system": system}
        try:
            keras.backend.clear_session()   # inside: a broken TF state fails one system, not the run
            with contextlib.redirect_stdout(sys.stderr):   # tuners print; stdout is the table's
                if system == "single":
                    out = run_single(cfg, work / system, ds, budget, best_member)
                elif system in ("hyperband", "bayesian"):
                    out = run_keras_tuner(system, cfg, work / system, ds, budget, seed, epochs)
                elif system == "autokeras":
                    out = run_autokeras(cfg, work / system, ds, budget, seed, epochs)
                elif system == "adanet":
                    if adanet_python is None:
                        record({**row, "status": "skipped",
                                "reason": "adanet venv not present (--quick does not create it)"})
                        progress(f"{name} seed {seed}: adanet skipped (no venv)")
                        continue
                    out = run_adanet(cfg, work / system, ds, budget, seed, adanet_python)
                else:
                    raise ValueError(system)
        except Exception as e:  # noqa: BLE001 - a peer that cannot run is a result, reported
            reason = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"[:300]
            record({**row, "status": "failed", "reason": reason})
            progress(f"{name} seed {seed}: {system} did not run: {reason}")
            continue
        record({**row, "status": "ok", **out})
        progress(f"{name} seed {seed}: {system} test error {100 * out['test_error']:.2f}%, "
                 f"wall {out['wall']:.1f}s ({out['wall'] / budget:.2f} B)")


# --- the table -------------------------------------------------------------------------------------

def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def summarize(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per system (of one set's rows): errors over seeds, their mean and median, walls."""
    out = {}
    for system in SYSTEMS:
        mine = [r for r in rows if r["system"] == system]
        if not mine:
            continue
        ok = [r for r in mine if r["status"] == "ok"]
        errors = [r["test_error"] for r in ok]
        out[system] = {
            "runs": len(mine), "ok": len(ok), "errors": errors,
            "mean": statistics.mean(errors) if errors else None,
            "median": statistics.median(errors) if errors else None,
            "walls": [r["wall"] for r in ok],
            "over_budget": [r["wall"] / r["budget"] for r in ok],
            "reasons": sorted({r.get("reason", "") for r in mine if r["status"] != "ok"}),
            "notes": [r.get("note", "") for r in ok],
        }
    return out


def judge(summary: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The two targets on one set: {"single": True/False/None, "peer": ..., "best_peer": ...}
    (None: not judgeable, a system missing)."""
    ada = summary.get("adanas") or {}
    am = ada.get("mean")
    single = (summary.get("single") or {}).get("mean")
    peers = {s: v for s, v in summary.items() if s in PEERS and v["mean"] is not None}
    best = min(peers, key=lambda s: peers[s]["mean"]) if peers else None
    return {"single": None if am is None or single is None else am <= TARGET_SINGLE * single,
            "peer": None if am is None or best is None else am <= TARGET_PEER * peers[best]["mean"],
            "best_peer": best}


def _ratio(a: float, b: float) -> str:
    return "inf" if b == 0 and a > 0 else f"{(a / b if b else 1.0):.2f}"


def set_reading(name: str, summary: dict[str, dict[str, Any]], n_test: int) -> str:
    """One line per set computed from the numbers: each target met or not, and by how much."""
    j, ada = judge(summary), summary.get("adanas")
    if not ada or ada["mean"] is None:
        return f"- **{name}**: AdaNAS did not run ({'; '.join(ada['reasons']) if ada else 'no result'}); nothing to compare."
    am, parts = ada["mean"], []
    single = summary.get("single")
    if j["single"] is None:
        parts.append("(1) single tower did not run: not judged")
    else:
        sm = single["mean"]
        parts.append(f"(1) {'met' if j['single'] else 'not met'}: AdaNAS {_pct(am)}% vs its single tower "
                     f"{_pct(sm)}% ({_ratio(am, sm)}x, at most {TARGET_SINGLE:.1f}x needed)"
                     + ("" if j["single"] else f"; about {(am - sm) * n_test:.1f} more misclassified test "
                        f"images per seed (of {n_test}): at this budget the tower trained alone for all of B "
                        f"beats what the search returned"))
    best = j["best_peer"]
    if best is None:
        parts.append("(2) no peer ran: not judged")
    else:
        pm = summary[best]["mean"]
        parts.append(f"(2) {'met' if j['peer'] else 'not met'}: {_ratio(am, pm)}x the best peer's "
                     f"({LABELS[best]}, {_pct(pm)}%; at most {TARGET_PEER:g}x needed"
                     + ("" if j["peer"] else f", i.e. {_pct(TARGET_PEER * pm)}%, about "
                        f"{(am - TARGET_PEER * pm) * n_test:.1f} fewer misclassified test images per seed")
                     + ")")
        pe = summary[best]["errors"]
        if max(ada["errors"]) >= min(pe) and min(ada["errors"]) <= max(pe) and len(ada["errors"]) > 1:
            parts.append(f"per-seed ranges overlap (AdaNAS {_pct(min(ada['errors']))}-{_pct(max(ada['errors']))}%, "
                         f"peer {_pct(min(pe))}-{_pct(max(pe))}%; one test image is {100 / n_test:.2f} points)")
    over = [f"{s} {max(v['over_budget']):.2f}x" for s, v in summary.items()
            if v["over_budget"] and max(v["over_budget"]) > 1.1]
    parts.append("every system within 1.1 B" if not over else f"over budget (max wall / B): {', '.join(over)}")
    not_run = [f"{s} ({'; '.join(v['reasons'])})" for s, v in summary.items() if v["ok"] < v["runs"]]
    if not_run:
        parts.append(f"not run in some seeds: {', '.join(not_run)}")
    return f"- **{name}**: " + "; ".join(parts) + "."


def overall_reading(judged: dict[str, dict[str, Any]]) -> str:
    """The two targets by the letter, over the sets of this invocation."""
    lines = []
    for key, label, need in (
            ("single", f"(1) AdaNAS's mean test error <= {TARGET_SINGLE:.1f}x its own best single tower's on at "
                       f"least {TARGET_SINGLE_SETS} of the {len(SETS)} sets", TARGET_SINGLE_SETS),
            ("peer", f"(2) <= {TARGET_PEER:g}x the best peer's on every set", len(SETS))):
        met = [s for s, j in judged.items() if j[key]]
        failed = [s for s, j in judged.items() if j[key] is False]
        missing = [s for s, j in judged.items() if j[key] is None]
        open_sets = len(SETS) - len(met) - len(failed)   # not run, or unjudgeable
        # Decided before every set is judged when the open sets cannot change the verdict.
        if len(met) >= need or len(failed) > len(SETS) - need:
            verdict = "met" if len(met) >= need else "not met"
            if open_sets:
                verdict += f" (whatever the {open_sets} set{'s' * (open_sets > 1)} not judged here would give)"
        else:
            verdict = (f"not judged ({len(judged)} of the {len(SETS)} sets ran" +
                       (f"; unjudgeable on {', '.join(missing)}" if missing else "") + ")")
        lines.append(f"{label}: **{verdict}**; met on {len(met)} of {len(judged)} "
                     f"({', '.join(met) or 'none'}).")
    return "Targets, by the letter: " + " ".join(lines)


def _epochs_note(rows: list[dict[str, Any]]) -> str:
    """AdaNAS's epochs per candidate per set, this run's against the peers' (reused) trials'."""
    out = []
    for name in ALL_SETS:
        mine = [r["epochs_per_candidate"] for r in rows
                if r["set"] == name and r["system"] == "adanas" and r["status"] == "ok"]
        theirs = [r["trial_epochs"] for r in rows if r["set"] == name and r.get("reused") == "peers"
                  and r.get("trial_epochs") is not None]
        if mine:
            out.append(f"{name}: median {statistics.median(mine):g} epochs per candidate"
                       + (f", the peers' trials {statistics.median(theirs):g}" if theirs else ""))
    return "; ".join(out)


def _split_note(rows: list[dict[str, Any]]) -> str:
    """Per set, the medians of AdaNAS's exploring seconds and of the tuners' search seconds."""
    out = []
    for name in ALL_SETS:
        mine = [r["exploring_seconds"] for r in rows if r["set"] == name and r["system"] == "adanas"
                and r["status"] == "ok" and r.get("exploring_seconds") is not None]
        theirs = [r["search_seconds"] for r in rows if r["set"] == name and r["system"] in PEERS
                  and r["status"] == "ok" and r.get("search_seconds") is not None]
        if mine and theirs:
            out.append(f"{name}: AdaNAS explored {statistics.median(mine):.1f} s, the tuners searched "
                       f"{statistics.median(theirs):.1f} s (medians)")
    return "; ".join(out)


def render(rows: list[dict[str, Any]], args, versions: dict[str, str], measured: str | None = None) -> str:
    sets = [s for s in ALL_SETS if any(r["set"] == s for r in rows)]
    seeds = sorted({r["seed"] for r in rows})
    overrides = "".join(f" --set {o}" for o in args.overrides)
    budgets = ", ".join(f"{s} {args.budgets[s]:g} s" for s in sets)
    tests = ", ".join(f"{s} {next(r['test_examples'] for r in rows if r['set'] == s)}" for s in sets)
    header = (
        f"Measured {measured or time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores ({cpu_model()}), no GPU; "
        f"tensorflow {versions['tensorflow']}, keras {versions['keras']}, keras-tuner {versions['keras-tuner']}, "
        f"autokeras {versions['autokeras']}, adanet {versions['adanet']} (own venv, tensorflow-cpu 2.15.1); "
        f"`{args.config}{overrides}` pointed at each set (benchmarks/suite_data.py, data seed {args.data_seed}), "
        f"seeds {' '.join(map(str, seeds))}. Budget B per system, set and seed: {budgets}; AdaNAS's "
        f"search.budget is B minus a reserve for its steps outside training "
        f"({', '.join(f'{s} {RESERVE[s]:g} s' for s in sets)}). Test error in % on the held-out test "
        f"split ({tests} images); ratios are AdaNAS's mean over the system's.")
    reused = sorted({(r["run_id"], r["date"][:10]) for r in rows if r.get("reused") is True})
    peers_reused = sorted({(r["run_id"], r["date"][:10]) for r in rows if r.get("reused") == "peers"})
    if reused and peers_reused:
        # A table put together from several invocations' rows: say which run each side's rows
        # come from, per set.
        def runs(systems):
            by_run: dict[tuple[str, str], list[str]] = {}
            for r in rows:
                if r["system"] in systems:
                    names = by_run.setdefault((r["run_id"], r["date"][:10]), [])
                    if r["set"] not in names:
                        names.append(r["set"])
            return "; ".join(f"run {run} ({day}): {', '.join(names)}" for (run, day), names in sorted(by_run.items()))
        header += (" The rows come from several runs, each checked to be on the same data digest and "
                   f"budgets: AdaNAS and its tower from {runs(('adanas', 'single'))}; the peers from "
                   f"{runs(tuple(PEERS))}. Each peer's trials were sized from the epochs per "
                   "candidate of the AdaNAS run it was run against, and its search share from "
                   "that run's exploring on the same set and seed (" + _split_note(rows) + ").")
        reused = peers_reused = []
    if reused:
        header += (" AdaNAS's rows and its tower's are reused from run " +
                   ", ".join(f"{run} ({day})" for run, day in reused) +
                   " (`--reuse`: same data digest and budgets, checked); the other systems ran in this "
                   "run, with that run's epochs per candidate.")
    if peers_reused:
        ada = [r for r in rows if r["system"] == "adanas" and r["status"] == "ok"]
        header += (" The peers' rows are reused from run " +
                   ", ".join(f"{run} ({day})" for run, day in peers_reused) +
                   " (`--peers-from`: same data digest and budgets, checked); AdaNAS and its tower ran "
                   "in this run (" + ", ".join(sorted({r['run_id'] for r in ada})) + "). The peers' "
                   "trials were as long as the earlier AdaNAS run's candidates; this run's AdaNAS "
                   "explored with the same shares (" + _epochs_note(rows) + ").")
    header += (" The tuners search for AdaNAS's exploration share of B and finish their best model for "
               "the rest, as AdaNAS finishes its best tower; adanet's iterations are sized from B.")
    lines = [header, "",
             ("| set | system | median test error % (min-max) | mean test error % | AdaNAS mean / system mean | "
              "wall s, median (min-max) | notes |"),
             "|---|---|---|---|---|---|---|"]
    readings, judged = [], {}
    for name in sets:
        mine = [r for r in rows if r["set"] == name]
        summary = summarize(mine)
        ada_mean = summary.get("adanas", {}).get("mean")
        for system, s in summary.items():
            if s["mean"] is None:
                reason = "; ".join(s["reasons"]) or "no result"
                lines.append(f"| {name} | {LABELS[system]} | did not run: {reason} | - | - | - | |")
                continue
            e, walls = s["errors"], s["walls"]
            ratio = "-" if ada_mean is None else _ratio(ada_mean, s["mean"])
            note = s["notes"][-1] if s["notes"] else ""
            if s["ok"] < s["runs"]:
                note = f"{s['ok']}/{s['runs']} seeds ran; " + note
            lines.append(f"| {name} | {LABELS[system]} | {_pct(statistics.median(e))} ({_pct(min(e))}-{_pct(max(e))}) | "
                         f"{_pct(s['mean'])} | {ratio} | {statistics.median(walls):.1f} ({min(walls):.1f}-{max(walls):.1f}) "
                         f"| {note} |")
        readings.append(set_reading(name, summary, mine[0]["test_examples"]))
        if name in SETS:
            judged[name] = judge(summary)
    quick = ("(--quick smoke run: 1 seed, a 1-iteration search, a budget of about 20 s and one peer per set; "
             "these numbers only show that every system runs, not how they compare.)\n\n" if args.quick else "")
    held = [s for s in sets if s not in SETS]
    lines += ["", quick + "Reading per set:", *readings, ""]
    if held:
        lines += [f"Held out ({', '.join(held)}): not in the suite and not counted in the targets below.", ""]
    lines += [overall_reading(judged) if judged or not held else "Targets: judged on the suite's sets, "
              f"none of which ran here ({', '.join(SETS)})."]
    return "\n".join(lines)


# --- main ------------------------------------------------------------------------------------------

def section(rows: list[dict[str, Any]]) -> tuple[str, str]:
    """The Markdown section a table goes to: the suite's, or the held-out sets' when only they ran
    (so a held-out run never replaces the suite table)."""
    return (HELD_OUT_MARK, HELD_OUT_TITLE) if all(r["set"] not in SETS for r in rows) else (MARK, TITLE)


def parse_budgets(items: list[str] | None, default: dict[str, float], parser) -> dict[str, float]:
    """`--budget 90` (every set) and/or `--budget textures=150 ...` on top of `default`."""
    out = dict(default)
    for item in items or []:
        name, sep, value = item.rpartition("=")
        try:
            seconds = float(value)
        except ValueError:
            parser.error(f"--budget {item!r}: expected SECONDS or SET=SECONDS")
        if sep and name not in ALL_SETS:
            parser.error(f"--budget {item!r}: unknown set {name!r} (sets: {', '.join(ALL_SETS)})")
        for s in ([name] if sep else ALL_SETS):
            out[s] = seconds
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sets", nargs="+", choices=ALL_SETS, default=SETS,
                   help="default: the suite's four; counts and angles are held out (reported apart from the targets)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--budget", nargs="+", metavar="[SET=]SECONDS",
                   help=f"wall-clock budget per system, set and seed (default: "
                        f"{', '.join(f'{k} {v:g}' for k, v in BUDGETS.items())}; --quick: {QUICK_BUDGET:g})")
    p.add_argument("--systems", nargs="+", choices=SYSTEMS,
                   help="systems to run (default: all; --quick: one peer per set, in turns); adanas always runs")
    p.add_argument("--config", default="pipelines/configs/digits.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for AdaNAS (after the set's dataset section)")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the generated sets (not of the searches)")
    p.add_argument("--suite-dir", type=Path, default=suite_data.SUITE_DIR, help="where the sets are made (cached)")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: 1 seed, 20 s budgets, a 1-iteration search, one peer per set, "
                        "no venv creation, writes only bench-out/")
    p.add_argument("--adanet-venv", type=Path, default=ADANET_VENV)
    p.add_argument("--results", type=Path, default=BENCH_OUT / "quality.jsonl",
                   help="raw per-system results, appended")
    p.add_argument("--write", type=Path, help="replace this benchmark's section in a Markdown file")
    p.add_argument("--reuse", type=Path, metavar="RESULTS",
                   help="do not rerun AdaNAS: take its rows (and its tower's) per set and seed from the latest "
                        "run in this results file that has them, checked to be on the same data and budget; "
                        "the peers run with that run's epochs per candidate")
    p.add_argument("--peers-from", type=Path, metavar="RESULTS",
                   help="do not rerun the peers: run AdaNAS and its tower (and any system named in --systems), "
                        "take the other peers' rows per set and seed from the latest run in this results file "
                        "that has them, checked to be on the same data and budget")
    p.add_argument("--table", type=Path, metavar="RESULTS",
                   help="run nothing: render the table (and --write it) from the rows of one invocation's "
                        "results file, e.g. after a run without --write")
    args = p.parse_args()
    if args.table:
        rows = read_rows(args.table, "--table")
        if not rows:
            p.error(f"--table {args.table}: no rows")
        args.budgets = parse_budgets(args.budget, BUDGETS, p)
        ada = next((r for r in reversed(rows) if r["system"] == "adanas"), rows[-1])
        args.config, args.overrides = ada["config"], ada["overrides"]
        versions = dict(ada["versions"])
        for r in rows:   # a reused side's versions where this run did not run that system
            versions.update({k: v for k, v in r["versions"].items() if versions.get(k) in (None, "not run")})
        table = render(rows, args, versions, measured=max(r["date"] for r in rows)[:10])
        print(table)
        if args.write:
            write_section(args.write, table, *section(rows))
        return
    if args.reuse and args.peers_from:
        p.error("--reuse and --peers-from: reuse one side or the other, not both")
    peer_rows = read_rows(args.peers_from, "--peers-from") if args.peers_from else []
    args.peers_reused = load_reused(peer_rows, tuple(PEERS)) if args.peers_from else None
    args.peers_adanas_epochs = {(r["set"], r["seed"]): r["epochs_per_candidate"] for r in peer_rows
                                if r["system"] == "adanas" and r["status"] == "ok"}
    if args.peers_from and args.systems is None:
        args.systems = ["single"]
    if args.reuse and args.systems and "single" in args.systems:
        p.error("--reuse: the single tower is retrained from the search's best member; reuse its rows too "
                "(leave single out of --systems)")
    args.reused = load_reused(read_rows(args.reuse, "--reuse")) if args.reuse else None
    rotate = args.quick and args.systems is None
    if args.quick:
        if args.write:
            p.error("--quick writes nothing outside bench-out/: drop --write")
        args.seeds = args.seeds[:1]
        args.overrides = QUICK_OVERRIDES + args.overrides
        args.results = BENCH_OUT / "quality-quick.jsonl"
    args.budgets = parse_budgets(args.budget, {s: QUICK_BUDGET for s in ALL_SETS} if args.quick else BUDGETS, p)
    systems = ["adanas"] + [s for s in SYSTEMS[1:] if s in (args.systems or SYSTEMS)
                            and not (args.reuse and s == "single")]
    os.chdir(ROOT)   # config paths and bench-out/ are relative to the repository

    # Import TensorFlow and Keras before any clock starts: no system pays for it in its budget.
    import keras
    import tensorflow as tf
    tf.get_logger().setLevel("ERROR")

    adanet_python = None
    if "adanet" in systems:
        adanet_python = ensure_adanet_venv(args.adanet_venv.resolve(), create=not args.quick)
    versions = {"tensorflow": tf.__version__, "keras": keras.__version__,
                "keras-tuner": _version("keras-tuner"), "autokeras": _version("autokeras"),
                "adanet": adanet_version(adanet_python) if "adanet" in systems else "not run"}

    run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    rows: list[dict[str, Any]] = []
    args.results.parent.mkdir(parents=True, exist_ok=True)

    def record(row: dict[str, Any]) -> None:
        row = {"run_id": run_id, "date": time.strftime("%Y-%m-%dT%H:%M:%S"), "config": args.config,
               "overrides": args.overrides, "versions": versions, **row}
        rows.append(row)
        with open(args.results, "a") as f:
            f.write(json.dumps(row, default=str) + "\n")

    for name in args.sets:   # made (or found cached) before any clock starts
        suite_data.make(name, args.suite_dir, args.data_seed)
    # --quick without --systems: AdaNAS, its tower and one peer per set, the peers in turns.
    peers = [s for s in systems if s in PEERS and (s != "adanet" or adanet_python is not None)]
    t0 = time.perf_counter()
    for k, name in enumerate(args.sets):
        mine = (["adanas", "single"] + ([peers[k % len(peers)]] if peers else [])) if rotate else systems
        for i, seed in enumerate(args.seeds):
            run_set_seed(args, name, seed, i, [s for s in mine if s in systems], adanet_python, record)
    progress(f"done in {time.perf_counter() - t0:.0f}s; raw results in {args.results} (run {run_id})")
    table = render(rows, args, versions)
    print(table)
    if args.write:
        write_section(args.write, table, *section(rows))


if __name__ == "__main__":
    main()
