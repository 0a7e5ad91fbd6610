"""What a search will cost, before it runs: tasks, accelerator-hours and an approximate price.

`estimate(cfg)` plans the search the way the pipeline would (the same generator, the same
parameter budget) without training anything, and prices each task from two small tables kept
here: training throughput (images/s of a reference architecture on a device, each figure with
its source) and prices (USD per hour). `cost.images_per_second` and `cost.prices` in the config
override them. Every assumption the numbers rest on is listed in the estimate itself
(`Estimate.assumptions`), so `adanas estimate` prints them beside the totals.

The model of one candidate's training:

    steps  = what adanas.train runs: max_iteration_steps rounded up to whole epochs, or
             train_epochs x (training images // batch)
    hours  = steps x batch / images_per_second(architecture, device)
    images_per_second(arch) = reference images/s x compute(reference) / compute(arch)

with compute() a per-family count (NASNet-A: (0.467 N + 2.872) F^2 x H x W, fitted to the
paper's parameter counts of NASNet(6@768) and NASNet(7@2304); cnn: multiply-adds of its
convolutions; dnn: its weights). A live distillation teacher adds a third of each teacher
member's compute per step (one forward pass of a forward + backward step).

Which candidate an iteration keeps is only known after training: the estimate assumes the
generator's first proposal is kept every iteration (for `dynamic`: the base first, then
`deeper`), and that no iteration stops early (early stopping can only lower the cost).

With `search.budget` the budget, not epochs, sets each task's length: every candidate trains
for its share by the clock (adanas.timed), so the estimate takes the shares adanas.budget.share
plans, iteration by iteration, as if each task spent exactly its share and its tower learned
(the last iteration then trains the kept tower on with what is left), and prices them; steps
per candidate follow from the throughput instead of setting the hours. The training tasks'
accelerator-hours (task-hours on CPU) are then the budget, at most.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adanas import budget, data, ensemblers, generators, models
from adanas.config import Config
from adanas.continuation import WarmStart, continued_search
from adanas.report import table

# --- prices ------------------------------------------------------------------------------------

PRICES_AS_OF = "2025-06"
PRICE_SOURCE = (f"approximate on-demand list prices in us-central1 as of {PRICES_AS_OF}, from "
                "Google Cloud's Compute Engine GPU, VM and Cloud TPU pricing pages as we know them "
                "(not fetched: no network at run time); Vertex AI training adds a markup on some "
                "types and Spot VMs cost much less: check cloud.google.com/vertex-ai/pricing and "
                "override with cost.prices")

# USD per accelerator-hour (GPU or TPU chip), the accelerator alone.
ACCELERATOR_PRICES = {
    "NVIDIA_TESLA_T4": 0.35,
    "NVIDIA_TESLA_P4": 0.60,
    "NVIDIA_TESLA_P100": 1.46,
    "NVIDIA_TESLA_V100": 2.48,
    "NVIDIA_L4": 0.56,
    "NVIDIA_TESLA_A100": 2.93,
    "NVIDIA_A100_80GB": 3.93,
    "NVIDIA_H100_80GB": 11.06,      # a3-highgpu-8g's price / 8 (GPUs are sold with the machine)
    "TPU_V2": 1.125,                # per chip: a v2-8 device / 4 chips
    "TPU_V3": 2.00,                 # per chip: a v3-8 device / 4 chips
    "TPU_V4_POD": 3.22,
    "TPU_V5_LITEPOD": 1.20,
}
# USD per machine-hour; machines whose name starts with BUNDLED_PREFIXES include their
# accelerators, others (n1) get resources.train's accelerators added.
MACHINE_PRICES = {
    "e2-standard-4": 0.134,
    "n1-standard-4": 0.19,
    "n1-standard-8": 0.38,
    "n1-standard-16": 0.76,
    "g2-standard-4": 0.71,
    "g2-standard-8": 0.85,
    "a2-highgpu-1g": 3.67,
    "a2-highgpu-2g": 7.35,
    "a2-highgpu-4g": 14.69,
    "a2-highgpu-8g": 29.39,
    "a2-ultragpu-1g": 5.07,
    "a3-highgpu-8g": 88.49,
    "ct5lp-hightpu-4t": 4.80,
}
BUNDLED_PREFIXES = ("a2-", "a3-", "a4-", "g2-", "ct")
VCPU_PRICE = 0.0316        # per vCPU-hour (n1 predefined)
MEMORY_GB_PRICE = 0.0042   # per GB-hour (n1 predefined)
PIPELINE_RUN_FEE = 0.03    # Vertex AI Pipelines, per run


# --- throughput ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Throughput:
    """Measured or given training throughput of one architecture on one device."""
    family: str
    arch: dict[str, Any]
    image_shape: tuple[int, int, int]
    device: str            # a Vertex AI accelerator name, or "CPU"
    count: int             # accelerators, or CPU cores
    batch: int
    images_per_second: float
    source: str


THROUGHPUT = (
    Throughput("nasnet", {"cells_per_stack": 6, "penultimate_filters": 768}, (32, 32, 3),
               "NVIDIA_TESLA_P100", 1, 32, 1_000_000 * 32 / (36 * 3600),
               "given: one 1M-step, batch-32 training of NASNet-A(6@768) on CIFAR-10 takes about "
               "36 GPU-hours on a P100 (Macko et al. 2019; "
               "pipelines/configs/paper/nasnet_6x768_single_cifar10.yaml)"),
    Throughput("cnn", {"num_layers": 6, "filters": 64}, (32, 32, 3), "NVIDIA_L4", 1, 128,
               30 * (45_000 // 128) * 128 / (15 * 60),
               "given, not measured: pipelines/configs/cifar10.yaml's comment, ~15 min per "
               "candidate (30 epochs of 45,000 CIFAR-10 images, batch 128) on one NVIDIA L4"),
    Throughput("cnn", {"num_layers": 2, "filters": 16}, (8, 8, 1), "CPU", 2, 32, 5197.0,
               "measured here: BENCHMARKS.md 'Training loop', digits cnn(2@16), batch 32, "
               "2 AMD EPYC cores, TF 2.21 (2026-11-28)"),
    Throughput("cnn", {"num_layers": 3, "filters": 32}, (32, 32, 3), "CPU", 2, 64, 556.0,
               "measured here: BENCHMARKS.md 'Training loop', CIFAR-shaped cnn(3@32), batch 64, "
               "2 AMD EPYC cores, TF 2.21 (2026-11-28)"),
)

# Training speed of one accelerator relative to a P100, for a family whose table entry is on
# another GPU.
RELATIVE_SPEED = {
    "NVIDIA_TESLA_P100": 1.0,
    "NVIDIA_TESLA_T4": 0.6,
    "NVIDIA_TESLA_P4": 0.4,
    "NVIDIA_TESLA_V100": 1.7,
    "NVIDIA_L4": 1.0,
    "NVIDIA_TESLA_A100": 3.0,
    "NVIDIA_A100_80GB": 3.0,
    "NVIDIA_H100_80GB": 5.0,
    "NVIDIA_H100_MEGA_80GB": 5.0,
    "NVIDIA_H200_141GB": 5.5,
}
RELATIVE_SPEED_SOURCE = ("assumed, not measured: rough ratios of NVIDIA's published FP32/TF32 "
                         "ResNet-50 training throughput, lowered for the newer GPUs because "
                         "small-batch training on 32x32 images keeps a fast GPU less busy")

# A forward pass is about a third of a training step (forward + backward ~ 3 forwards); measured
# here: 0.26 for cnn(3@32) on CPU (BENCHMARKS.md, distillation).
FORWARD_FRACTION = 1.0 / 3.0

# Training examples of datasets whose size is known without loading them (train split before
# the validation/test carving that adanas.data does when a split is missing).
DATASET_SPLITS = {  # name: (train, validation or None, test or None, image shape)
    "cifar10": (50_000, None, 10_000, (32, 32, 3)),
    "cifar100": (50_000, None, 10_000, (32, 32, 3)),
    "mnist": (60_000, None, 10_000, (28, 28, 1)),
    "fashion_mnist": (60_000, None, 10_000, (28, 28, 1)),
    "svhn_cropped": (73_257, None, 26_032, (32, 32, 3)),
    "digits": (1_797, 0, 0, (8, 8, 1)),
}


class EstimateError(ValueError):
    """The estimate lacks a figure; the message names the config key that supplies it."""


# --- compute per architecture -------------------------------------------------------------------

def nasnet_size(cells_per_stack: int, penultimate_filters: int) -> float:
    """Trainable parameters of NASNet-A (CIFAR) ~ (0.467 N + 2.872) F^2: normal cells grow with
    N F^2, the stem and reduction cells with F^2. Fitted to 3,346,538 (6@768, measured here) and
    32.6M (7@2304, the paper)."""
    return (0.467 * cells_per_stack + 2.872) * penultimate_filters ** 2


def _cnn_macs(arch, shape) -> float:
    """Multiply-adds of adanas.models.build_cnn's convolutions on one image."""
    h, w, c = shape
    size, filters, total = min(h, w), arch.filters, 0.0
    for i in range(arch.num_layers):
        total += h * w * arch.kernel_size ** 2 * c * filters
        c = filters
        if i % 2 == 1 and i < arch.num_layers - 1 and size >= 4:
            h, w, size, filters = h // 2, w // 2, size // 2, filters * 2
    return total + c * (arch.dense_units or 1)


def relative_compute(family, arch, shape) -> float:
    """Compute of one training example of `arch` (a family architecture), up to a constant of
    the family; None for a user's own family (`keras`)."""
    h, w, c = shape
    if family.name == "nasnet":
        return nasnet_size(arch.cells_per_stack, arch.penultimate_filters) * h * w
    if family.name == "cnn":
        return _cnn_macs(arch, shape)
    if family.name == "dnn":
        return h * w * c * arch.units + (arch.num_layers - 1) * arch.units ** 2
    return None


def params_estimate(family, arch, shape, num_classes: int) -> int | None:
    """Trainable parameters without building the model (None for `keras`)."""
    h, w, c = shape
    if family.name == "nasnet":
        return int(nasnet_size(arch.cells_per_stack, arch.penultimate_filters))
    if family.name == "cnn":
        params, size, filters, cin = 0, min(h, w), arch.filters, c
        for i in range(arch.num_layers):
            params += arch.kernel_size ** 2 * cin * filters + 2 * filters
            cin = filters
            if i % 2 == 1 and i < arch.num_layers - 1 and size >= 4:
                size, filters = size // 2, filters * 2
        if arch.dense_units:
            params += cin * arch.dense_units + arch.dense_units
            cin = arch.dense_units
        return params + cin * num_classes + num_classes
    if family.name == "dnn":
        params = h * w * c * arch.units + arch.units + (arch.num_layers - 1) * (arch.units ** 2 + arch.units)
        return params + arch.units * num_classes + num_classes
    return None


# --- the estimate -------------------------------------------------------------------------------

@dataclass
class Iteration:
    iteration: int
    archs: list[str]
    train_hours: list[float]        # per candidate task
    accelerator_hours: float
    price: float | None
    kept: str                       # the architecture assumed kept
    steps: list[int]                # per candidate task (with a budget: what its share buys)
    finishes: bool = False          # a budgeted search's last iteration: the kept tower, trained on


@dataclass
class Estimate:
    config_name: str
    device: str                     # e.g. "1 x NVIDIA_TESLA_A100" or "4 CPUs"
    accelerator: str | None
    steps: int
    batch: int
    iterations: list[Iteration]
    tasks: int
    accelerator_hours: float
    task_hours: float               # every task, training and not
    wall_hours: float               # iterations one after another, candidates side by side
    price: float | None
    stopped: str                    # why the planned search ends where it does
    assumptions: list[str] = field(default_factory=list)
    budget_seconds: float | None = None   # search.budget: the training tasks' hours are planned shares of it

    def budget_hours_planned(self) -> float:
        """The training hours the plan counts against search.budget (as adanas.budget counts
        them: accelerator-hours on GPU/TPU, task-hours on CPU)."""
        return self.accelerator_hours if self.accelerator else sum(sum(r.train_hours) for r in self.iterations)

    def total_line(self) -> str:
        acc = (f"{self.accelerator_hours:,.1f} {self.accelerator}-hours" if self.accelerator
               else "no GPU/TPU")
        price = "price unknown" if self.price is None else f"~{usd(self.price)}"
        if self.budget_seconds is not None:
            acc += (f", {self.budget_hours_planned():,.1f} h of search.budget's "
                    f"{self.budget_seconds / 3600:,.1f} h planned")
        return (f"Estimated cost of {self.config_name}: {price} ({self.tasks} tasks, {acc}, "
                f"{self.task_hours:,.1f} task-hours, ~{self.wall_hours:,.1f} h wall-clock; "
                f"`adanas estimate` lists the assumptions)")


def _training_examples(cfg: Config) -> tuple[int | None, tuple[int, int, int] | None, str]:
    """(training images after the carving adanas.data does, image shape, where it comes from)."""
    ds = cfg.dataset
    cap = ds.max_examples_per_split
    if ds.name == "digits":
        total = DATASET_SPLITS["digits"][0]
        test = int(round(total * ds.test_fraction))
        rest = total - test
        train = rest - int(round(rest * ds.validation_fraction / (1.0 - ds.test_fraction)))
        return (min(train, cap) if cap else train), (8, 8, 1), "digits: 1,797 images, carved as adanas.data does"
    if ds.name in DATASET_SPLITS:
        train, val, test, shape = DATASET_SPLITS[ds.name]
        # Both carved splits are fractions of the source's train split (adanas.data.Carver).
        source = train
        if test is None:
            train -= int(round(source * ds.test_fraction))
        if val is None:
            train -= int(round(source * ds.validation_fraction))
        return (min(train, cap) if cap else train), shape, f"{ds.name}: its published split sizes"
    if ds.name == "folder" and ds.data_dir and Path(ds.data_dir, "train").is_dir():
        train = sum(len(data.image_files(d)[0]) for d in data.subfolders(Path(ds.data_dir, "train")))
        shape = (*ds.image_size, 3) if ds.image_size else None
        return (min(train, cap) if cap else train), shape, f"{ds.data_dir}/train: {train:,} image files counted"
    return None, None, f"{ds.name}: size unknown without loading it"


def _memory_gb(quantity: str | None) -> float:
    if not quantity:
        return 0.0
    m = re.match(r"^(\d+(?:\.\d+)?)(E|P|T|G|M|K|Ei|Pi|Ti|Gi|Mi|Ki)?$", quantity)
    number, unit = float(m.group(1)), m.group(2) or ""
    scale = {"": 1e-9, "K": 1e-6, "M": 1e-3, "G": 1.0, "T": 1e3, "P": 1e6, "E": 1e9,
             "Ki": 2 ** 10 / 1e9, "Mi": 2 ** 20 / 1e9, "Gi": 2 ** 30 / 1e9, "Ti": 2 ** 40 / 1e9,
             "Pi": 2 ** 50 / 1e9, "Ei": 2 ** 60 / 1e9}[unit]
    return number * scale


def _cpus(quantity: str | None) -> float:
    if not quantity:
        return 0.0
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


class _Prices:
    def __init__(self, overrides: dict[str, float]):
        self.table = {**ACCELERATOR_PRICES, **MACHINE_PRICES, "vcpu": VCPU_PRICE,
                      "memory_gb": MEMORY_GB_PRICE, **overrides}
        self.missing: set[str] = set()

    def get(self, key: str) -> float | None:
        if key not in self.table:
            self.missing.add(key)
        return self.table.get(key)

    def task(self, res) -> float | None:
        """Per hour of a pipeline task with these resources (Vertex AI fits a machine to them)."""
        vcpu, mem = self.get("vcpu"), self.get("memory_gb")
        price = _cpus(res.cpu_limit) * vcpu + _memory_gb(res.memory_limit) * mem
        if res.accelerator_type:
            acc = self.get(res.accelerator_type)
            return None if acc is None else price + acc * res.accelerator_count
        return price


def _add(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def _reference(cfg: Config, family, device: str, count: int, cores: float):
    """(reference arch, its image shape, images/s on this device, assumption lines)."""
    if cfg.cost.images_per_second is not None:
        return (cfg.search.arch(), None, cfg.cost.images_per_second,
                [f"throughput: {cfg.cost.images_per_second:,.0f} images/s for "
                 f"{family.describe(cfg.search.arch())} on this task's {device} (cost.images_per_second)"])
    rows = [r for r in THROUGHPUT if r.family == family.name]
    same = [r for r in rows if r.device == device]
    if same:
        ref = same[0]
        ips, scale = ref.images_per_second, ""
        if device == "CPU":
            ips *= max(cores, 1.0) / ref.count
            scale = f", x {max(cores, 1.0):g}/{ref.count} cores (linear in cores, assumed)"
        elif count != ref.count:
            ips *= count / ref.count
            scale = f", x {count}/{ref.count} accelerators (linear, assumed; MirroredStrategy)"
        return (family.parse(ref.arch), ref.image_shape, ips,
                [f"throughput: {ref.images_per_second:,.0f} images/s for "
                 f"{family.describe(family.parse(ref.arch))} on {ref.count} x {ref.device}"
                 f"{scale} ({ref.source})"])
    gpus = [r for r in rows if r.device in RELATIVE_SPEED]
    if gpus and device in RELATIVE_SPEED:
        ref = gpus[0]
        ips = ref.images_per_second / ref.count * RELATIVE_SPEED[device] / RELATIVE_SPEED[ref.device] * count
        return (family.parse(ref.arch), ref.image_shape, ips,
                [f"throughput: {ref.images_per_second:,.0f} images/s for "
                 f"{family.describe(family.parse(ref.arch))} on {ref.count} x {ref.device} "
                 f"({ref.source})",
                 f"speed of {device} vs {ref.device}: {RELATIVE_SPEED[device] / RELATIVE_SPEED[ref.device]:.2f}x "
                 f"per accelerator, x {count} accelerators ({RELATIVE_SPEED_SOURCE})"])
    raise EstimateError(
        f"cost.images_per_second: no throughput figure for the {family.name!r} family on {device} "
        f"in adanas.cost (it has: {', '.join(sorted({f'{r.family} on {r.device}' for r in THROUGHPUT}))}); "
        f"set cost.images_per_second to the images/s of {cfg.search.family} "
        f"{family.describe(cfg.search.arch())} in one train task")


def training_steps(cfg: Config, train_examples: int | None) -> tuple[int, int, str]:
    """(steps per candidate, batch, why): what adanas.train runs."""
    t = cfg.training
    if train_examples is None:
        if not t.max_iteration_steps:
            raise EstimateError(
                f"training.max_iteration_steps: the size of dataset {cfg.dataset.name!r} is not "
                f"known without loading it, so steps cannot follow from train_epochs; set "
                f"training.max_iteration_steps (and train_epochs: null) to estimate")
        return t.max_iteration_steps, t.batch_size, (
            f"steps per candidate: training.max_iteration_steps = {t.max_iteration_steps:,}")
    batch = min(t.batch_size, train_examples)
    per_epoch = max(1, train_examples // batch)
    if t.max_iteration_steps:
        per_epoch = min(per_epoch, t.max_iteration_steps)
        steps = math.ceil(t.max_iteration_steps / per_epoch) * per_epoch
        why = (f"steps per candidate: training.max_iteration_steps = {t.max_iteration_steps:,}, "
               f"rounded up to whole epochs of {per_epoch:,} steps = {steps:,}")
    else:
        steps = t.train_epochs * per_epoch
        why = (f"steps per candidate: training.train_epochs {t.train_epochs} x "
               f"({train_examples:,} training images // batch {batch}) = {steps:,}")
    return steps, batch, why


def estimate(cfg: Config, continue_from: dict[str, Any] | None = None) -> Estimate:
    """The planned search's tasks, accelerator-hours and price (see the module doc).
    continue_from: the record of the ensemble a warm-started search continues from: its
    iterations then follow that ensemble's last one and grow from its last member."""
    search, res = cfg.search, cfg.resources
    family = models.family_of(search.family, search.builder, search.growth.depth_key,
                              search.growth.width_key)
    acc_type, acc_count = res.train.accelerator_type, res.train.accelerator_count
    job = res.custom_job
    cores = _cpus(res.train.cpu_limit)
    device = acc_type or "CPU"
    train_examples, shape, data_note = _training_examples(cfg)
    steps, batch, steps_note = training_steps(cfg, train_examples)
    ref_arch, ref_shape, ref_ips, throughput_notes = _reference(cfg, family, device, acc_count, cores)
    shape = shape or ref_shape or (32, 32, 3)
    num_classes = {"cifar100": 100}.get(cfg.dataset.name, 10)
    ref_compute = relative_compute(family, ref_arch, ref_shape or shape)

    def ips_of(arch, teachers) -> float:
        if ref_compute is None:     # a user's family: every architecture as fast as the base
            return ref_ips
        work = relative_compute(family, arch, shape)
        if teachers:
            work += FORWARD_FRACTION * sum(relative_compute(family, a, shape) for a in teachers)
        return ref_ips * ref_compute / work

    prices = _Prices(cfg.cost.prices)
    if job.enabled:
        machine = prices.get(job.machine_type)
        bundled = job.machine_type.startswith(BUNDLED_PREFIXES)
        if machine is not None and not bundled and acc_type:
            machine = _add(machine, None if prices.get(acc_type) is None else prices.get(acc_type) * acc_count)
        train_price = _add(machine, prices.task(job.launcher))
    else:
        train_price = prices.task(res.train)
    other_price = prices.task(res.default)
    other_hours = cfg.cost.other_task_minutes / 60.0

    kd = cfg.training.knowledge_distillation
    live = kd != "none" and getattr(cfg.training, "distillation_teacher", "cached") == "live"
    rows: list[Iteration] = []
    kept: list[Any] = []
    used = 0
    stopped = f"done: {search.boosting_iterations} iterations"
    last_spec = None
    first = 0
    if continue_from is not None:
        members = continue_from.get("members", [])
        first = int(continue_from["iteration"]) + 1
        kept = [family.parse(m["spec"]["arch"]) for m in members if m["spec"].get("family") == family.name]
        used = sum(int(m["metrics"].get("params", 0)) for m in members)
        last_spec = members[-1]["spec"] if members else None
        stopped = f"done: {search.boosting_iterations} more iterations"
    total = search.budget_seconds()
    # The budget's plan, as the tasks would see it: a continued search's history (and numbering)
    # goes on from the ensemble it continues.
    planned = continued_search(search, None if continue_from is None
                               else WarmStart.from_record("the continued ensemble", continue_from))
    history = [] if continue_from is None else list(continue_from.get("history", []))

    def sized(specs):
        archs = [family.parse(s["arch"]) for s in specs]
        return archs, [params_estimate(family, a, shape, num_classes) for a in archs]

    for t in range(first, first + search.boosting_iterations):
        seconds, finishing = None, False
        if total is not None:
            seconds, why, finishing = budget.share(planned, t, history)
            if why:
                stopped = why
                break
        # Assumed learned: the finishing candidate is the kept tower, trained on
        # (adanas.generators._finishing); one of another family (a warm start's) is not priced.
        finish = ([dict(last_spec, name=f"i{t}_c0", move=budget.FINISH)]
                  if last_spec is not None and last_spec.get("family") == family.name else [])
        if finishing and not finish:
            stopped = "no tower of this family to finish"
            break
        specs = finish if finishing else generators.propose(search, cfg.seed, t, last_spec)
        archs, sizes = sized(specs)
        if search.max_ensemble_params is not None and None not in sizes:
            fit = [i for i, p in enumerate(sizes) if ensemblers.fits_some_strategy(search, used, p)]
            if not fit:
                stopped = (f"budget: after iteration {t - 1}, ~{used:,} params, no candidate fits "
                           f"search.max_ensemble_params {search.max_ensemble_params:,} "
                           f"(smallest ~{min(sizes):,})")
                # With a time budget the rest of it finishes the search (adanas.generators.plan).
                left = None if seconds is None or finishing or not finish else budget.rest(planned, history)[0]
                if left is None:
                    break
                seconds, finishing = left, True
                specs = [dict(f, move=budget.FINISH_CAPPED) for f in finish]
                archs, sizes = sized(specs)
                if not ensemblers.fits_some_strategy(search, used, sizes[0] or 0):
                    break
            else:
                specs, archs, sizes = [specs[i] for i in fit], [archs[i] for i in fit], [sizes[i] for i in fit]
        teachers = ([] if not (live and kept) else kept[-1:] if kd == "born_again" else list(kept))
        if seconds is None:
            hours = [steps * batch / ips_of(a, teachers) / 3600.0 for a in archs]
            task_steps = [steps] * len(archs)
        else:
            hours = [budget.wall_seconds(seconds, acc_count) / 3600.0] * len(archs)
            task_steps = [int(h * 3600.0 * ips_of(a, teachers) / batch) for h, a in zip(hours, archs)]
            history.append({"iteration": t, "candidates": [
                {"task_seconds": seconds, "train_seconds": seconds, "move": s.get("move")} for s in specs]})
        acc_hours = sum(hours) * acc_count
        price = None if train_price is None else sum(hours) * train_price
        rows.append(Iteration(t, [s["arch_str"] for s in specs], hours, acc_hours, price,
                              specs[0]["arch_str"], task_steps, finishing))
        if finishing:
            stopped = budget.finished(planned, history)
            break
        kept.append(archs[0])
        used += sizes[0] or 0
        last_spec = specs[0]

    n_other = 2 + 2 * len(rows)
    train_tasks = sum(len(r.archs) for r in rows)
    train_hours = sum(sum(r.train_hours) for r in rows)
    price = None if train_price is None or other_price is None else (
        sum(r.price for r in rows) + n_other * other_hours * other_price + PIPELINE_RUN_FEE)
    wall = sum(max(r.train_hours) for r in rows) + (len(rows) * 2 + 2) * other_hours

    if total is None:
        notes = [steps_note + f", batch {batch}"]
    else:
        notes = [f"search.budget {total:,.0f} s ({total / 3600:,.2f} h) of training-task time, counted "
                 f"as adanas.budget counts it ({'accelerator time' if acc_type else 'wall-clock on CPU'}); "
                 f"shares as adanas.budget.share plans them, each task assumed to spend exactly its "
                 f"share and the towers to learn (an iteration that leaves none learned ends the "
                 f"exploring sooner; the total stays the budget); steps per task = its share x "
                 f"images/s / batch {batch}, not training.train_epochs"]
    notes += [
        f"dataset: {data_note}" + (f"; images {'x'.join(map(str, shape))}" if shape else ""),
        *throughput_notes,
        ("other architectures: images/s scaled by relative compute "
         + {"nasnet": "(0.467 N + 2.872) F^2 per pixel, fitted to NASNet(6@768) 3.35M and NASNet(7@2304) 32.6M params",
            "cnn": "(multiply-adds of the convolutions)",
            "dnn": "(weights of the dense layers)"}.get(family.name, "(none: a user's family is "
                                                                     "assumed as fast as its base)")),
        "kept each iteration: the generator's first proposal (the base, then "
        + ("`deeper`" if search.generator == "dynamic" else "the same") + "); no early stop"
        + ("; the last iteration trains the kept tower on with what is left" if total is not None else ""),
        f"tasks: per iteration 1 generate + candidates + 1 select; prepare and evaluate once; "
        f"each task that does not train ~{cfg.cost.other_task_minutes:g} min (cost.other_task_minutes)",
        f"prices: {PRICE_SOURCE}",
    ]
    if live and len(rows) > 1:
        notes.append(f"distillation ({kd}, live teacher): each step also runs the teacher's "
                     f"forward pass, ~{FORWARD_FRACTION:.2f} of a training step per member (one "
                     f"forward of forward + backward; measured 0.26 here, BENCHMARKS.md)")
    if continue_from is not None:
        notes.append(f"continued from an ensemble of {len(continue_from.get('members', []))} "
                     f"members ending at iteration {first - 1}: iterations {first}.."
                     f"{first + search.boosting_iterations - 1}, grown from its last member")
    if job.enabled:
        notes.append(f"training as CustomJobs on {job.machine_type}"
                     + (" (Spot: the price shown is on-demand)" if job.spot else "")
                     + ", plus each launcher task's own small machine")
    else:
        notes.append("a training task is priced as its accelerators plus its cpu_limit vCPUs and "
                     "memory_limit GB (Vertex AI fits a machine at least that big)")
    export = getattr(cfg, "export", None)
    if export is not None and (export.student is not None or export.model_registry is not None):
        notes.append("not counted: the export steps after evaluate (distill-student, register-model, "
                     "an endpoint, which bills while deployed)")
    if prices.missing:
        notes.append(f"no price for {', '.join(sorted(prices.missing))}: set cost.prices."
                     f"{sorted(prices.missing)[0]} (USD per hour)")
    return Estimate(
        config_name=cfg.name,
        device=f"{acc_count} x {acc_type}" if acc_type else f"{cores:g} CPUs",
        accelerator=acc_type, steps=steps, batch=batch, iterations=rows,
        tasks=train_tasks + n_other, accelerator_hours=sum(r.accelerator_hours for r in rows),
        task_hours=train_hours + n_other * other_hours, wall_hours=wall, price=price,
        stopped=stopped, assumptions=notes, budget_seconds=total)


def usd(amount: float) -> str:
    return f"${amount:,.2f}" if amount < 100 else f"${amount:,.0f}"


def format_estimate(est: Estimate) -> str:
    acc = est.accelerator or "accelerator"
    money = lambda x: "?" if x is None else usd(x)  # noqa: E731
    rows = [[r.iteration, len(r.archs), ", ".join(sorted(set(r.archs))),
             r.kept + (" (trained on)" if r.finishes else ""), f"{max(r.steps):,}",
             f"{max(r.train_hours):,.2f}", f"{r.accelerator_hours:,.1f}", money(r.price)]
            for r in est.iterations]
    if est.budget_seconds is None:
        head = (f"Estimate for {est.config_name}: {len(est.iterations)} iterations, each candidate "
                f"{est.steps:,} steps of batch {est.batch} on {est.device}.")
    else:
        head = (f"Estimate for {est.config_name}: {len(est.iterations)} iterations within "
                f"search.budget ({est.budget_seconds / 3600:,.2f} h), each candidate for its share, "
                f"batch {est.batch} on {est.device}.")
    lines = [
        head,
        "",
        table(["iter", "train tasks", "architectures", "kept (assumed)", "steps per task",
               "hours per task", f"{acc}-hours", "training price"], rows),
        "",
        f"Total: {est.tasks} tasks, {est.accelerator_hours:,.1f} {acc}-hours"
        f"{'' if est.accelerator else ' (no GPU/TPU)'}, {est.task_hours:,.1f} task-hours, "
        f"~{est.wall_hours:,.1f} h wall-clock, approximate price {money(est.price)}.",
        f"Planned end: {est.stopped}."
        + ("" if est.budget_seconds is None else
           f" The plan spends {est.budget_hours_planned():,.2f} h of search.budget's "
           f"{est.budget_seconds / 3600:,.2f} h."),
        "",
        "Assumptions:",
        *[f"- {a}" for a in est.assumptions],
    ]
    return "\n".join(lines)
