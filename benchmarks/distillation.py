"""Distillation cost: training step time with adaptive KD from an ensemble of 1 vs 5 members.

AdaNAS distils from cached teacher logits (one row per training example, written by the select
step), so a step should cost the same whatever the ensemble's size (target: <= 1.1x at 5 members
vs 1). For contrast, the design of the original code, which re-ran every member on every step,
is estimated as the cached step plus the members' forward pass on the same batch.

Real `adanas.train` code path: the same loss, dataset and optimizer as a training task.
A and B alternate in one run (1, 5, then 5, 1, ...), each from a clean Keras session; medians of
per-step times after warm-up.

    python benchmarks/distillation.py [--steps 60] [--rounds 3] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from orchestration import write_section  # noqa: E402

N, C, SHAPE, BATCH = 2048, 10, (32, 32, 3), 32
ARCH = {"num_layers": 3, "filters": 32, "kernel_size": 3, "dense_units": 0, "dropout": 0.0}


def _model(name, seed):
    import keras

    from adanas import models
    keras.utils.set_random_seed(seed)
    return models.build_model({"name": name, "family": "cnn", "arch": ARCH}, SHAPE, C, 5e-4)


def _step_times(x, y, teacher, steps: int) -> list[float]:
    import keras

    from adanas import augment, train
    from adanas.config import TrainingConfig
    cfg = TrainingConfig(max_iteration_steps=steps, train_epochs=None, knowledge_distillation="adaptive")
    model = _model("student", 0)
    model.compile(optimizer=train.make_optimizer(cfg, steps),
                  loss=train.subnetwork_loss(C, 0.1, True, 1.0), jit_compile=False)
    policy = {"policy": "basic", "flip": True, "pad_crop": 4, "cutout": 16,
              "randaugment_num_ops": 2, "randaugment_magnitude": 0.5}
    ds = augment.training_dataset(x, y, C, BATCH, policy, seed=0, teacher=teacher)
    times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.t = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter() - self.t)

    model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[Timer()])
    return times[10:]  # after tracing and warm-up


def _members_forward(members, x) -> float:
    """Seconds for all members' forward pass on one batch (the naive design's extra work)."""
    batch = x[:BATCH]
    for m in members:
        m.predict_on_batch(batch)
    t = time.perf_counter()
    for _ in range(5):
        for m in members:
            m.predict_on_batch(batch)
    return (time.perf_counter() - t) / 5


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--write", type=Path)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (N, *SHAPE), dtype=np.uint8)
    y = rng.integers(0, C, N)
    members = [_model(f"m{i}", 100 + i) for i in range(5)]
    # What the select step caches: each member's logits on the training images, combined.
    member_logits = np.stack([m.predict(x, batch_size=256, verbose=0) for m in members])
    teachers = {1: member_logits[:1].mean(0), 5: member_logits.mean(0)}
    cached = {1: [], 5: []}
    import keras
    for r in range(args.rounds):
        # Alternate which size goes first, and start each from a clean Keras session, so neither
        # pays for the order or for the graphs the other left behind.
        for size in ((1, 5) if r % 2 == 0 else (5, 1)):
            keras.backend.clear_session()
            cached[size] += _step_times(x, y, teachers[size], args.steps)
            print(f"round {r + 1}: {size} member(s) {1000 * statistics.median(cached[size]):.1f} ms/step",
                  file=sys.stderr, flush=True)
    step = {k: statistics.median(v) for k, v in cached.items()}
    forward = {k: _members_forward(members[:k], x) for k in (1, 5)}
    naive = {k: step[k] + forward[k] for k in (1, 5)}
    table = "\n".join([
        f"Measured {time.strftime('%Y-%m-%d')} on this machine's CPUs; cnn(3@32) student on 32x32x3 "
        f"images, batch {BATCH}, {args.rounds} alternating rounds of {args.steps} steps per size; "
        f"median ms per step after warm-up.",
        "",
        "| design | 1 member | 5 members | ratio 5 / 1 |",
        "|---|---|---|---|",
        f"| AdaNAS: cached teacher logits (measured) | {1000 * step[1]:.1f} | {1000 * step[5]:.1f} | "
        f"{step[5] / step[1]:.2f}x |",
        f"| re-running the members each step (estimated: cached step + members' forward) | "
        f"{1000 * naive[1]:.1f} | {1000 * naive[5]:.1f} | {naive[5] / naive[1]:.2f}x |",
    ])
    print(table)
    if args.write:
        write_section(args.write, table, "distillation", "Distillation cost vs ensemble size")


if __name__ == "__main__":
    main()
