"""Augmentation throughput: images/s of each policy through the training input pipeline.

Each AdaNAS policy runs through `adanas.augment.training_dataset`, the exact tf.data pipeline a
train task feeds to fit (shuffle, per-example stateless seeds, augmentation, one-hot targets,
batching, prefetch), on 32x32x3 uint8 images, batch 64. The baseline is what a Keras user would
write: `keras.layers.RandAugment` (2 ops, factor 0.5) mapped over batches of a
`tf.data.Dataset.from_tensor_slices` pipeline, and nothing else.

"Per core": each measurement runs in a fresh process whose CPU affinity is one core, so
TensorFlow's and tf.data's thread pools size themselves to it; a second set uses every core.
Policies alternate within each process; 3 processes (rounds) per setting; medians (min-max).
Target (issue 5): no policy slower than the baseline.

    python benchmarks/augmentation.py [--batches 60] [--rounds 3] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from environment import cpu_model  # noqa: E402
from orchestration import write_section  # noqa: E402

BATCH, N, SHAPE = 64, 4096, (32, 32, 3)
COMMON = {"flip": True, "pad_crop": 4, "cutout": 16, "randaugment_num_ops": 2,
          "randaugment_magnitude": 0.5}
POLICIES = {
    "none": {**COMMON, "policy": "none", "flip": False, "pad_crop": 0, "cutout": 0},
    "basic (flip, crop, cutout)": {**COMMON, "policy": "basic"},
    "autoaugment (+ flip, crop, cutout)": {**COMMON, "policy": "autoaugment"},
    "randaugment (+ flip, crop, cutout)": {**COMMON, "policy": "randaugment"},
}
BASELINE = "baseline: keras.layers.RandAugment in tf.data"


def _worker(cores: list[int], batches: int, round_: int) -> dict[str, float]:
    """Runs in its own process: pin to `cores`, then build and time each pipeline."""
    os.sched_setaffinity(0, set(cores))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    import tensorflow as tf

    from adanas import augment

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (N, *SHAPE), dtype=np.uint8)
    y = rng.integers(0, 10, N)

    def pipelines():
        for name, policy in POLICIES.items():
            yield name, lambda p=policy: augment.training_dataset(x, y, 10, BATCH, p, seed=0)

        def baseline():
            layer = keras.layers.RandAugment(value_range=(0, 255), num_ops=2, factor=0.5, seed=0)
            ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(N, seed=0).repeat()
            ds = ds.batch(BATCH, drop_remainder=True)
            ds = ds.map(lambda a, b: (layer(tf.cast(a, tf.float32), training=True), b),
                        num_parallel_calls=tf.data.AUTOTUNE)
            return ds.prefetch(tf.data.AUTOTUNE)
        yield BASELINE, baseline

    items = list(pipelines())
    if round_ % 2:
        items.reverse()
    out = {}
    for name, make in items:
        it = iter(make())
        for _ in range(5):  # warm-up: tracing, buffers filling
            next(it)
        t0 = time.perf_counter()
        for _ in range(batches):
            next(it)
        out[name] = batches * BATCH / (time.perf_counter() - t0)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, default=60)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--all-cores", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--write", type=Path)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        cores, round_ = json.loads(args.worker)
        print(json.dumps(_worker(cores, args.batches, round_)))
        return

    available = sorted(os.sched_getaffinity(0))
    settings = [("1 core", available[:1])] + ([(f"{len(available)} cores", available)] if args.all_cores else [])
    results = {label: {} for label, _ in settings}
    for r in range(args.rounds):
        for label, cores in settings:
            proc = subprocess.run([sys.executable, __file__, "--batches", str(args.batches),
                                   "--worker", json.dumps([cores, r])],
                                  capture_output=True, text=True, check=True)
            for name, ips in json.loads(proc.stdout.strip().splitlines()[-1]).items():
                results[label].setdefault(name, []).append(ips)
            print(f"round {r} {label}: done", file=sys.stderr, flush=True)

    import keras
    import tensorflow as tf
    one = results[settings[0][0]]
    base = statistics.median(one[BASELINE])
    rows = []
    for name in [*POLICIES, BASELINE]:
        cells = [f"{statistics.median(results[label][name]):,.0f} ({min(results[label][name]):,.0f}-"
                 f"{max(results[label][name]):,.0f})" for label, _ in settings]
        rows.append(f"| {name} | " + " | ".join(cells) + f" | {statistics.median(one[name]) / base:.2f}x |")
    slower = [n for n in POLICIES if statistics.median(one[n]) < base]
    slowest = min(POLICIES, key=lambda n: statistics.median(one[n]))
    verdict = (f"met: every policy is at least as fast as the baseline per core (slowest: {slowest}, "
               f"{statistics.median(one[slowest]) / base:.2f}x)" if not slower else
               f"not met: slower than the baseline per core: {', '.join(slower)}")
    table = "\n".join([
        f"Measured {time.strftime('%Y-%m-%d')} on {cpu_model()} ({len(available)} cores), TensorFlow "
        f"{tf.__version__}, Keras {keras.__version__}; {N:,} random 32x32x3 images, batch {BATCH}, "
        f"{args.batches} batches timed after 5 of warm-up, {args.rounds} rounds (fresh processes, "
        f"policies alternating), median (min-max) images/s.",
        "",
        "| pipeline | " + " | ".join(label for label, _ in settings) + " | vs baseline (1 core) |",
        "|---|" + "---|" * len(settings) + "---|",
        *rows,
        "",
        f"Reading: {verdict}. Cores to feed one H100 training NASNet(6@768): unknown, as no GPU "
        f"figure has been measured (`benchmarks/gpu_smoke.sh` prints one); it is that GPU's "
        f"images/s divided by the per-core figure of the chosen policy above.",
    ])
    print(table)
    if args.write:
        write_section(args.write, table, "augmentation", "Augmentation throughput")


if __name__ == "__main__":
    main()
