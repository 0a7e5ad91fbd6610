"""Peak memory of each step as the dataset grows, and the streamed training's throughput.

A seeded synthetic image folder (data_dir/<split>/<class>/*.png, 64x64x3, 10 classes: a
coloured shape on a noisy background, the shape carrying the class; 70/15/15 train/validation/
test) at 1x, 4x and 16x a base size (5k, 20k, 80k images by default). Each size goes through the
pipeline's steps as their library calls, each step in a fresh process of its own:
  - data: `adanas.data.prepare_step` on the folder (writes the sharded Dataset artifact);
  - train: `adanas.train.train_step` of one small CNN (cnn(4@16), the search's first proposal)
    for the same number of steps of the same batch at every size, so only the data's size
    changes; it then predicts and caches validation, test and (distillation on) train logits,
    shard by shard: more time with more data, and should be no more memory;
  - select: `adanas.ensemble.select_step` on that candidate;
  - evaluate: `adanas.evaluate.evaluate_step` (export, test scoring, report).
Peak RSS is the process's ru_maxrss (os.wait4 on that one child: interpreter, imports and all);
wall is the process's whole life. Two reference processes: the floor (a fresh interpreter
importing TensorFlow, Keras and the steps' modules, nothing else), and, at every size (or the
largest only: --in-memory largest), today's in-memory training path on the same model: the train split loaded whole
(`artifacts.dataset_split`) and fed by `adanas.augment.training_dataset`, compiled by
`train.compile_for_training` with the same loss, batch, policy, epochs x steps and callbacks;
its images/s is steps x batch / the wall time of model.fit, as the train step records its own.

Targets (issue 13): peak RSS at 16x within 1.3x of 1x for every step, and the streamed
training's images/s at 16x at least 0.9x the in-memory path's at 16x.

Generated image folders are kept under bench-out/memory/images/<size>/ (reruns reuse them); each
run's artifacts and step logs go to bench-out/memory/run/<size>/, its numbers to
bench-out/memory/results.json.

    python benchmarks/memory.py [--sizes 5000 20000 80000] [--steps 200] [--repeats 1]
                                [--set training.shuffle_buffer=5000] [--write BENCHMARKS.md]
    python benchmarks/memory.py --quick          # 500 and 2,000 images, 20 steps; writes no table
    python benchmarks/memory.py --render-only [--results bench-out/memory/results.json] [--write ...]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))
from environment import cpu_model  # noqa: E402
from orchestration import write_section  # noqa: E402

from adanas import config  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MARK = "memory"
OUT = ROOT / "bench-out" / "memory"

SIDE, CHANNELS, CLASSES = 64, 3, 10
FRACTIONS = {"train": 0.70, "validation": 0.15, "test": 0.15}
IMAGE_SEED = 13
# Bump when the drawing changes: cached folders of another version are made again.
IMAGES_VERSION = 1
RSS_TARGET, THROUGHPUT_TARGET = 1.3, 0.9
STEPS = ["data", "train", "select", "evaluate"]
REFERENCES = ["floor", "in-memory"]


def base_config(data_dir: Path, steps: int, batch: int) -> dict:
    return {
        "name": "memory-bench",
        "seed": 0,
        "dataset": {"name": "folder", "data_dir": str(data_dir)},
        "augmentation": {"policy": "basic", "flip": True, "pad_crop": 4, "cutout": 16},
        "search": {"family": "cnn", "architecture": {"num_layers": 4, "filters": 16},
                   "candidates_per_iteration": 1, "boosting_iterations": 1},
        # Distillation on: the train step also caches the train split's logits and select writes
        # the next iteration's teachers, the logits that grow most with the data.
        "training": {"batch_size": batch, "train_epochs": None, "max_iteration_steps": steps,
                     "knowledge_distillation": "adaptive", "distillation_teacher": "cached"},
    }


# --- the synthetic image folder -----------------------------------------------------------------

def _split_sizes(n: int) -> dict[str, int]:
    sizes = {s: int(round(n * f)) for s, f in FRACTIONS.items()}
    sizes["train"] = n - sizes["validation"] - sizes["test"]
    return sizes


def _draw(label: int, rng: np.random.Generator):
    """One 64x64 RGB image of class `label`: the class's shape, in a random bright colour,
    position and size, on a dark noisy background."""
    background = rng.uniform(0, 90, CHANNELS)
    pixels = np.clip(background + rng.normal(0, 18, (SIDE, SIDE, CHANNELS)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    pen = ImageDraw.Draw(image)
    fill = tuple(int(c) for c in rng.uniform(140, 255, CHANNELS))
    r = int(rng.integers(10, 19))
    cx, cy = (int(v) for v in rng.integers(r + 2, SIDE - r - 2, 2))
    box = [cx - r, cy - r, cx + r, cy + r]
    width = max(3, r // 3)
    if label == 0:
        pen.ellipse(box, fill=fill)
    elif label == 1:
        pen.rectangle(box, fill=fill)
    elif label == 2:
        pen.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill)
    elif label == 3:
        pen.polygon([(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)], fill=fill)
    elif label == 4:
        pen.ellipse(box, outline=fill, width=width)
    elif label == 5:
        pen.rectangle(box, outline=fill, width=width)
    elif label == 6:
        pen.line([(cx - r, cy), (cx + r, cy)], fill=fill, width=width)
        pen.line([(cx, cy - r), (cx, cy + r)], fill=fill, width=width)
    elif label == 7:
        pen.line([(cx - r, cy - r), (cx + r, cy + r)], fill=fill, width=width)
        pen.line([(cx - r, cy + r), (cx + r, cy - r)], fill=fill, width=width)
    elif label == 8:
        pen.rectangle([cx - r, cy - r, cx + r, cy - r // 3], fill=fill)
        pen.rectangle([cx - r, cy + r // 3, cx + r, cy + r], fill=fill)
    else:
        d = r // 2
        pen.ellipse([cx - r, cy - d // 2 - d, cx - r + 2 * d, cy + d - d // 2], fill=fill)
        pen.ellipse([cx + r - 2 * d, cy - d // 2 - d, cx + r, cy + d - d // 2], fill=fill)
    return image


def image_folder(n: int, out: Path = OUT) -> Path:
    """The n-image folder, made once (streamed to disk, one image at a time) and then reused.
    Image i of a split is drawn from its own seed, so a smaller set is the first images of a
    larger one: the sizes differ in quantity only."""
    root = out / "images" / str(n)
    stamp = {"images": n, "seed": IMAGE_SEED, "version": IMAGES_VERSION, "side": SIDE}
    marker = root / "complete.json"
    if marker.exists() and json.loads(marker.read_text()) == stamp:
        return root
    partial = root.with_name(f"{n}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)
    t0 = time.perf_counter()
    for s, (split, count) in enumerate(_split_sizes(n).items()):
        for label in range(CLASSES):
            (partial / split / f"class{label}").mkdir(parents=True, exist_ok=True)
        for i in range(count):
            label = i % CLASSES
            image = _draw(label, np.random.default_rng([IMAGE_SEED, s, i]))
            image.save(partial / split / f"class{label}" / f"{i:06d}.png", compress_level=1)
    (partial / "complete.json").write_text(json.dumps(stamp))
    partial.rename(root)
    print(f"made {n:,} images in {root} ({time.perf_counter() - t0:.0f}s)", file=sys.stderr, flush=True)
    return root


# --- the steps, each run in its own process ----------------------------------------------------
# Each imports only what its step imports, inside the function: an import at the top of this
# file would be paid (in memory) by every step's process.

def _cfg(work: Path) -> config.Config:
    return config.from_dict(json.loads((work / "config.json").read_text()))


def step_floor(work: Path) -> dict:
    import keras  # noqa: F401
    import tensorflow  # noqa: F401

    from adanas import data, ensemble, evaluate, inputs, train  # noqa: F401
    return {}


def step_data(work: Path) -> dict:
    from adanas import artifacts, data
    cfg = _cfg(work)
    data.prepare_step(cfg.dataset, cfg.augmentation, work / "dataset")
    meta = artifacts.dataset_meta(work / "dataset")
    return {"splits": meta["splits"],
            "shards": {s: len(artifacts.dataset_shards(work / "dataset", s, meta)) for s in meta["splits"]}}


def step_train(work: Path) -> dict:
    from adanas import artifacts, generators, train
    cfg = _cfg(work)
    spec = generators.propose(cfg.search, cfg.seed, 0, None)[0]
    (work / "spec.json").write_text(json.dumps(spec))
    shutil.rmtree(work / "candidate", ignore_errors=True)
    metrics = train.train_step(spec, cfg.training, work / "dataset", work / "candidate")
    if metrics.get("failed"):
        failure = artifacts.read_candidate(work / "candidate")[0]["failed"]
        raise RuntimeError(f"the candidate failed: {failure['type']}: {failure['message']}")
    return {k: metrics[k] for k in ("images_per_second", "train_seconds", "train_steps",
                                    "validation_error", "test_error", "task_seconds")}


def step_in_memory(work: Path) -> dict:
    """Today's in-memory training path on the train step's model, timed as it times its own."""
    import keras

    from adanas import artifacts, augment, models, train
    cfg = _cfg(work)
    training = cfg.training
    spec = json.loads((work / "spec.json").read_text())
    dataset = work / "dataset"
    meta = artifacts.dataset_meta(dataset)
    num_classes = int(meta["num_classes"])
    x, y = artifacts.dataset_split(dataset, "train")
    # As adanas.train._train: the same seed, model, epochs x steps, loss, compile and callbacks.
    keras.utils.set_random_seed(spec["seed"])
    batch = min(training.batch_size, len(x))
    steps_per_epoch = min(max(1, len(x) // batch), training.max_iteration_steps)
    epochs = math.ceil(training.max_iteration_steps / steps_per_epoch)
    total_steps = epochs * steps_per_epoch
    with train.precision(training.use_bf16):
        dist = train.strategy(training.distribution)
        with dist.scope():
            model = models.build_model(spec, meta["image_shape"], num_classes, training.weight_decay)
        train.compile_for_training(model, spec, num_classes, training, total_steps, dist,
                                   train.subnetwork_loss(num_classes, training.label_smoothing, False,
                                                         training.distillation_temperature))
        ds = augment.training_dataset(x, y, num_classes, batch, meta["augmentation"],
                                      seed=spec["seed"], outputs=len(model.outputs))
        backup = work / "in-memory-backup"
        shutil.rmtree(backup, ignore_errors=True)
        t0 = time.perf_counter()
        model.fit(ds, epochs=epochs, steps_per_epoch=steps_per_epoch, verbose=0, shuffle=False,
                  callbacks=train.fit_callbacks(spec["name"], epochs, total_steps,
                                                getattr(model, "drop_path_schedule", None), backup,
                                                training.checkpoint_min_seconds))
        seconds = time.perf_counter() - t0
    return {"images_per_second": total_steps * batch / seconds, "train_seconds": seconds,
            "train_steps": total_steps}


def step_select(work: Path) -> dict:
    from adanas import ensemble
    cfg = _cfg(work)
    shutil.rmtree(work / "ensemble", ignore_errors=True)
    entry = ensemble.select_step(cfg.search, 0, work / "dataset", [work / "candidate"], None,
                                 work / "ensemble")
    return {"validation_error": entry["ensemble"]["validation_error"],
            "test_error": entry["ensemble"]["test_error"]}


def step_evaluate(work: Path) -> dict:
    from adanas import evaluate
    for sub in ("model", "report"):
        shutil.rmtree(work / sub, ignore_errors=True)
    report = evaluate.evaluate_step(work / "dataset", work / "ensemble", work / "model", work / "report")
    return {"test_error": report["test_error"], "test_examples": report["test_examples"]}


STEP_FUNCTIONS = {"floor": step_floor, "data": step_data, "train": step_train,
                  "in-memory": step_in_memory, "select": step_select, "evaluate": step_evaluate}


def run_step(step: str, work: Path) -> dict:
    """Runs one step in a fresh process; its peak RSS (MB), wall seconds and what it returned."""
    log = work / f"{step}.log"
    result = work / f"{step}.json"
    result.unlink(missing_ok=True)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    t0 = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, __file__, "--step", step, "--work", str(work)],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        # wait4: the resource usage of this child alone (RUSAGE_CHILDREN keeps the maximum over
        # every child so far, so a smaller step after a bigger one would not show).
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-40:])
        raise RuntimeError(f"step {step} failed (exit {proc.returncode}) in {work}; the end of "
                           f"{log}:\n{tail}")
    return {"rss_mb": usage.ru_maxrss / 1024, "wall": wall, **json.loads(result.read_text())}


def child(step: str, work: Path) -> None:
    import logging
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    out = STEP_FUNCTIONS[step](work)
    (work / f"{step}.json").write_text(json.dumps(out))


# --- measuring ---------------------------------------------------------------------------------

def measure(sizes: list[int], steps: int, batch: int, repeats: int, overrides: list[str],
            in_memory_sizes: list[int], out: Path = OUT) -> dict:
    """Every step at every size; today's in-memory training at `in_memory_sizes` only."""
    results = {"sizes": sizes, "steps": steps, "batch": batch, "repeats": repeats,
               "overrides": overrides, "in_memory_sizes": in_memory_sizes,
               "date": time.strftime("%Y-%m-%d"), "cpu": cpu_model(), "cores": len(os.sched_getaffinity(0)), "by_size": {}}
    folders = {n: image_folder(n, out) for n in sizes}
    floor_dir = out / "run" / "floor"
    floor_dir.mkdir(parents=True, exist_ok=True)
    results["floor"] = run_step("floor", floor_dir)
    for n in sizes:
        work = out / "run" / str(n)
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        cfg = config.apply_overrides(base_config(folders[n], steps, batch), overrides)
        config.from_dict(cfg)  # fails here, before any work, on a bad --set
        (work / "config.json").write_text(json.dumps(cfg))
        runs: dict[str, list[dict]] = {}
        runs["data"] = [run_step("data", work)]
        # The two trainings alternate, so the machine's slow and fast spells fall on both alike.
        trainings = ("train", "in-memory") if n in in_memory_sizes else ("train",)
        for r in range(repeats):
            for step in (trainings if r % 2 == 0 else trainings[::-1]):
                runs.setdefault(step, []).append(run_step(step, work))
        runs["select"] = [run_step("select", work)]
        runs["evaluate"] = [run_step("evaluate", work)]
        results["by_size"][str(n)] = runs
        print(f"{n:,} images: " + ", ".join(
            f"{step} {max(r['rss_mb'] for r in rs):,.0f} MB {statistics.median(r['wall'] for r in rs):.0f}s"
            for step, rs in runs.items()), file=sys.stderr, flush=True)
    return results


# --- the table ---------------------------------------------------------------------------------

def _peak(results: dict, n: int, step: str) -> float | None:
    runs = results["by_size"][str(n)].get(step)
    return max(r["rss_mb"] for r in runs) if runs else None


def _median(results: dict, n: int, step: str, key: str) -> float | None:
    runs = results["by_size"][str(n)].get(step)
    return statistics.median(r[key] for r in runs) if runs else None


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a / b


def render(results: dict) -> str:
    sizes = results["sizes"]
    small, large = sizes[0], sizes[-1]
    scale = f"{large / small:g}x"
    heads = [f"{n:,} ({n / small:g}x)" for n in sizes]
    ratio_head = f"{scale} / 1x"
    data_run = results["by_size"][str(large)]["data"][0]
    lines = [
        f"Measured {results['date']} on {results['cpu']} ({results['cores']} cores), no GPU. "
        f"Synthetic 64x64x3 PNG image folders, 10 classes (a coloured shape on noise), "
        f"70/15/15 train/validation/test; {', '.join(f'{n:,}' for n in sizes)} images. "
        f"cnn(4@16), {results['steps']} steps of batch {results['batch']} at every size, "
        f"basic augmentation, distillation on (train logits cached); "
        f"{results['repeats']} training run(s) per size, the in-memory reference at "
        f"{', '.join(f'{n:,}' for n in results['in_memory_sizes'])} images"
        + (f"; overrides: {', '.join(f'`{o}`' for o in results['overrides'])}" if results["overrides"] else "")
        + f". The largest set's train split: {data_run['splits']['train']:,} images in "
        f"{data_run['shards']['train']} shards. Peak RSS: ru_maxrss of the step's own process "
        f"(interpreter and imports included).",
        "",
        "| step | " + " | ".join(f"peak RSS MB, {h}" for h in heads) + f" | {ratio_head} | "
        "wall s, " + " / ".join(f"{n / small:g}x" for n in sizes) + " |",
        "|---|" + "---:|" * len(sizes) + "---:|---|",
    ]
    ratios = {}
    for step in [*STEPS, "in-memory"]:
        ratios[step] = _ratio(_peak(results, large, step), _peak(results, small, step))
        label = step if step != "in-memory" else "train, in memory (today's path; reference)"
        lines.append(f"| {label} | " + " | ".join(_cell(_peak(results, n, step), "{:,.0f}") for n in sizes)
                     + f" | {_cell(ratios[step], '{:.2f}x')} | "
                     + " / ".join(_cell(_median(results, n, step, "wall"), "{:.0f}") for n in sizes) + " |")
    floor = results["floor"]
    lines += [
        f"| floor: a fresh interpreter importing TensorFlow, Keras and the steps' modules | "
        + " | ".join(f"{floor['rss_mb']:,.0f}" for _ in sizes) + " | - | "
        + f"{floor['wall']:.0f} |",
        "",
        "| training images/s (median) | " + " | ".join(heads) + " |",
        "|---|" + "---:|" * len(sizes),
        "| train step, streamed from shards | "
        + " | ".join(_cell(_median(results, n, "train", "images_per_second"), "{:,.0f}") for n in sizes) + " |",
        "| the same model, in memory (`augment.training_dataset`) | "
        + " | ".join(_cell(_median(results, n, "in-memory", "images_per_second"), "{:,.0f}") for n in sizes) + " |",
        "| streamed / in memory | "
        + " | ".join(_cell(_ratio(_median(results, n, "train", "images_per_second"),
                                  _median(results, n, "in-memory", "images_per_second")), "{:.2f}x")
                     for n in sizes) + " |",
    ]
    over = [s for s in STEPS if ratios[s] > RSS_TARGET]
    worst = max(STEPS, key=lambda s: ratios[s])
    speed = _ratio(_median(results, large, "train", "images_per_second"),
                   _median(results, large, "in-memory", "images_per_second"))
    full = [n / small for n in sizes] == [1, 4, 16]
    evaluate = results["by_size"][str(large)]["evaluate"][0]
    lines += [
        "",
        "Reading" + ("" if full else f" (at {scale}, not the target's 16x: a reduced run)") + ": "
        + (f"peak RSS target (at {scale} within {RSS_TARGET}x of 1x for every step) met: the "
           f"largest growth is {worst}'s, {ratios[worst]:.2f}x"
           if not over else
           f"peak RSS target (at {scale} within {RSS_TARGET}x of 1x for every step) not met: "
           + ", ".join(f"{s} {ratios[s]:.2f}x" for s in over))
        + f"; throughput target (streamed at {scale} at least {THROUGHPUT_TARGET}x the in-memory "
        f"path at {scale}) {'met' if speed >= THROUGHPUT_TARGET else 'not met'}: {speed:.2f}x. "
        f"Sanity: the exported model's test error at {large:,} images is "
        f"{100 * evaluate['test_error']:.1f}% on {evaluate['test_examples']:,} images (chance 90%).",
    ]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000, 80000],
                   help="total images per set, smallest first (1x)")
    p.add_argument("--steps", type=int, default=200, help="training steps at every size")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=1, help="training runs per size (streamed and in memory)")
    p.add_argument("--in-memory", choices=["all", "largest"], default="all",
                   help="sizes at which today's in-memory training runs too (the target compares "
                   "at the largest)")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   help="config override KEY.PATH=VALUE, e.g. dataset.shard_size=1024")
    p.add_argument("--quick", action="store_true",
                   help="500 and 2,000 images, 20 steps, 128-image shards, in memory at the "
                   "largest only; prints, writes no table")
    p.add_argument("--results", type=Path,
                   help="the numbers, as JSON (default: bench-out/memory/results.json, or "
                   "results-quick.json with --quick)")
    p.add_argument("--render-only", action="store_true", help="render --results, measure nothing")
    p.add_argument("--write", type=Path, help="replace this benchmark's section in a Markdown file")
    p.add_argument("--step", choices=sorted(STEP_FUNCTIONS), help=argparse.SUPPRESS)
    p.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.step:
        child(args.step, args.work)
        return
    if args.quick:
        args.sizes, args.steps, args.in_memory = [500, 2000], 20, "largest"
        # Small shards, so that even the small sets stream through several of them.
        args.overrides = ["dataset.shard_size=128", *args.overrides]
        args.write = None
    args.results = args.results or OUT / ("results-quick.json" if args.quick else "results.json")
    if args.render_only:
        results = json.loads(args.results.read_text())
    else:
        sizes = sorted(args.sizes)
        results = measure(sizes, args.steps, args.batch, args.repeats, args.overrides,
                          sizes if args.in_memory == "all" else sizes[-1:])
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(results, indent=1))
    table = render(results)
    print(table)
    if args.write:
        write_section(args.write, table, MARK, "Memory as the dataset grows")


if __name__ == "__main__":
    main()
