"""Typed, validated search configuration.

A search is described by one YAML file. It is parsed into frozen dataclasses; every key is
checked before any compute: unknown keys, wrong types and impossible values raise ConfigError
naming the key path (e.g. ``training.initial_learning_rate``) and what is allowed.

A config may start from another one with ``extends: other.yaml`` (a path relative to the
file); the child's keys are merged over the parent's, mapping by mapping.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from adanas import generators, models


class ConfigError(ValueError):
    """A config value that cannot be used; the message starts with the key path."""

    def __init__(self, path: str, message: str):
        self.path = path
        super().__init__(f"{path}: {message}")


# --- generic dataclass parsing ---------------------------------------------------------------

def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _coerce(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(inner, value, path)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(path, f"got {value!r}; allowed values: {', '.join(map(repr, allowed))}")
        return value
    if dataclasses.is_dataclass(tp):
        return parse_dataclass(tp, value, path)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, f"expected true or false, got {_type_name(value)} {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, f"expected an integer, got {_type_name(value)} {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(path, f"expected a number, got {_type_name(value)} {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(path, f"expected a string, got {_type_name(value)} {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(path, f"expected a list, got {_type_name(value)} {value!r}")
        (inner,) = typing.get_args(tp)
        return [_coerce(inner, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(path, f"expected a mapping, got {_type_name(value)} {value!r}")
        return dict(value)
    raise TypeError(f"unsupported config field type {tp!r} at {path}")


T = typing.TypeVar("T")


def parse_dataclass(cls: type[T], data: Any, path: str) -> T:
    """Builds `cls` from a mapping, checking keys, types and (via `validate`) values."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path or "<root>", f"expected a mapping, got {_type_name(data)} {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    prefix = f"{path}." if path else ""
    for key in data:
        if key not in fields:
            raise ConfigError(f"{prefix}{key}", f"unknown key; allowed keys: {', '.join(fields)}")
    kwargs = {name: _coerce(hints[name], data[name], f"{prefix}{name}")
              for name in fields if name in data}
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if validate is not None:
        validate(path)
    return obj


def _check(ok: bool, path: str, message: str) -> None:
    if not ok:
        raise ConfigError(path, message)


def _importable(target: str, path: str) -> None:
    try:
        if not callable(models.import_object(target, path)):
            raise ConfigError(path, f"{target!r} is not callable")
    except ValueError as e:
        raise ConfigError(path, str(e).removeprefix(f"{path} ")) from None


# --- sections ----------------------------------------------------------------------------------

EMBEDDED_DATASETS = ("digits",)
FOLDER_DATASET = "folder"

# Vertex AI AcceleratorType names that a training task may ask for.
VERTEX_ACCELERATORS = (
    "NVIDIA_TESLA_T4", "NVIDIA_TESLA_V100", "NVIDIA_TESLA_P100", "NVIDIA_TESLA_P4",
    "NVIDIA_L4", "NVIDIA_TESLA_A100", "NVIDIA_A100_80GB", "NVIDIA_H100_80GB",
    "NVIDIA_H100_MEGA_80GB", "NVIDIA_H200_141GB", "NVIDIA_B200",
    "TPU_V2", "TPU_V3", "TPU_V4_POD", "TPU_V5_LITEPOD",
)

_CPU_RE = re.compile(r"^\d+(\.\d+)?m?$")
_MEMORY_RE = re.compile(r"^\d+(\.\d+)?(E|P|T|G|M|K|Ei|Pi|Ti|Gi|Mi|Ki)?$")
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class DatasetConfig:
    # `digits` (embedded, no network), `folder` (data_dir/<split>/<class>/*.png|jpg),
    # or any tfds image classification dataset name, e.g. `cifar10`.
    name: str = "digits"
    data_dir: str | None = None
    # tfds may download only when this is true; otherwise the data must already be in data_dir.
    download: bool = False
    # Carved (deterministically, by seed) out of train when the dataset has no such split.
    validation_fraction: float = 0.15
    test_fraction: float = 0.15
    # Caps each split, for smoke runs on big datasets.
    max_examples_per_split: int | None = None

    def validate(self, path: str) -> None:
        p = f"{path}."
        _check(0.0 < self.validation_fraction < 1.0, p + "validation_fraction",
               f"must be in (0, 1), got {self.validation_fraction}")
        _check(0.0 < self.test_fraction < 1.0, p + "test_fraction",
               f"must be in (0, 1), got {self.test_fraction}")
        _check(self.validation_fraction + self.test_fraction < 1.0, p + "test_fraction",
               "validation_fraction + test_fraction must leave some training data (< 1)")
        _check(self.max_examples_per_split is None or self.max_examples_per_split > 0,
               p + "max_examples_per_split", "must be a positive integer or null")
        if self.name == FOLDER_DATASET:
            _check(bool(self.data_dir), p + "data_dir",
                   "is required when dataset.name is 'folder' (root of <split>/<class>/ images)")
        elif self.name not in EMBEDDED_DATASETS:
            known = _tfds_builders()
            _check(self.name in known, p + "name",
                   f"unknown dataset {self.name!r}; allowed: {', '.join(EMBEDDED_DATASETS)}, "
                   f"'{FOLDER_DATASET}', or a tfds dataset name (e.g. cifar10, cifar100, mnist)")


def _tfds_builders() -> set[str]:
    # tfds imports TensorFlow: only paid when the config names a tfds dataset. Community
    # datasets would be listed from the network: the built-in list is enough to validate.
    import tensorflow_datasets as tfds
    return set(tfds.list_builders(with_community_datasets=False))


@dataclass(frozen=True)
class AugmentationConfig:
    # `basic` is the original code's policy: random flip, pad-and-crop, cutout.
    # `autoaugment` adds AutoAugment's CIFAR-10 policy (before cutout), `randaugment` adds
    # RandAugment (before cutout). `none` turns every augmentation off.
    policy: Literal["basic", "autoaugment", "randaugment", "none"] = "basic"
    flip: bool = True
    pad_crop: int = 4   # pixels of zero padding before a random crop back to size; 0 = off
    cutout: int = 16    # side of the square cut out; 0 = off
    randaugment_num_ops: int = 2        # operations per image
    randaugment_magnitude: float = 0.5  # 0..1 of each operation's range (0.5 ~ the paper's M=15 of 30)

    def validate(self, path: str) -> None:
        _check(self.pad_crop >= 0, f"{path}.pad_crop", f"must be >= 0, got {self.pad_crop}")
        _check(self.cutout >= 0, f"{path}.cutout", f"must be >= 0, got {self.cutout}")
        _check(self.randaugment_num_ops >= 1, f"{path}.randaugment_num_ops",
               f"must be >= 1, got {self.randaugment_num_ops}")
        _check(0.0 <= self.randaugment_magnitude <= 1.0, f"{path}.randaugment_magnitude",
               f"must be in [0, 1], got {self.randaugment_magnitude}")


@dataclass(frozen=True)
class GrowthConfig:
    depth: int = 1    # layers (cells) added by the `deeper` move; the paper's N+1
    width: int = 16   # filters/units added by the `wider` move; the paper's F+240
    # Family `keras` only: the integer architecture keys that `deeper` and `wider` grow.
    depth_key: str | None = None
    width_key: str | None = None

    def validate(self, path: str) -> None:
        _check(self.depth >= 1, f"{path}.depth", f"must be >= 1, got {self.depth}")
        _check(self.width >= 1, f"{path}.width", f"must be >= 1, got {self.width}")


@dataclass(frozen=True)
class SearchConfig:
    # `cnn`, `dnn`, `nasnet`, or `keras`: any builder function named by `builder`.
    family: str = "cnn"
    # Overrides of the family's default architecture (see `adanas.models`); for `keras`, the
    # spec passed to the builder as is.
    architecture: dict[str, Any] = field(default_factory=dict)
    # Family `keras`: 'package.module:function', build(spec, input_shape, num_classes) -> Model.
    builder: str | None = None
    # `simple`, `dynamic`, or 'package.module:function' for your own generator:
    # f(iteration, count, base: dict, last: dict | None) -> list of architecture dicts.
    generator: str = "dynamic"
    growth: GrowthConfig = field(default_factory=GrowthConfig)
    candidates_per_iteration: int = 2
    boosting_iterations: int = 3
    # The ensemble must take a new member every iteration (the previous ensemble is not a
    # candidate of its own).
    force_grow: bool = True
    # Which candidate ensembles an iteration forms: `grow` (previous members + one new),
    # `all` (previous + every new one), `solo` (each new one alone); several may be listed.
    ensemble_strategies: list[Literal["grow", "all", "solo"]] = field(default_factory=lambda: ["grow"])
    # `mean`: uniform average of member logits. `weighted`: mixture weights fitted on the
    # validation split's cached logits by minimising the AdaNet objective (adanas.ensemblers).
    # `caruana`: greedy selection with replacement from every subnetwork trained so far
    # (Caruana et al. 2004); ensemble_strategies do not apply.
    ensembler: Literal["mean", "weighted", "caruana"] = "mean"
    caruana_rounds: int = 20
    # Stop the search after an iteration that lowered the objective by less than this; null = never.
    early_stopping_margin: float | None = None
    # Candidates whose ensemble would exceed this many (trainable) parameters are not proposed
    # (the paper's "<= 33M"); null = no budget.
    max_ensemble_params: int | None = None
    # What selection minimises on the validation split. With `weighted` it is the AdaNet
    # objective, whose data term is the validation loss: only `validation_loss` is allowed.
    objective: Literal["validation_loss", "validation_error"] = "validation_loss"
    # `weighted` only: one weight per member, per member and class, or a C x C matrix per member.
    mixture_weight_type: Literal["scalar", "vector", "matrix"] = "scalar"
    adanet_lambda: float = 0.0   # complexity penalty: (lambda * r(h) + beta) * |w|_1
    adanet_beta: float = 0.0
    use_bias: bool = False
    # r(h): sqrt of the member's depth (layers or cells), log of its parameter count, or none.
    complexity: Literal["sqrt_depth", "log_params", "none"] = "sqrt_depth"

    def validate(self, path: str) -> None:
        p = f"{path}."
        families = list(models.FAMILIES) + ["keras"]
        _check(self.family in families, p + "family",
               f"unknown family {self.family!r}; allowed: {', '.join(families)}")
        _check((self.builder is not None) == (self.family == "keras"), p + "builder",
               "is required with family 'keras' (package.module:function) and only then")
        if self.builder is not None:
            _importable(self.builder, p + "builder")
        if ":" in self.generator:
            _importable(self.generator, p + "generator")
        else:
            _check(self.generator in generators.GENERATORS, p + "generator",
                   f"unknown generator {self.generator!r}; allowed: "
                   f"{', '.join(generators.GENERATORS)}, or package.module:function")
        if self.family == "keras" and self.generator == "dynamic":
            _check(bool(self.growth.depth_key or self.growth.width_key), p + "growth.depth_key",
                   "the dynamic generator needs growth.depth_key and/or width_key with family 'keras'")
        _check(self.candidates_per_iteration >= 1, p + "candidates_per_iteration",
               f"must be >= 1, got {self.candidates_per_iteration}")
        _check(self.boosting_iterations >= 1, p + "boosting_iterations",
               f"must be >= 1, got {self.boosting_iterations}")
        _check(len(self.ensemble_strategies) >= 1 and
               len(set(self.ensemble_strategies)) == len(self.ensemble_strategies),
               p + "ensemble_strategies", "list one or more of grow, all, solo, each once")
        _check(self.caruana_rounds >= 1, p + "caruana_rounds", f"must be >= 1, got {self.caruana_rounds}")
        _check(self.max_ensemble_params is None or self.max_ensemble_params >= 1,
               p + "max_ensemble_params", "must be a positive integer or null")
        _check(self.ensembler != "caruana" or self.objective == "validation_loss", p + "objective",
               "must be 'validation_loss' with the caruana ensembler")
        _check(self.adanet_lambda >= 0, p + "adanet_lambda", f"must be >= 0, got {self.adanet_lambda}")
        _check(self.adanet_beta >= 0, p + "adanet_beta", f"must be >= 0, got {self.adanet_beta}")
        _check(self.ensembler != "weighted" or self.objective == "validation_loss", p + "objective",
               "must be 'validation_loss' with the weighted ensembler (its data term)")
        self.arch()  # validates search.architecture against the family

    def family_impl(self):
        return models.family_of(self.family, self.builder, self.growth.depth_key,
                                self.growth.width_key)

    def arch(self) -> Any:
        """The base architecture: the family's defaults with `architecture` applied."""
        return self.family_impl().parse(self.architecture, "search.architecture")


@dataclass(frozen=True)
class TrainingConfig:
    batch_size: int = 32
    # Length of each candidate's training in one iteration: steps or epochs, exactly one.
    max_iteration_steps: int | None = None
    train_epochs: int | None = 10
    optimizer: Literal["momentum", "sgd", "adam", "rmsprop"] = "momentum"
    momentum: float = 0.9        # momentum and rmsprop
    use_nesterov: bool = False   # momentum only
    initial_learning_rate: float = 0.025
    # Cosine decays to 0 over each candidate's training, restarting every iteration.
    learning_rate_schedule: Literal["cosine", "constant"] = "cosine"
    warmup_steps: int = 0        # linear warm-up from 0 before the schedule
    label_smoothing: float = 0.1
    weight_decay: float = 5e-4
    clip_gradients: float = 5.0  # global-norm clipping; 0 = off
    # Distillation from the ensemble so far (iteration > 0): `born_again` learns from the last
    # member's logits, `adaptive` from the whole ensemble's. The teacher logits are cached per
    # training example, so a step costs the same however large the ensemble is.
    knowledge_distillation: Literal["none", "born_again", "adaptive"] = "none"
    distillation_temperature: float = 1.0   # 1 = the original (no temperature)
    # `mirrored`: tf.distribute.MirroredStrategy over every GPU of the task (synchronous data
    # parallelism; batch_size is the global batch); `tpu`: TPUStrategy on the task's TPU VM.
    distribution: Literal["none", "mirrored", "tpu"] = "none"
    # Preemption: a checkpoint at each epoch's end, but not more often than this: a retried task
    # loses at most one epoch or this many seconds of work. (Saving a tiny model's 0.3 s epochs
    # every time costs ~20% of its training.)
    checkpoint_min_seconds: float = 10.0
    use_bf16: bool = False       # mixed precision (bfloat16 compute, float32 weights and logits)
    use_xla: bool = False        # jit_compile the train step

    def validate(self, path: str) -> None:
        p = f"{path}."
        _check(self.batch_size >= 1, p + "batch_size", f"must be >= 1, got {self.batch_size}")
        _check((self.max_iteration_steps is None) != (self.train_epochs is None),
               p + "train_epochs", "set exactly one of max_iteration_steps and train_epochs")
        for name in ("max_iteration_steps", "train_epochs"):
            value = getattr(self, name)
            _check(value is None or value >= 1, p + name, f"must be >= 1, got {value}")
        _check(self.initial_learning_rate > 0, p + "initial_learning_rate",
               f"must be > 0, got {self.initial_learning_rate}")
        _check(0.0 <= self.momentum < 1.0, p + "momentum", f"must be in [0, 1), got {self.momentum}")
        _check(0.0 <= self.label_smoothing < 1.0, p + "label_smoothing",
               f"must be in [0, 1), got {self.label_smoothing}")
        _check(self.weight_decay >= 0, p + "weight_decay", f"must be >= 0, got {self.weight_decay}")
        _check(self.clip_gradients >= 0, p + "clip_gradients",
               f"must be >= 0 (0 = off), got {self.clip_gradients}")
        _check(self.warmup_steps >= 0, p + "warmup_steps", f"must be >= 0, got {self.warmup_steps}")
        _check(self.checkpoint_min_seconds >= 0, p + "checkpoint_min_seconds",
               f"must be >= 0 (0 = every epoch), got {self.checkpoint_min_seconds}")
        _check(self.distillation_temperature > 0, p + "distillation_temperature",
               f"must be > 0, got {self.distillation_temperature}")
        _check(not self.use_nesterov or self.optimizer == "momentum", p + "use_nesterov",
               f"applies to the momentum optimizer only, not {self.optimizer!r}")


@dataclass(frozen=True)
class TaskResources:
    cpu_limit: str | None = None      # Kubernetes quantity: "4", "500m"
    memory_limit: str | None = None   # "16G", "512Mi"
    accelerator_type: str | None = None
    accelerator_count: int = 0
    retries: int = 0                  # orchestrator retries of a failed task (e.g. preemption)

    def validate(self, path: str) -> None:
        p = f"{path}."
        _check(self.cpu_limit is None or bool(_CPU_RE.match(self.cpu_limit)), p + "cpu_limit",
               f"got {self.cpu_limit!r}; expected a CPU quantity such as '4', '0.5' or '500m'")
        _check(self.memory_limit is None or bool(_MEMORY_RE.match(self.memory_limit)),
               p + "memory_limit",
               f"got {self.memory_limit!r}; expected a memory quantity such as '16G' or '512Mi'")
        _check(self.retries >= 0, p + "retries", f"must be >= 0, got {self.retries}")
        if self.accelerator_type is None:
            _check(self.accelerator_count == 0, p + "accelerator_count",
                   "needs accelerator_type to be set")
        else:
            _check(self.accelerator_type in VERTEX_ACCELERATORS, p + "accelerator_type",
                   f"unknown accelerator {self.accelerator_type!r}; allowed: "
                   f"{', '.join(VERTEX_ACCELERATORS)}")
            _check(self.accelerator_count >= 1, p + "accelerator_count",
                   f"must be >= 1 when accelerator_type is set, got {self.accelerator_count}")


_MACHINE_TYPE_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)+$")


@dataclass(frozen=True)
class CustomJobConfig:
    """`vertex` target only: each candidate trains as a Vertex AI CustomJob (adanas/customjob.py)
    on `machine_type` with resources.train's accelerators, over `replica_count` machines: for
    several GPUs per candidate on a chosen machine shape, several machines, or a TPU VM."""
    enabled: bool = False
    machine_type: str | None = None        # e.g. a2-highgpu-4g, a3-highgpu-8g, ct5lp-hightpu-4t
    # Machines per candidate. Only 1: Keras 3's fit has no MultiWorkerMirroredStrategy support
    # (keras-team/keras#20585), so a candidate scales up within one machine (8 GPUs, a TPU VM).
    replica_count: int = 1
    boot_disk_gb: int = 100
    boot_disk_type: Literal["pd-ssd", "pd-standard"] = "pd-ssd"
    project: str | None = None             # default: the pipeline run's project
    location: str | None = None            # default: the pipeline run's region
    service_account: str | None = None     # default: the project's Vertex AI service agent
    network: str | None = None             # projects/NUMBER/global/networks/NAME
    spot: bool = False                     # Spot VMs: cheaper, preemptible (training resumes)
    restart_on_worker_restart: bool = False
    timeout_hours: float | None = None
    base_output_dir: str | None = None     # gs://...; default: beside each task's outputs
    poll_seconds: float = 30.0

    def validate(self, path: str) -> None:
        p = f"{path}."
        if self.enabled:
            _check(self.machine_type is not None, p + "machine_type",
                   "required when enabled (e.g. a2-highgpu-4g, a3-highgpu-8g, ct5lp-hightpu-4t)")
        _check(self.machine_type is None or bool(_MACHINE_TYPE_RE.match(self.machine_type)),
               p + "machine_type", f"got {self.machine_type!r}; expected a Compute Engine "
               f"machine type such as n1-standard-8 or a2-highgpu-1g")
        _check(self.replica_count == 1, p + "replica_count",
               f"got {self.replica_count}; only 1 is allowed: Keras 3 cannot train one model over "
               f"several machines (no MultiWorkerMirroredStrategy in fit, keras-team/keras#20585). "
               f"Scale a candidate within one machine: accelerator_count up to 8, or a TPU VM")
        _check(self.boot_disk_gb >= 100, p + "boot_disk_gb",
               f"must be >= 100 (Vertex AI's minimum), got {self.boot_disk_gb}")
        _check(self.timeout_hours is None or self.timeout_hours > 0, p + "timeout_hours",
               f"must be > 0, got {self.timeout_hours}")
        _check(self.poll_seconds > 0, p + "poll_seconds", f"must be > 0, got {self.poll_seconds}")
        _check(self.base_output_dir is None or self.base_output_dir.startswith("gs://"),
               p + "base_output_dir", f"must be a gs:// path, got {self.base_output_dir!r}")


@dataclass(frozen=True)
class ResourcesConfig:
    # Data, generation, selection and evaluation steps.
    default: TaskResources = field(
        default_factory=lambda: TaskResources(cpu_limit="2", memory_limit="8G"))
    # Each candidate's training task.
    train: TaskResources = field(
        default_factory=lambda: TaskResources(cpu_limit="4", memory_limit="16G"))
    # Each candidate's training as a Vertex AI CustomJob instead of a pipeline task.
    custom_job: CustomJobConfig = field(default_factory=CustomJobConfig)


KUBERNETES_ACCELERATORS = ("nvidia.com/gpu", "amd.com/gpu", "google.com/tpu")
_TOLERATION_KEYS = {"key", "operator", "value", "effect"}


@dataclass(frozen=True)
class KubernetesConfig:
    """The `kubernetes` compile target (open-source KFP on kind/GKE): how training tasks reach
    the accelerator node pool. Vertex AI ignores this section."""
    # The extended resource put in the train pods' limits (count: resources.train.accelerator_count).
    accelerator_resource: str = "nvidia.com/gpu"
    # Node labels of the GPU node pool, e.g. {cloud.google.com/gke-accelerator: nvidia-l4}.
    node_selector: dict[str, Any] = field(default_factory=dict)
    # The taint GPU pools usually carry.
    tolerations: list[dict[str, Any]] = field(default_factory=lambda: [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}])

    def validate(self, path: str) -> None:
        p = f"{path}."
        _check(self.accelerator_resource in KUBERNETES_ACCELERATORS, p + "accelerator_resource",
               f"unknown accelerator resource {self.accelerator_resource!r}; allowed: "
               f"{', '.join(KUBERNETES_ACCELERATORS)}")
        for k, v in self.node_selector.items():
            _check(isinstance(v, str), f"{p}node_selector.{k}", f"expected a string label value, got {v!r}")
        for i, t in enumerate(self.tolerations):
            where = f"{p}tolerations[{i}]"
            _check(isinstance(t, dict) and set(t) <= _TOLERATION_KEYS, where,
                   f"expected a mapping with keys among {', '.join(sorted(_TOLERATION_KEYS))}, got {t!r}")
            _check(t.get("operator", "Equal") in ("Equal", "Exists"), where + ".operator",
                   "allowed: Equal, Exists")
            _check(t.get("effect") in (None, "NoSchedule", "PreferNoSchedule", "NoExecute"),
                   where + ".effect", "allowed: NoSchedule, PreferNoSchedule, NoExecute")


@dataclass(frozen=True)
class Config:
    name: str = "adanas"
    seed: int = 0
    # Container image repository (e.g. us-docker.pkg.dev/PROJECT/REPO/adanas); the tag is
    # always the package version, so images and code cannot drift apart.
    image: str = "adanas"
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    kubernetes: KubernetesConfig = field(default_factory=KubernetesConfig)

    def validate(self, path: str) -> None:
        _check(bool(_NAME_RE.match(self.name)) and len(self.name) <= 100, "name",
               f"got {self.name!r}; use lowercase letters, digits and hyphens (a KFP pipeline name)")
        _check(self.seed >= 0, "seed", f"must be >= 0, got {self.seed}")
        self._validate_distribution()
        last = self.image.rsplit("/", 1)[-1]
        _check(bool(self.image) and ":" not in last and "@" not in last, "image",
               f"got {self.image!r}; give the repository without a tag: the tag is the "
               f"package version")

    def _validate_distribution(self) -> None:
        """The training strategy and the accelerators must agree."""
        dist, train = self.training.distribution, self.resources.train
        tpu = (train.accelerator_type or "").startswith("TPU_")
        if dist == "tpu" or tpu:
            _check(dist == "tpu" and tpu, "training.distribution" if tpu else "resources.train.accelerator_type",
                   f"TPUs train under distribution 'tpu' (got {dist!r}) on a TPU accelerator "
                   f"(got {train.accelerator_type!r})")

    def image_uri(self) -> str:
        from adanas import __version__
        return f"{self.image}:{__version__}"

    def train_image_uri(self) -> str:
        """Training runs in the GPU image (`<image>-gpu`) when it asks for NVIDIA GPUs, in the
        TPU image (`<image>-tpu`) on TPUs."""
        from adanas import __version__
        kind = (self.resources.train.accelerator_type or "").split("_")[0]
        suffix = {"NVIDIA": "-gpu", "TPU": "-tpu"}.get(kind, "")
        return f"{self.image}{suffix}:{__version__}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --- loading -----------------------------------------------------------------------------------

class _Loader(yaml.SafeLoader):
    """yaml.SafeLoader that also reads `5e-4` as a float (YAML 1.1 insists on `5.0e-4`)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    path = path.resolve()
    if path in seen:
        raise ConfigError("extends", f"cycle: {' -> '.join(map(str, seen + (path,)))}")
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError("<file>", f"cannot read config {path}: {e.strerror}") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        raise ConfigError("<file>", f"{path} is not valid YAML: {e}") from None
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError("<root>", f"{path} must hold a mapping, got {_type_name(data)}")
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ConfigError("extends", f"expected a file path, got {_type_name(parent)}")
    return merge(_read_yaml(path.parent / parent, seen + (path,)), data)


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Deep merge: mappings merge key by key, anything else in `over` replaces."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Applies `a.b.c=value` strings (value parsed as YAML) on top of a raw config mapping."""
    data = dict(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError("<override>", f"expected KEY.PATH=VALUE, got {item!r}")
        value = yaml.load(raw, Loader=_Loader)  # noqa: S506
        node: dict[str, Any] = {}
        keys = key.split(".")
        cursor = node
        for k in keys[:-1]:
            cursor[k] = {}
            cursor = cursor[k]
        cursor[keys[-1]] = value
        data = merge(data, node)
    return data


def from_dict(data: dict[str, Any]) -> Config:
    return parse_dataclass(Config, data, "")


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    data = _read_yaml(Path(path))
    if overrides:
        data = apply_overrides(data, overrides)
    return from_dict(data)


_SECTIONS = {"dataset": DatasetConfig, "augmentation": AugmentationConfig,
             "search": SearchConfig, "training": TrainingConfig}


def section_from_json(name: str, text: str) -> Any:
    """One section of the config as a pipeline step receives it (JSON), validated on arrival.

    Sections cross task boundaries as JSON strings: KFP turns numbers inside dict parameters
    into floats, and an int field must stay an int.
    """
    return parse_dataclass(_SECTIONS[name], json.loads(text), name)


def section_json(cfg: Config, name: str) -> str:
    return json.dumps(dataclasses.asdict(getattr(cfg, name)), sort_keys=True)
