"""The original `adanet` 0.9.0 AutoEnsembleEstimator as a peer of AdaNAS (benchmarks/quality.py).

This file runs inside its own virtual environment (tensorflow-cpu 2.15.1, adanet 0.9.0 installed
with --no-deps; benchmarks/quality.py creates it), never inside the project's venv: adanet needs
TF 1-style estimators that TF 2.21 no longer has. It must not import the `adanas` library either:
it reads plain .npy files that quality.py wrote from the same Dataset artifact AdaNAS trained on.

    python adanet_peer.py --job JOB_DIR

JOB_DIR holds {train,validation,test}_{x,y}.npy (x: uint8 [N, H, W, C] raw pixels, y: int64 [N])
and job.json: seed, budget_seconds, eval_reserve_seconds, iterations, batch_size, num_classes,
augmentation (the policy recorded in the Dataset artifact). The result is printed on stdout as
one line `ADANET_RESULT {json}`; TensorFlow's logging goes to stderr (--verbose: INFO, timestamped).

Method, kept close to what AdaNAS does on the same data:
  - candidate pool (the same each iteration; AutoEnsembleEstimator cannot grow architectures):
    cnn(2@16) (AdaNAS's base tower), cnn(4@24) (about the size AdaNAS grows to) and dnn(2@128);
    conv-BN-ReLU blocks, a 2x2 max-pool after every second block, global average pooling, logits;
    BatchNormalization momentum 0.9 (0.99 still lags the weights after a few hundred steps);
  - the iterations are sized from the budget, as a user with B seconds would size them: `iterations`
    (AdaNAS's number of iterations) share what is left of B after a calibration, the first
    CALIBRATION_STEPS steps of iteration 0, which time a training step; they stay in the model
    (the real estimator resumes from them). Every candidate trains max_iteration_steps steps per
    iteration, those that fill the iteration's share at the calibrated pace with MARGIN to spare
    for the frozen members' cost in later iterations, batch 32,
    Adam 1e-3, on the same on-the-fly augmentation (pad-and-crop, cutout, flip
    as the recorded policy says; images scaled to [-1, 1] inside the model, as AdaNAS does);
  - the ensemble is the default uniform average of the chosen subnetworks; every iteration adds
    one (force_grow, as AdaNAS) and keeps the candidate ensemble with the lowest loss on the
    validation split (adanet.Evaluator), as AdaNAS selects by validation loss. The test split is
    only used for the final score;
  - the budget: the clock starts after the imports (the in-process systems import TensorFlow
    before their clocks start too); training ends `eval_reserve_seconds` before the budget so the
    final predict (a graph rebuild) fits in it. DeadlineHook stops at that deadline, or one step
    before an iteration ends when the next iteration could not finish in time (see the hook).
    Whatever the estimator holds then is scored on test.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import types
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python.checkpoint import graph_view  # noqa: E402

# adanet 0.9.0 imports `tensorflow.python.training.tracking.graph_view`, a module TF moved to
# tensorflow.python.checkpoint in 2.11+. Alias the old name to the new module before importing it.
_tracking = types.ModuleType("tensorflow.python.training.tracking")
_tracking.graph_view = graph_view
sys.modules["tensorflow.python.training.tracking"] = _tracking
sys.modules["tensorflow.python.training.tracking.graph_view"] = graph_view

import adanet  # noqa: E402

# The budget clock starts here, after the imports (see the module docstring).
CLOCK_START = time.monotonic()

CUTOUT_FILL = 127.5  # mid-grey: 0 after scaling to [-1, 1], as in AdaNAS
CALIBRATION_STEPS = 30   # the pace is timed over the last 20 (the first ones trace and warm up)
MARGIN = 0.85            # of an iteration's share planned as training: later iterations also run
                         # the frozen members, and a step's time varies
REBUILD = 3.0            # the time between two iterations before one is measured, in start-ups


class StepTimer(tf.estimator.SessionRunHook):
    """Times the steps of the calibration run: seconds per step over all but the first 10."""

    def __init__(self):
        self.times: list[float] = []

    def after_run(self, run_context, run_values):
        self.times.append(time.monotonic())

    def pace(self) -> float:
        warm = self.times[10:]
        return (warm[-1] - warm[0]) / max(1, len(warm) - 1)


class DeadlineHook(tf.estimator.SessionRunHook):
    """Ends training within the budget.

    - hard: stops at the first step that ends after the deadline;
    - budget-aware: one step before an iteration would end, it stops if the next iteration
      (adanet's bookkeeping and graph rebuild between iterations, plus the same training time)
      could not finish before the deadline. Stopping one step early skips that bookkeeping, so
      no untrained member joins the ensemble; the last iteration's candidate is then chosen by
      adanet's running AdaNet loss instead of the validation evaluator.

    The time between iterations is measured (end of one training session to the first step of
    the next; adanet's one-step growing-phase session in between is told apart by its length);
    before the first transition it is estimated as 3x the start-up time to the first step
    (measured here: about 4 s of start-up, about 11 s between iterations).
    """

    def __init__(self, deadline: float, iteration_steps: int, done: int = 0):
        self.deadline, self.m = deadline, iteration_steps
        self.done = done                     # steps of the current iteration already trained (calibration)
        self.stop = ""                       # why training stopped early, if it did
        self.between: float | None = None
        self.first_step_ever: float | None = None
        self.last_train_end: float | None = None

    def after_create_session(self, session, coord):
        self.count, self.first, self.last = 0, None, None

    def after_run(self, run_context, run_values):
        now = time.monotonic()
        self.count += 1
        if self.count == 1:
            self.first = now
            if self.first_step_ever is None:
                self.first_step_ever = now
        elif self.count == 2 and self.last_train_end is not None and self.between is None:
            self.between = self.first - self.last_train_end
        self.last = now
        if now >= self.deadline:
            self.stop = "deadline"
            run_context.request_stop()
        elif self.count == self.m - self.done - 1 and self.count >= 2:
            between = self.between if self.between is not None else REBUILD * (self.first_step_ever - CLOCK_START)
            train_time = (now - self.first) * self.m / (self.count - 1)
            if now + between + train_time > self.deadline:
                self.stop = "next iteration would not fit"
                run_context.request_stop()

    def end(self, session):
        if self.count >= 2:   # a training session, not the one-step growing phase
            self.last_train_end = self.last
            self.done = 0


def augment(image, policy: dict, shape):
    """The recorded AdaNAS `basic` policy (flip, pad-and-crop, cutout) in TF ops."""
    h, w, c = shape
    if policy.get("policy", "none") == "none":
        return image
    if policy.get("flip"):
        image = tf.image.random_flip_left_right(image)
    p = int(policy.get("pad_crop", 0))
    if p:
        image = tf.pad(image, [[p, p], [p, p], [0, 0]])
        image = tf.image.random_crop(image, [h, w, c])
    size = int(policy.get("cutout", 0))
    if size:
        cy = tf.random.uniform([], 0, h, dtype=tf.int32)
        cx = tf.random.uniform([], 0, w, dtype=tf.int32)
        rows, cols = tf.range(h)[:, None], tf.range(w)[None, :]
        inside = ((rows >= cy - size // 2) & (rows < cy - size // 2 + size)
                  & (cols >= cx - size // 2) & (cols < cx - size // 2 + size))
        image = tf.where(inside[..., None], tf.constant(CUTOUT_FILL, image.dtype), image)
    return image


def input_fn(x, y, batch_size, training, policy=None, seed=0):
    def fn():
        ds = tf.data.Dataset.from_tensor_slices(({"x": x.astype(np.float32)}, y.astype(np.int32)))
        if training:
            ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).repeat()
            ds = ds.map(lambda f, l: ({"x": augment(f["x"], policy, x.shape[1:])}, l))
            return ds.batch(batch_size, drop_remainder=True).prefetch(2)
        return ds.batch(256)
    return fn


def cnn_logits(x, training, num_layers, filters, num_classes):
    size = int(x.shape[1])
    for i in range(num_layers):
        x = tf.compat.v1.layers.conv2d(x, filters, 3, padding="same", use_bias=False)
        # Momentum 0.9 rather than 0.99: with a few hundred steps per iteration the 0.99 moving
        # statistics still lag the weights (the same choice as for the KerasTuner peers).
        x = tf.compat.v1.layers.batch_normalization(x, momentum=0.9, training=training)
        x = tf.nn.relu(x)
        if i % 2 == 1 and i < num_layers - 1 and size >= 4:
            x = tf.compat.v1.layers.max_pooling2d(x, 2, 2)
            size, filters = size // 2, filters * 2
    x = tf.reduce_mean(x, axis=[1, 2])
    return tf.compat.v1.layers.dense(x, num_classes)


def dnn_logits(x, training, num_layers, units, num_classes):
    x = tf.compat.v1.layers.flatten(x)
    for _ in range(num_layers):
        x = tf.compat.v1.layers.dense(x, units, activation=tf.nn.relu)
    return tf.compat.v1.layers.dense(x, num_classes)


def subestimator(head, config, build, num_classes, **arch):
    """A tf.estimator.Estimator whose spec the AutoEnsembleEstimator takes its logits from."""

    def model_fn(features, labels, mode, config):
        training = mode == tf.estimator.ModeKeys.TRAIN
        x = features["x"] / 127.5 - 1.0   # raw pixels -> [-1, 1], as AdaNAS's models do
        logits = build(x, training, num_classes=num_classes, **arch)
        optimizer = tf.compat.v1.train.AdamOptimizer(1e-3)

        def train_op_fn(loss):
            # Batch-norm moving averages are update ops of the v1 layers.
            with tf.control_dependencies(tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)):
                return optimizer.minimize(loss, global_step=tf.compat.v1.train.get_global_step())

        return head.create_estimator_spec(features=features, mode=mode, logits=logits,
                                          labels=labels, train_op_fn=train_op_fn)

    return tf.estimator.Estimator(model_fn=model_fn, config=config)


def chosen_architecture(model_dir: Path) -> list[str]:
    """Subnetwork names of the last frozen ensemble (adanet writes architecture-<t>.json)."""
    files = sorted(model_dir.glob("architecture-*.json"),
                   key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    if not files:
        return []
    record = json.loads(files[-1].read_text())
    return [s.get("builder_name", "?") for s in record.get("subnetworks", [])]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--job", type=Path, required=True)
    p.add_argument("--verbose", action="store_true", help="TensorFlow's INFO log, timestamped, on stderr")
    args = p.parse_args()
    if args.verbose:
        import logging
        tf.get_logger().setLevel(logging.INFO)
        for handler in tf.get_logger().handlers:
            handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    job = json.loads((args.job / "job.json").read_text())
    split = {s: (np.load(args.job / f"{s}_x.npy"), np.load(args.job / f"{s}_y.npy"))
             for s in ("train", "validation", "test")}
    seed, batch, n_classes = job["seed"], job["batch_size"], job["num_classes"]
    # Training stops `eval_reserve_seconds` before the budget ends, so the final predict (which
    # rebuilds the graph) fits in the budget too, as AdaNAS's export and evaluation do.
    deadline = CLOCK_START + job["budget_seconds"] - job.get("eval_reserve_seconds", 0.0)
    tf.compat.v1.set_random_seed(seed)
    np.random.seed(seed)

    head = tf.estimator.MultiClassHead(n_classes=n_classes)
    model_dir = args.job / "model"
    run_config = tf.estimator.RunConfig(model_dir=str(model_dir), tf_random_seed=seed,
                                        log_step_count_steps=1000, save_summary_steps=100_000)

    def pool(config):
        return {
            "cnn_2x16": subestimator(head, config, cnn_logits, n_classes, num_layers=2, filters=16),
            "cnn_4x24": subestimator(head, config, cnn_logits, n_classes, num_layers=4, filters=24),
            "dnn_2x128": subestimator(head, config, dnn_logits, n_classes, num_layers=2, units=128),
        }

    x_val, y_val = split["validation"]
    x_tr, y_tr = split["train"]
    train_input = input_fn(x_tr, y_tr, batch, True, job["augmentation"], seed)

    def make_estimator(max_iteration_steps):
        return adanet.AutoEnsembleEstimator(
            head=head,
            candidate_pool=pool,
            max_iteration_steps=max_iteration_steps,
            # Selection on the validation split (AdaNAS's choice too), never on test.
            evaluator=adanet.Evaluator(input_fn=input_fn(x_val, y_val, batch, False)),
            force_grow=True,   # AdaNAS's default: every iteration adds a member
            enable_ensemble_summaries=False,
            enable_subnetwork_summaries=False,
            config=run_config,
        )

    t_train = time.monotonic()
    # Calibration: iteration 0's first steps, timed; the estimator below resumes from them.
    timer = StepTimer()
    make_estimator(10 ** 9).train(input_fn=train_input, hooks=[timer], max_steps=CALIBRATION_STEPS)
    pace, n = timer.pace(), job["iterations"]
    startup = timer.times[0] - t_train
    # What is left, less the graph rebuilds between iterations (estimated as the DeadlineHook
    # does before it has measured one), shared by the iterations.
    share = (deadline - time.monotonic() - (n - 1) * REBUILD * startup) / n
    steps = max(CALIBRATION_STEPS + 10, int(MARGIN * share / pace))
    hook = DeadlineHook(deadline, steps, done=CALIBRATION_STEPS)
    make_estimator(steps).train(input_fn=train_input, hooks=[hook])
    train_seconds = time.monotonic() - t_train
    estimator = make_estimator(steps)

    # One predict call over test + validation: each call rebuilds the graph and restores the
    # checkpoint (seconds here), and that time counts against the budget.
    x_te, y_te = split["test"]
    x_both = np.concatenate([x_te, x_val])
    logits = np.stack([p["logits"] for p in estimator.predict(
        input_fn(x_both, np.zeros(len(x_both), np.int64), batch, False), yield_single_examples=True)])
    wrong = np.argmax(logits, axis=1) != np.concatenate([y_te, y_val])
    architecture = chosen_architecture(model_dir)
    result = {
        "test_error": float(np.mean(wrong[:len(y_te)])),
        "validation_error": float(np.mean(wrong[len(y_te):])),
        "wall": time.monotonic() - CLOCK_START,   # after the imports, like the in-process systems
        "train_seconds": train_seconds,
        "stopped": hook.stop,
        "max_iteration_steps": steps,
        "seconds_per_step": pace,   # measured by the calibration
        "between_iterations_seconds": hook.between,
        # Iterations whose bookkeeping finished (each writes architecture-<t>.json). When training
        # stopped inside an iteration, the scored model also holds that iteration's best candidate.
        "iterations_completed": len(list(model_dir.glob("architecture-*.json"))),
        "architecture": architecture,
        "versions": {"tensorflow": tf.__version__, "adanet": adanet.__version__},
    }
    print("ADANET_RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
