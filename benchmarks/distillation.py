"""Distillation: step time with adaptive KD from an ensemble of 1 vs 5 members, and quality,
for both teachers (`training.distillation_teacher`).

`live` (the paper's, the default): the frozen members run inside the training step on the same
augmented batch as the student (adanas.train.with_teacher), so a step costs more as the
ensemble grows. `cached`: teacher logits cached once per un-augmented training example by the
select step, so a step costs the same at any size (target of the earlier issue: <= 1.1x at 5
members vs 1), but the teacher sees other images than the student.

Step time: the real `adanas.train` loss, dataset and optimizer; sizes alternate in each round
(1, 5, then 5, 1, ...), each from a clean Keras session; medians of per-step times after warm-up.
Quality (`--quality-seeds N`): whole in-process searches (adanas.search.run_search) on the
embedded digits with adaptive distillation, live vs cached teacher, N seeds each.

    python benchmarks/distillation.py [--steps 60] [--rounds 4] [--quality-seeds 3] [--write BENCHMARKS.md]
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
    """`teacher`: cached logits [N, C], or member model files (live teacher)."""
    import keras

    from adanas import augment, train
    from adanas.config import TrainingConfig
    from adanas.ensemble_model import combined_model
    cfg = TrainingConfig(max_iteration_steps=steps, train_epochs=None, knowledge_distillation="adaptive")
    live = isinstance(teacher, list)
    model = _model("student", 0)
    if live:
        model = train.with_teacher(model, combined_model(teacher, SHAPE, name="teacher"))
    model.compile(optimizer=train.make_optimizer(cfg, steps),
                  loss=train.subnetwork_loss(C, 0.1, True, 1.0, live=live), jit_compile=False)
    policy = {"policy": "basic", "flip": True, "pad_crop": 4, "cutout": 16,
              "randaugment_num_ops": 2, "randaugment_magnitude": 0.5}
    ds = augment.training_dataset(x, y, C, BATCH, policy, seed=0, teacher=None if live else teacher)
    times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.t = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter() - self.t)

    model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[Timer()])
    return times[10:]  # after tracing and warm-up


def _quality(seeds: list[int]) -> dict[str, list[float]]:
    """Test error (%) of whole digits searches distilling from a live vs a cached teacher."""
    import tempfile

    from adanas.config import load_config
    from adanas.search import run_search
    root = Path(__file__).resolve().parent.parent
    out: dict[str, list[float]] = {"live": [], "cached": []}
    for seed in seeds:
        for teacher in out:
            cfg = load_config(root / "pipelines" / "configs" / "digits.yaml", [
                f"seed={seed}", "training.knowledge_distillation=adaptive",
                f"training.distillation_teacher={teacher}"])
            with tempfile.TemporaryDirectory() as tmp:
                report, _ = run_search(cfg, tmp)
            out[teacher].append(100 * report["test_error"])
            print(f"seed {seed} {teacher}: {out[teacher][-1]:.2f}%", file=sys.stderr, flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--quality-seeds", type=int, default=0)
    p.add_argument("--write", type=Path)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (N, *SHAPE), dtype=np.uint8)
    y = rng.integers(0, C, N)
    import tempfile

    import keras
    members = [_model(f"m{i}", 100 + i) for i in range(5)]
    tmp = tempfile.TemporaryDirectory()
    paths = [Path(tmp.name) / f"m{i}.keras" for i in range(5)]
    for m, path in zip(members, paths):
        m.save(path)
    # What the select step caches: each member's logits on the training images, combined.
    member_logits = np.stack([m.predict(x, batch_size=256, verbose=0) for m in members])
    teachers = {("cached", 1): member_logits[:1].mean(0), ("cached", 5): member_logits.mean(0),
                ("live", 1): paths[:1], ("live", 5): paths}
    times: dict[tuple[str, int], list[float]] = {k: [] for k in teachers}
    for r in range(args.rounds):
        # Alternate which size goes first, and start each from a clean Keras session, so neither
        # pays for the order or for the graphs the other left behind.
        for kind in ("cached", "live"):
            for size in ((1, 5) if r % 2 == 0 else (5, 1)):
                keras.backend.clear_session()
                times[kind, size] += _step_times(x, y, teachers[kind, size], args.steps)
                print(f"round {r + 1}: {kind} {size} member(s) "
                      f"{1000 * statistics.median(times[kind, size]):.1f} ms/step",
                      file=sys.stderr, flush=True)
    step = {k: statistics.median(v) for k, v in times.items()}
    rows = [f"| {label} | {1000 * step[kind, 1]:.1f} | {1000 * step[kind, 5]:.1f} | "
            f"{step[kind, 5] / step[kind, 1]:.2f}x |"
            for kind, label in (("live", "live teacher: the members run in the step (the paper's; default)"),
                                ("cached", "cached teacher logits (select step, un-augmented images)"))]
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on this machine's CPUs; cnn(3@32) student on 32x32x3 "
        f"images, batch {BATCH}, {args.rounds} alternating rounds of {args.steps} steps per size "
        f"and teacher; median ms per step after warm-up (all measured).",
        "",
        "| teacher | 1 member | 5 members | ratio 5 / 1 |",
        "|---|---|---|---|",
        *rows,
    ]
    if args.quality_seeds:
        q = _quality(list(range(args.quality_seeds)))
        lines += [
            "",
            f"Quality: digits config with adaptive distillation, whole in-process searches, seeds "
            f"0-{args.quality_seeds - 1}; test error %, mean (min-max).",
            "",
            "| teacher | test error % |",
            "|---|---|",
            *(f"| {k} | {statistics.mean(v):.2f} ({min(v):.2f}-{max(v):.2f}) |" for k, v in q.items()),
        ]
    table = "\n".join(lines)
    print(table)
    if args.write:
        write_section(args.write, table, "distillation", "Distillation cost vs ensemble size")


if __name__ == "__main__":
    main()
