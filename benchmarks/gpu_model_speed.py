"""Images/s of the library's NASNet-A candidates on a GPU under a Keras 3 backend other than
TensorFlow, for a GPU machine where TensorFlow cannot be installed (the lent H200 has JAX and
PyTorch, no package index, and TF's CUDA build is far larger than what can be carried to it).

What it measures is the model's training step alone: the very Keras model `adanas.nasnet` builds,
compiled as `adanas.train` can compile it (SGD with Nesterov momentum, cosine decay, XLA), fitted on
CIFAR-shaped random uint8 images already in host memory, fp32 and mixed bfloat16. It is not
`adanas.train.train_candidate`: no tf.data input pipeline, no augmentation, no checkpoints; those
run on the CPU in TensorFlow (`benchmarks/gpu_smoke.sh` measures the whole task where TF has a
GPU). The figure says how fast the GPU consumes images, so, divided by an augmentation policy's
images/s per core (benchmarks/augmentation.py), how many cores feed it.

    KERAS_BACKEND=jax python benchmarks/gpu_model_speed.py [--archs 6@768 6@384] [--batches 32 128]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def measure(arch: str, batch: int, bf16: bool, steps: int, warmup: int) -> dict:
    import keras

    from adanas.config import NasnetArch
    from adanas.nasnet import build_nasnet

    keras.mixed_precision.set_global_policy("mixed_bfloat16" if bf16 else "float32")
    keras.utils.set_random_seed(0)
    n, f = (int(v) for v in arch.split("@"))
    model = build_nasnet(NasnetArch(cells_per_stack=n, penultimate_filters=f), (32, 32, 3), 10,
                         weight_decay=5e-4, name="candidate")
    lr = keras.optimizers.schedules.CosineDecay(0.025, warmup + steps)
    model.compile(optimizer=keras.optimizers.SGD(lr, momentum=0.9, nesterov=True),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=True)
    rng = np.random.default_rng(0)
    # Enough distinct batches that nothing is cached per batch; images stay uint8 on the host, as
    # the real input pipeline hands them over (the model's first layer rescales).
    x = rng.integers(0, 255, (batch * 16, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, batch * 16)
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, steps_per_epoch=warmup, verbose=0)  # traces, compiles
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    # fit reads the loss back at the end of the epoch, so the timing includes the device's work.
    model.fit(np.tile(x, (steps // 16 + 1, 1, 1, 1))[: batch * steps], np.tile(y, steps // 16 + 1)[: batch * steps],
              batch_size=batch, epochs=1, verbose=0, shuffle=False)
    seconds = time.perf_counter() - t0
    return {"arch": f"nasnet({arch})", "params": int(model.count_params()), "batch": batch,
            "precision": "bf16" if bf16 else "fp32", "steps": steps, "first_steps_s": round(compile_s, 1),
            "seconds": round(seconds, 2), "images_per_second": round(batch * steps / seconds)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--archs", nargs="+", default=["6@768"], help="NASNet N@F")
    p.add_argument("--batches", nargs="+", type=int, default=[32])
    p.add_argument("--precisions", nargs="+", choices=["fp32", "bf16"], default=["fp32", "bf16"])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--out", type=Path, help="JSON lines, one per measurement, appended as they finish")
    args = p.parse_args()
    import keras

    device = "CPU"
    if keras.backend.backend() == "jax":
        import jax
        device = f"{jax.devices()[0].device_kind} (jax {jax.__version__})"
    elif keras.backend.backend() == "torch":
        import torch
        device = f"{torch.cuda.get_device_name(0)} (torch {torch.__version__})" if torch.cuda.is_available() else "CPU"
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}, {device}", flush=True)
    rows = []
    for arch in args.archs:
        for batch in args.batches:
            for prec in args.precisions:
                row = measure(arch, batch, prec == "bf16", args.steps, args.warmup)
                row.update(backend=keras.backend.backend(), device=device, keras=keras.__version__)
                rows.append(row)
                print(json.dumps(row), flush=True)
                if args.out:
                    with args.out.open("a") as fh:
                        fh.write(json.dumps(row) + "\n")
    print("\n| model | params | batch | precision | images/s | first steps s |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['arch']} | {r['params'] / 1e6:.2f}M | {r['batch']} | {r['precision']} | "
              f"{r['images_per_second']:,} | {r['first_steps_s']} |")


if __name__ == "__main__":
    os.environ.setdefault("KERAS_BACKEND", "jax")
    main()
