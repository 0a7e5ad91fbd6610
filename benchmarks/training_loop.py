"""Training efficiency: images/s of a candidate's training loop vs a plain keras.Model.fit.

The AdaNAS side is the real train task (`adanas.train.train_candidate`): its own tf.data input
pipeline (shuffle, per-example stateless seeds, augmentation, one-hot targets), optimizer with
warm-up/cosine schedule and clipping, progress and BackupAndRestore callbacks. Its images/s is
what the task records (steps x batch / time inside fit). The peer is the same model (same
builder, same seed) compiled with the same optimizer and loss and fitted with `model.fit` on
`tf.data.Dataset.from_tensor_slices(x, y).shuffle().repeat().batch().prefetch()`, for the same
steps and batch size, timed the same way (fit wall time, tracing included in both).

Two AdaNAS figures per workload: augmentation off (same data as the peer: the machinery's cost)
and on (the configured policy: what a search actually pays). Target (issue 5): >= 0.95x with
augmentation off. A and B alternate in each round, in one process.

    python benchmarks/training_loop.py [--scale 1.0] [--rounds 3] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from environment import cpu_model  # noqa: E402
from orchestration import write_section  # noqa: E402

from adanas import artifacts, data  # noqa: E402
from adanas.config import AugmentationConfig, DatasetConfig, TrainingConfig, load_config  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

# (label, dataset, family, arch, batch, augmentation, steps per run: a run of several seconds,
# long enough that this machine's second-to-second noise averages out)
WORKLOADS = [
    ("digits 8x8x1, cnn(2@16)", "digits", "cnn", {"num_layers": 2, "filters": 16}, 32,
     AugmentationConfig(policy="basic", flip=False, pad_crop=1, cutout=2), 1000),
    ("CIFAR-shaped 32x32x3, cnn(3@32)", "cifar-shaped", "cnn", {"num_layers": 3, "filters": 32}, 64,
     AugmentationConfig(policy="basic", flip=True, pad_crop=4, cutout=16), 200),
]


def _dataset(kind: str, aug: AugmentationConfig, out: Path) -> Path:
    if kind == "digits":
        data.prepare_step(DatasetConfig(name="digits"), aug, out)
    else:  # random pixels: only the throughput matters here
        rng = np.random.default_rng(0)
        sizes = {"train": 5000, "validation": 500, "test": 500}
        splits = data.Splits({k: rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8) for k, n in sizes.items()},
                             {k: rng.integers(0, 10, n) for k, n in sizes.items()}, 10,
                             [str(i) for i in range(10)], "synthetic")
        data.write_splits(splits, aug, out, "cifar-shaped")
    return out


def _spec(family, arch):
    return {"name": "bench", "family": family, "arch": arch, "arch_str": f"{family}{arch}",
            "seed": 0, "iteration": 0, "move": "base"}


def adanas_ips(spec, cfg: TrainingConfig, dataset_dir: Path, work: Path) -> float:
    from adanas import train
    out = work / "adanas-out"
    shutil.rmtree(out, ignore_errors=True)
    return train.train_candidate(spec, cfg, dataset_dir, out)["images_per_second"]


def plain_ips(spec, cfg: TrainingConfig, dataset_dir: Path) -> float:
    import keras
    import tensorflow as tf

    from adanas import models, train
    keras.utils.set_random_seed(spec["seed"])
    meta = artifacts.dataset_meta(dataset_dir)
    x, y = artifacts.dataset_split(dataset_dir, "train")
    c = meta["num_classes"]
    batch = min(cfg.batch_size, len(x))
    steps_per_epoch = min(len(x) // batch, cfg.max_iteration_steps)
    epochs = -(-cfg.max_iteration_steps // steps_per_epoch)
    model = models.build_model(spec, meta["image_shape"], c, cfg.weight_decay)
    model.compile(optimizer=train.make_optimizer(cfg, epochs * steps_per_epoch),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True,
                                                            label_smoothing=cfg.label_smoothing))
    ds = (tf.data.Dataset.from_tensor_slices((x.astype(np.float32), tf.one_hot(y, c)))
          .shuffle(len(x), seed=0).repeat().batch(batch, drop_remainder=True)
          .prefetch(tf.data.AUTOTUNE))
    t0 = time.perf_counter()
    model.fit(ds, epochs=epochs, steps_per_epoch=steps_per_epoch, verbose=0, shuffle=False)
    return epochs * steps_per_epoch * batch / (time.perf_counter() - t0)


def _fmt(xs):
    return f"{statistics.median(xs):,.0f} ({min(xs):,.0f}-{max(xs):,.0f})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=float, default=1.0, help="multiply each workload's steps")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--write", type=Path)
    args = p.parse_args()
    import keras
    import tensorflow as tf

    base = load_config(ROOT / "pipelines" / "configs" / "digits.yaml").training
    rows, ratios = [], []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for label, kind, family, arch, batch, aug, steps in WORKLOADS:
            steps = max(1, int(steps * args.scale))
            spec = _spec(family, arch)
            dirs = {"off": _dataset(kind, AugmentationConfig(policy="none", flip=False, pad_crop=0, cutout=0),
                                    work / f"{kind}-off"),
                    "on": _dataset(kind, aug, work / f"{kind}-on")}
            cfg = TrainingConfig(**{**base.__dict__, "batch_size": batch,
                                    "max_iteration_steps": steps, "train_epochs": None})
            got = {"plain": [], "off": [], "on": []}
            for r in range(args.rounds):
                order = ["plain", "off", "on"] if r % 2 == 0 else ["on", "off", "plain"]
                for who in order:
                    keras.backend.clear_session()
                    ips = plain_ips(spec, cfg, dirs["off"]) if who == "plain" else \
                        adanas_ips(spec, cfg, dirs[who], work)
                    got[who].append(ips)
                    print(f"{label} round {r} {who}: {ips:,.0f} img/s", file=sys.stderr, flush=True)
            ratio_off = statistics.median(got["off"]) / statistics.median(got["plain"])
            ratio_on = statistics.median(got["on"]) / statistics.median(got["plain"])
            ratios.append(ratio_off)
            rows.append(f"| {label} | {batch} | {steps} | {_fmt(got['plain'])} | {_fmt(got['off'])} | "
                        f"{_fmt(got['on'])} | **{ratio_off:.2f}x** | {ratio_on:.2f}x |")
    worst = min(ratios)
    verdict = ("met" if worst >= 0.95 else "not met") + f": worst ratio {worst:.3f}x (target >= 0.95x)"
    table = "\n".join([
        f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores ({cpu_model()}), "
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}; "
        f"{args.rounds} rounds alternating A/B, median (min-max) images/s, seed 0.",
        "",
        "| workload | batch | steps per run | plain `model.fit` | AdaNAS train task, augmentation off | "
        "AdaNAS, augmentation on | ratio (off) | ratio (on) |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Reading: {verdict}.",
    ])
    print(table)
    if args.write:
        write_section(args.write, table, "training-loop", "Training loop vs plain model.fit")


if __name__ == "__main__":
    main()
