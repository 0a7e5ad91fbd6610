"""Training for a share of `search.budget`, driven by the clock (adanas.budget gives the shares).

A candidate with `budget_seconds` trains until its share is spent, less what its task still has
to do after training (logits and saving), and its learning rate follows the share's elapsed
fraction instead of a step count: the cosine reaches 0 when the time runs out, whatever pace the
device keeps. Why not a step plan: steps planned from a timed probe ran out of time on slow
tasks, which were then cut mid-cosine at a high learning rate (the finishing candidates of the
quality suite: cut at 77-80 s of ~80 s shares), or finished early on fast ones (searches used
0.62 B), and the probe cost every candidate a second model build and trace. NASNet's drop path
ramps with the same progress.

Progress is kept in the task's checkpoints (adanas.checkpoints), with the seconds the task had
spent: a resumed task (a preempted node's retry) is given what its earlier attempts left of the
share (adanas.train.earlier_seconds) and spreads what was left of its schedule over that.
"""

from __future__ import annotations

import logging
import math
import time

log = logging.getLogger(__name__)

# What a candidate task spends after training besides predicting its logits: building the
# servable model and saving it (measured: 0.5 s for the suite's CNN towers on 2 CPU cores).
SAVE_RESERVE_SECONDS = 0.75
# A logits pass costs about a third of a training step per image (forward only).
FORWARD_COST = 1 / 3
# Enough epochs for any share: training ends by the clock, never by the epoch count.
EPOCH_BOUND = 1_000_000


class Share:
    """The clock of one budgeted training. `start` (time.perf_counter) is when its task started:
    what the task spent before training (loading data, building and warm-starting the model)
    counts against the share. `predicted_images` are the images whose logits the task writes after
    training. `resumed_progress`: the schedule's progress at the checkpoint a resumed task starts
    from (0 otherwise)."""

    def __init__(self, start: float, budget_seconds: float, predicted_images: int, batch: int,
                 resumed_progress: float = 0.0):
        self.start, self.budget = start, float(budget_seconds)
        self.predicted_batches = predicted_images / batch
        self.resumed = min(max(float(resumed_progress), 0.0), 1.0)
        self.train_start: float | None = None

    def reserve(self, step_seconds: float | None) -> float:
        """Seconds kept for the work after training at `step_seconds` per training step (None:
        not measured yet)."""
        return self.predicted_batches * (step_seconds or 0.0) * FORWARD_COST + SAVE_RESERVE_SECONDS

    def end(self, step_seconds: float | None) -> float:
        """When training must stop (perf_counter) at that pace."""
        return self.start + self.budget - self.reserve(step_seconds)

    def progress(self, now: float, step_seconds: float | None) -> float:
        """The schedule's progress in [0, 1] at `now`: the resumed part, then the elapsed fraction
        of the training time this attempt has."""
        if self.train_start is None:
            self.train_start = now
        span = self.end(step_seconds) - self.train_start
        fraction = 1.0 if span <= 0 else (now - self.train_start) / span
        return min(1.0, self.resumed + (1.0 - self.resumed) * max(fraction, 0.0))


def progress_variable():
    """The schedule's progress, read inside the compiled train step and set by `callback`."""
    import keras
    return keras.Variable(0.0, dtype="float32", trainable=False, name="budget_progress")


def learning_rate(peak: float, warmup_steps: int, decay: bool, progress):
    """A learning-rate schedule: linear warm-up over `warmup_steps` steps, then `peak` times the
    cosine of `progress` (a variable in [0, 1]), or flat without `decay`."""
    import keras
    from keras import ops

    class TimedCosine(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            lr = ops.convert_to_tensor(peak, "float32")
            if warmup_steps:
                lr = lr * ops.minimum(1.0, ops.cast(step, "float32") / float(warmup_steps))
            if decay:
                p = ops.clip(ops.convert_to_tensor(progress), 0.0, 1.0)
                lr = lr * 0.5 * (1.0 + ops.cos(math.pi * p))
            return lr

        def get_config(self):
            return {"peak": peak, "warmup_steps": warmup_steps, "decay": decay}

    return TimedCosine()


def callback(name: str, share: Share, progress, drop_path=None):
    """A Keras callback that sets `progress` (and the drop path schedule's, if any) before each
    step from the clock, and stops training once the share's training time is spent. The pace
    that sizes the reserve is measured as training goes (steps after the first, which traces)."""
    import keras

    class Clock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.ends: list[float] = []

        def pace(self) -> float | None:
            # From the steps after the first (which traces the step function), once there are some.
            if len(self.ends) < 3:
                return None
            return (self.ends[-1] - self.ends[0]) / (len(self.ends) - 1)

        def on_train_batch_begin(self, batch, logs=None):
            p = share.progress(time.perf_counter(), self.pace())
            progress.assign(p)
            if drop_path is not None:
                drop_path.progress.assign(p)

        def on_train_batch_end(self, batch, logs=None):
            now = time.perf_counter()
            self.ends.append(now)
            if now >= share.end(self.pace()) and not self.model.stop_training:
                log.info("[%s] budget share spent %.1f s into the task: training ends after %d steps "
                         "(%.3f s each)", name, now - share.start, len(self.ends), self.pace() or 0.0)
                self.model.stop_training = True

    return Clock()
