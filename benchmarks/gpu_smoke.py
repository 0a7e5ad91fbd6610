"""GPU smoke test: one NASNet-A candidate trained for a few hundred steps, bf16 + XLA vs fp32
without XLA, images/s of each (run on a machine with one NVIDIA GPU; `benchmarks/gpu_smoke.sh`).

Uses the real training task code (`adanas.train.train_candidate`) on CIFAR-shaped random data
written as a Dataset artifact, so it needs no network and no dataset download.

    python benchmarks/gpu_smoke.py [--steps 300] [--arch 6@768] [--batch 32] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from orchestration import write_section  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--arch", default="6@768", help="NASNet N@F")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--write", type=Path)
    args = p.parse_args()

    import tensorflow as tf

    from adanas import data
    from adanas.config import AugmentationConfig, TrainingConfig
    from adanas.train import train_candidate

    gpus = tf.config.list_physical_devices("GPU")
    name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU") if gpus else "no GPU"
    n, f = (int(v) for v in args.arch.split("@"))
    rng = np.random.default_rng(0)
    size = args.batch * 20
    x = {s: rng.integers(0, 255, (size, 32, 32, 3), dtype=np.uint8) for s in data.SPLITS}
    y = {s: rng.integers(0, 10, size) for s in data.SPLITS}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ds = Path(tmp) / "data"
        data.write_splits(data.Splits(x, y, 10, [str(i) for i in range(10)], "random"),
                  AugmentationConfig(), ds, "random-cifar-shaped")
        for label, bf16, xla in (("fp32, no XLA", False, False), ("bf16 + XLA", True, True)):
            cfg = TrainingConfig(batch_size=args.batch, max_iteration_steps=args.steps,
                                 train_epochs=None, use_bf16=bf16, use_xla=xla)
            spec = {"name": "smoke", "family": "nasnet", "arch_str": f"nasnet({args.arch})",
                    "arch": {"cells_per_stack": n, "penultimate_filters": f}, "seed": 0}
            t0 = time.perf_counter()
            m = train_candidate(spec, cfg, ds, Path(tmp) / label.replace(" ", "_"))
            rows.append((label, m["images_per_second"], m["train_seconds"], time.perf_counter() - t0))
            print(f"{label}: {m['images_per_second']:.0f} images/s", file=sys.stderr, flush=True)
    table = "\n".join([
        f"Measured {time.strftime('%Y-%m-%d')} on {name}; NASNet({args.arch}), batch {args.batch}, "
        f"{args.steps} steps (the first includes tracing/compilation).", "",
        "| precision | images/s | training s | task s |", "|---|---|---|---|",
        *(f"| {r[0]} | {r[1]:.0f} | {r[2]:.1f} | {r[3]:.1f} |" for r in rows),
        "", f"bf16 + XLA vs fp32: {rows[1][1] / rows[0][1]:.2f}x images/s."])
    print(table)
    if args.write:
        write_section(args.write, table, "gpu-smoke", "GPU smoke test")


if __name__ == "__main__":
    main()
