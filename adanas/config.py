"""Typed, validated search configuration: the bottom layer of `adanas` (imports nothing of it).

A search is described by one YAML file. It is parsed into frozen dataclasses; every key is
checked before any compute: unknown keys, wrong types and impossible values raise ConfigError
naming the key path (e.g. ``training.initial_learning_rate``) and what is allowed. Each field's
documentation is its `description`: `adanas validate --show` prints it beside the value and
`adanas schema` writes it into a JSON Schema for YAML editors.

A config may start from another one with ``extends: other.yaml`` (a path relative to the
file); the child's keys are merged over the parent's, mapping by mapping.

Design: pydantic dataclasses (strict scalar types, extra keys forbidden). They stay standard
frozen dataclasses (`dataclasses.asdict`/`replace`/`fields` and keyword construction work, so
no caller changes); pydantic's validator replaces the hand-written type parser (63 -> 50 lines
with the ~25-line translation of its first error into the same key-path messages), gives the
JSON Schema (with each field's description) instead of a second hand-written walker, and
validates keyword construction too. Value rules (ranges, cross-field rules) stay in each
class's `validate(path)`, run bottom-up after parsing. Cost: importing pydantic (~0.25 s).

The architecture dataclasses of the built-in families (CnnArch, DnnArch, NasnetArch) live here,
as the schema of `search.architecture`; `adanas.models` builds them and re-exports them. The
built-in family and generator names are declared here (FAMILY_ARCHITECTURES, GENERATOR_NAMES);
tests/test_imports.py checks that they match the registries of models.py and generators.py.
Rules of one compile target (Vertex AI or Kubernetes) are in `check_target`.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import re
import textwrap
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (BeforeValidator, ConfigDict, Field, Strict, StrictBool, StrictFloat,
                      StrictInt, StrictStr, TypeAdapter, ValidationError)
from pydantic.dataclasses import dataclass

from adanas.images import image_ref


class ConfigError(ValueError):
    """A config value that cannot be used; the message starts with the key path."""

    def __init__(self, path: str, message: str):
        self.path = path
        super().__init__(f"{path}: {message}")


# --- parsing: pydantic's validation, our messages -----------------------------------------------

# Strict scalars: no "1" for 1, no true for 1; an int is accepted (and stored) as a float.
Int, Float, Bool, Str = StrictInt, StrictFloat, StrictBool, StrictStr
Mapping = Annotated[dict[str, Any], Strict()]
# An empty section in YAML (`augmentation:` with every key commented out) means its defaults.
_NULL_IS_DEFAULTS = BeforeValidator(lambda v: {} if v is None else v)
_SCHEMA = ConfigDict(extra="forbid")

_EXPECTED = {"int_type": "an integer", "float_type": "a number", "bool_type": "true or false",
             "string_type": "a string", "list_type": "a list", "dict_type": "a mapping",
             "dataclass_type": "a mapping"}


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _type_at(tp: Any, loc: tuple) -> Any:
    """The declared type at an error location (Annotated and Optional removed)."""
    for key in (None, *loc):
        if key is not None:
            tp = typing.get_args(tp)[0] if isinstance(key, int) else typing.get_type_hints(tp)[key]
        while typing.get_origin(tp) in (typing.Union, types.UnionType):
            (tp,) = [a for a in typing.get_args(tp) if a is not type(None)]
    return tp


def _config_error(cls: type, error: dict[str, Any], prefix: str) -> ConfigError:
    loc, kind, value = error["loc"], error["type"], error.get("input")
    path = prefix + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in loc)
    path = path.lstrip(".") or "<root>"
    if kind == "unexpected_keyword_argument":
        allowed = ", ".join(f.name for f in dataclasses.fields(_type_at(cls, loc[:-1])))
        return ConfigError(path, f"unknown key; allowed keys: {allowed}")
    if kind == "literal_error":
        allowed = ", ".join(map(repr, typing.get_args(_type_at(cls, loc))))
        return ConfigError(path, f"got {value!r}; allowed values: {allowed}")
    if kind in _EXPECTED:
        return ConfigError(path, f"expected {_EXPECTED[kind]}, got {_type_name(value)} {value!r}")
    return ConfigError(path, error["msg"])


def _validate_values(obj: Any, path: str) -> None:
    """Each dataclass's `validate(path)`, children first."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            _validate_values(value, f"{path}.{f.name}" if path else f.name)
    obj.validate(path)


T = typing.TypeVar("T")


def parse_dataclass(cls: type[T], data: Any, path: str) -> T:
    """Builds `cls` from a mapping, checking keys, types and (via `validate`) values."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(path or "<root>", f"expected a mapping, got {_type_name(data)} {data!r}")
    try:
        obj = cls.__pydantic_validator__.validate_python(data)
    except ValidationError as e:
        raise _config_error(cls, e.errors()[0], path) from None
    _validate_values(obj, path)
    return obj


_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
# The least budget that can train anything: a task's start, one step, its logits and its save.
MIN_BUDGET_SECONDS = 10.0
# The least share of it a candidate is given (adanas.budget): below it a task is mostly start-up
# and logits.
MIN_SHARE_SECONDS = 5.0


def duration_seconds(value: float | int | str) -> float:
    """Seconds of a duration: a number of hours, or a string '<number><unit>' with unit s, m or h."""
    if isinstance(value, bool):
        raise ValueError(f"must be hours (a number) or a string such as '150s', '20m', '1.5h'; got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value) * 3600.0
    else:
        text = value.strip().lower()
        unit = text[-1:] if text[-1:] in _UNITS else ""
        try:
            seconds = float(text[:-1] if unit else text) * _UNITS.get(unit, 3600.0)
        except ValueError:
            raise ValueError(f"must be hours (a number) or a string such as '150s', '20m', "
                             f"'1.5h' (units: s, m, h); got {value!r}") from None
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"must be a positive duration, got {value!r}")
    return seconds


def _check(ok: bool, path: str, message: str) -> None:
    if not ok:
        raise ConfigError(path, message)


def _importable(target: str, path: str) -> None:
    """`package.module:function` must import and be callable (what models/generators load)."""
    module_name, sep, attr = target.partition(":")
    _check(bool(sep and module_name and attr), path, f"{target!r}: expected 'package.module:function'")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(path, f"{target!r} cannot be imported: {e}") from None
    _check(callable(obj), path, f"{target!r} is not callable")


def _doc(cls: Any, name: str) -> str:
    return cls.__pydantic_fields__[name].description or ""


# --- search.architecture of the built-in families ----------------------------------------------

def _positive(arch: Any, path: str, *names: str) -> None:
    for name in names:
        _check(getattr(arch, name) >= 1, f"{path}.{name}", f"must be >= 1, got {getattr(arch, name)}")


def _dense_and_dropout(arch: Any, path: str) -> None:
    _check(getattr(arch, "dense_units", 0) >= 0, f"{path}.dense_units",
           f"must be >= 0, got {getattr(arch, 'dense_units', 0)}")
    _check(0.0 <= arch.dropout < 1.0, f"{path}.dropout", f"must be in [0, 1), got {arch.dropout}")


@dataclass(frozen=True, config=_SCHEMA)
class CnnArch:
    num_layers: Int = Field(2, description="conv-BN-ReLU blocks; a 2x2 max-pool (and twice the "
                            "filters) follows every second block while the feature map is at "
                            "least 4 pixels")
    filters: Int = Field(16, description="filters of the first block")
    kernel_size: Int = Field(3, description="side of the square convolution kernels")
    dense_units: Int = Field(0, description="hidden dense layer before the logits; 0 = none")
    dropout: Float = Field(0.0, description="dropout before the logits, in [0, 1)")

    def validate(self, path: str) -> None:
        _positive(self, path, "num_layers", "filters", "kernel_size")
        _dense_and_dropout(self, path)

    def describe(self) -> str:
        return f"cnn({self.num_layers}@{self.filters})"


@dataclass(frozen=True, config=_SCHEMA)
class DnnArch:
    num_layers: Int = Field(1, description="hidden dense ReLU layers")
    units: Int = Field(64, description="units of each hidden layer")
    dropout: Float = Field(0.0, description="dropout before the logits, in [0, 1)")

    def validate(self, path: str) -> None:
        _positive(self, path, "num_layers", "units")
        _dense_and_dropout(self, path)

    def describe(self) -> str:
        return f"dnn({self.num_layers}@{self.units})"


@dataclass(frozen=True, config=_SCHEMA)
class NasnetArch:
    cells_per_stack: Int = Field(6, description="N: normal cells per stack")
    penultimate_filters: Int = Field(768, description="F: filters of the last cells; a multiple of 24")
    stem_multiplier: Float = Field(3.0, description="stem filters = stem_multiplier * F / 24")
    filter_scaling_rate: Float = Field(2.0, description="filter growth at each reduction")
    num_reduction_layers: Int = Field(2, description="reduction cells (stacks - 1)")
    drop_path_keep_prob: Float = Field(0.6, description="ScheduledDropPath keep probability, in (0, 1]")
    use_aux_head: Bool = Field(False, description="auxiliary classifier head (training only)")
    aux_head_weight: Float = Field(0.4, description="weight of the auxiliary head's loss")
    dense_dropout_keep_prob: Float = Field(1.0, description="keep probability before the logits, in (0, 1]")

    def validate(self, path: str) -> None:
        p = f"{path}."
        _positive(self, path, "cells_per_stack")
        _check(self.penultimate_filters >= 24 and self.penultimate_filters % 24 == 0,
               p + "penultimate_filters",
               f"must be a positive multiple of 24, got {self.penultimate_filters}")
        _check(0.0 < self.drop_path_keep_prob <= 1.0, p + "drop_path_keep_prob",
               f"must be in (0, 1], got {self.drop_path_keep_prob}")
        _check(0.0 < self.dense_dropout_keep_prob <= 1.0, p + "dense_dropout_keep_prob",
               f"must be in (0, 1], got {self.dense_dropout_keep_prob}")
        _check(self.num_reduction_layers >= 0, p + "num_reduction_layers",
               f"must be >= 0, got {self.num_reduction_layers}")
        _check(self.aux_head_weight >= 0, p + "aux_head_weight",
               f"must be >= 0, got {self.aux_head_weight}")

    def describe(self) -> str:
        return f"nasnet({self.cells_per_stack}@{self.penultimate_filters})"

    def check_image_shape(self, image_shape, path: str = "search.architecture") -> None:
        """Each reduction cell halves the feature map (rounding up), and the auxiliary head,
        after the second reduction, pools 5x5 windows: both need images large enough."""
        side = size = min(int(image_shape[0]), int(image_shape[1]))
        after_second = None
        for k in range(1, self.num_reduction_layers + 1):
            _check(size >= 2, f"{path}.num_reduction_layers",
                   f"{self.num_reduction_layers} reductions on {image_shape[0]}x{image_shape[1]} "
                   f"images: reduction {k} would halve a {size}x{size} feature map; use at most {k - 1}")
            size = -(-size // 2)
            if k == 2:
                after_second = size
        if self.use_aux_head and after_second is not None:
            _check(after_second >= 5, f"{path}.use_aux_head",
                   f"the auxiliary head pools 5x5 windows of the {after_second}x{after_second} "
                   f"feature map after the second reduction ({side}-pixel images need at least "
                   f"17); set it false for images this small")


# The built-in families (adanas.models.FAMILIES builds them) and generators
# (adanas.generators.GENERATORS); `keras` and `package.module:function` generators come on top.
FAMILY_ARCHITECTURES: dict[str, type] = {"cnn": CnnArch, "dnn": DnnArch, "nasnet": NasnetArch}
GENERATOR_NAMES = ("simple", "dynamic")


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
_TOPOLOGY_RE = re.compile(r"^\d+x\d+(x\d+)?$")


def _is_tpu(accelerator_type: str | None) -> bool:
    return (accelerator_type or "").startswith("TPU_")


@dataclass(frozen=True, config=_SCHEMA)
class DatasetConfig:
    name: Str = Field("digits", description="`digits` (embedded, no network), `folder` "
                      "(data_dir/<split>/<class>/*.png|jpg|jpeg), or any tfds image "
                      "classification dataset name, e.g. `cifar10`")
    data_dir: Str | None = Field(None, description="the folder dataset's root, or tfds' data "
                                 "directory (default: tfds' own)")
    download: Bool = Field(False, description="tfds may download only when this is true; "
                           "otherwise the data must already be in data_dir")
    validation_fraction: Float = Field(0.15, description="of the source's train split, carved "
                                       "(deterministically, by a fixed seed) out of it when the "
                                       "dataset has no validation split")
    test_fraction: Float = Field(0.15, description="of the source's train split, carved out of "
                                 "it when the dataset has no test split")
    max_examples_per_split: Int | None = Field(None, description="caps each split, for smoke "
                                               "runs on big datasets; null = all")
    image_size: Annotated[list[Int], Strict()] | None = Field(
        None, description="[height, width]: every image is resized to it (bilinear); null = "
        "keep the images' own size, which must then be the same for all of them")
    shard_size: Int = Field(4096, description="examples per stored shard (one TFRecord file "
                            "and its labels); the steps hold at most a shard of logits at a time")
    encoding: Literal["png", "raw"] = Field("png", description="how images are stored: `png` "
                                            "(lossless, small) or `raw` pixels (no decoding, "
                                            "larger files)")
    bad_images: Literal["fail", "skip"] = Field(
        "fail", description="undecodable or truncated image files: `fail` names them and "
        "stops the data step; `skip` leaves them out and counts them in the checks' report")
    min_examples_per_class: Int = Field(2, description="the data step fails when a class has "
                                        "fewer training examples than this")
    max_imbalance: Float = Field(10.0, description="the checks' report warns when the largest "
                                 "class has more than this many times the training examples of "
                                 "the smallest")
    duplicates: Literal["warn", "fail"] = Field(
        "warn", description="identical images in two splits (train/validation/test leakage): "
        "`warn` in the checks' report, or `fail` the data step")

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
        _check(self.image_size is None or (len(self.image_size) == 2 and min(self.image_size) > 0),
               p + "image_size", f"must be [height, width] of positive integers or null, got "
               f"{self.image_size}")
        _check(self.shard_size >= 1, p + "shard_size", f"must be >= 1, got {self.shard_size}")
        _check(self.min_examples_per_class >= 1, p + "min_examples_per_class",
               f"must be >= 1, got {self.min_examples_per_class}")
        _check(self.max_imbalance >= 1.0, p + "max_imbalance",
               f"must be >= 1 (max/min training examples per class), got {self.max_imbalance}")
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


@dataclass(frozen=True, config=_SCHEMA)
class AugmentationConfig:
    policy: Literal["basic", "autoaugment", "randaugment", "none"] = Field(
        "basic", description="`basic` is the original code's policy: random flip, pad-and-crop, "
        "cutout. `autoaugment` adds AutoAugment's CIFAR-10 policy (before cutout), `randaugment` "
        "adds RandAugment (before cutout). `none` turns every augmentation off")
    flip: Bool = Field(True, description="random horizontal flips")
    pad_crop: Int = Field(4, description="pixels of zero padding before a random crop back to "
                          "size; 0 = off")
    cutout: Int = Field(16, description="side of the square cut out; 0 = off")
    randaugment_num_ops: Int = Field(2, description="RandAugment: operations per image")
    randaugment_magnitude: Float = Field(0.5, description="RandAugment: 0..1 of each operation's "
                                         "range (0.5 ~ the paper's M=15 of 30)")

    def validate(self, path: str) -> None:
        _check(self.pad_crop >= 0, f"{path}.pad_crop", f"must be >= 0, got {self.pad_crop}")
        _check(self.cutout >= 0, f"{path}.cutout", f"must be >= 0, got {self.cutout}")
        _check(self.randaugment_num_ops >= 1, f"{path}.randaugment_num_ops",
               f"must be >= 1, got {self.randaugment_num_ops}")
        _check(0.0 <= self.randaugment_magnitude <= 1.0, f"{path}.randaugment_magnitude",
               f"must be in [0, 1], got {self.randaugment_magnitude}")

    def check_image_shape(self, image_shape, path: str = "augmentation") -> None:
        """Rules that need the images' [H, W, C] (adanas.preflight checks them before any
        compute when the dataset's shape is known; the prepare step checks them again)."""
        if self.policy == "none":
            return
        h, w = int(image_shape[0]), int(image_shape[1])
        side = min(h, w)
        _check(self.cutout <= side, f"{path}.cutout", f"cutout {self.cutout} is larger than "
               f"the {h}x{w} images; use at most {side} (0 turns it off)")
        _check(self.pad_crop < side, f"{path}.pad_crop", f"pad_crop {self.pad_crop} must be "
               f"smaller than the image side {side} (0 turns it off)")


@dataclass(frozen=True, config=_SCHEMA)
class GrowthConfig:
    depth: Int = Field(1, description="layers (cells) added by the `deeper` move; the paper's N+1")
    width: Int = Field(16, description="filters/units added by the `wider` move; the paper's F+240")
    depth_key: Str | None = Field(None, description="family `keras` only: the integer "
                                  "architecture key that `deeper` grows")
    width_key: Str | None = Field(None, description="family `keras` only: the integer "
                                  "architecture key that `wider` grows")

    def validate(self, path: str) -> None:
        _check(self.depth >= 1, f"{path}.depth", f"must be >= 1, got {self.depth}")
        _check(self.width >= 1, f"{path}.width", f"must be >= 1, got {self.width}")


@dataclass(frozen=True, config=_SCHEMA)
class SearchConfig:
    family: Str = Field("cnn", description="`cnn`, `dnn`, `nasnet`, or `keras`: any builder "
                        "function named by `builder`")
    architecture: Mapping = Field(default_factory=dict, description="overrides of the family's "
                                  "default architecture (see its keys in the schema); for "
                                  "`keras`, the spec passed to the builder as is")
    builder: Str | None = Field(None, description="family `keras`: 'package.module:function', "
                                "build(spec, input_shape, num_classes) -> keras.Model (logits)")
    generator: Str = Field("dynamic", description="`simple` (the base every iteration), "
                           "`dynamic` (grow the last chosen), or 'package.module:function' for "
                           "your own: f(iteration, count, base: dict, last: dict | None) -> "
                           "list of architecture dicts")
    growth: Annotated[GrowthConfig, _NULL_IS_DEFAULTS] = Field(
        default_factory=GrowthConfig, description="how much the dynamic generator's moves grow")
    candidates_per_iteration: Int = Field(2, description="candidates trained per iteration")
    boosting_iterations: Int = Field(3, description="AdaNet iterations (at most; see "
                                     "early_stopping_margin and max_ensemble_params)")
    force_grow: Bool = Field(True, description="the ensemble must take a new member every "
                             "iteration (the previous ensemble is not a candidate of its own)")
    ensemble_strategies: Annotated[list[Literal["grow", "all", "solo"]], Strict()] = Field(
        default_factory=lambda: ["grow"], description="which candidate ensembles an iteration "
        "forms: `grow` (previous members + one new), `all` (previous + every new one), `solo` "
        "(each new one alone); several may be listed")
    ensembler: Literal["mean", "weighted", "caruana"] = Field(
        "mean", description="`mean`: uniform average of member logits. `weighted`: mixture "
        "weights fitted on the validation split's cached logits by minimising the AdaNet "
        "objective (adanas.ensemblers). `caruana`: greedy selection with replacement from every "
        "subnetwork trained so far (Caruana et al. 2004); ensemble_strategies do not apply")
    caruana_rounds: Int = Field(20, description="`caruana`: greedy selection rounds")
    return_best: Bool = Field(True, description="return the best on validation of: the grown "
                              "ensemble, (with `mean`) the ensemble without its earliest members, "
                              "and the best single subnetwork trained, so the result is never "
                              "worse than one tower; false: always the grown ensemble (the paper's)")
    budget: Float | Int | Str | None = Field(
        None, description="the whole search's training budget: hours as a number (0.5), or a "
        "string with a unit ('150s', '20m', '1.5h'). Counted as the training tasks' wall-clock "
        "time on CPU and as accelerator time (task time x accelerators) on GPU/TPU. The "
        "iterations before the last share budget_exploration of it evenly over their "
        "candidates, planned at the start (overruns come out of the last's share); the last "
        "trains the best tower so far on, from its weights, with all that is left; after an "
        "exploring iteration where no tower learned, the search finishes at once on the tower "
        "grown from the deepest, from scratch; where max_ensemble_params admits no grown "
        "tower, the rest trains the best on (adanas.budget). With boosting_iterations 1 the "
        "candidates share the whole budget. Each candidate trains until its share is spent, "
        "its learning rate following the share's elapsed time (adanas.timed), instead of "
        "training.train_epochs / max_iteration_steps (still validated, unused). "
        "boosting_iterations stays the most it runs and sizes the exploring shares. At least "
        f"{MIN_BUDGET_SECONDS:g} s, and {MIN_SHARE_SECONDS:g} s per candidate of an iteration. null = off")
    budget_exploration: Float = Field(
        0.2, description="with a budget and boosting_iterations > 1: the planned fraction of the "
        "budget for the iterations that grow the ensemble; the rest goes to the tower that "
        "finishes the search, in the last iteration (see budget). Shares raised to their floor and overruns may take "
        "exploring up to (1 + this) / 2 of the budget (adanas.budget). In (0, 1)")
    early_stopping_margin: Float | None = Field(None, description="stop the search after an "
                                                "iteration that lowered the objective by less "
                                                "than this (with a budget: stop exploring, and "
                                                "finish the best tower with the rest); null = never")
    max_ensemble_params: Int | None = Field(None, description="candidates whose ensemble would "
                                            "exceed this many (trainable) parameters are not "
                                            "proposed (the paper's '<= 33M'); null = no budget")
    objective: Literal["validation_loss", "validation_error"] = Field(
        "validation_loss", description="what selection minimises on the validation split. With "
        "`weighted` it is the AdaNet objective, whose data term is the validation loss: only "
        "`validation_loss` is allowed")
    mixture_weight_type: Literal["scalar", "vector", "matrix"] = Field(
        "scalar", description="`weighted` only: one weight per member, per member and class, "
        "or a C x C matrix per member")
    adanet_lambda: Float = Field(0.0, description="complexity penalty: (lambda * r(h) + beta) * |w|_1")
    adanet_beta: Float | None = Field(
        None, description="the penalty's constant term (see adanet_lambda). null: chosen per "
        "ensemble by cross-fitting (the lowest out-of-fold validation loss) from 0, 1e-3, 1e-2 "
        "and 0.1 for vector and matrix weights, which have C or C x C weights per member to "
        "overfit with; 0 for scalar weights (the original's default)")
    use_bias: Bool = Field(False, description="`weighted`: a learned bias on the mixed logits")
    complexity: Literal["sqrt_depth", "log_params", "none"] = Field(
        "sqrt_depth", description="r(h): sqrt of the member's depth (layers or cells), log of "
        "its parameter count, or none")

    def validate(self, path: str) -> None:
        p = f"{path}."
        families = [*FAMILY_ARCHITECTURES, "keras"]
        _check(self.family in families, p + "family",
               f"unknown family {self.family!r}; allowed: {', '.join(families)}")
        _check((self.builder is not None) == (self.family == "keras"), p + "builder",
               "is required with family 'keras' (package.module:function) and only then")
        if self.builder is not None:
            _importable(self.builder, p + "builder")
        if ":" in self.generator:
            _importable(self.generator, p + "generator")
        else:
            _check(self.generator in GENERATOR_NAMES, p + "generator",
                   f"unknown generator {self.generator!r}; allowed: "
                   f"{', '.join(GENERATOR_NAMES)}, or package.module:function")
        if self.family == "keras" and self.generator == "dynamic":
            _check(bool(self.growth.depth_key or self.growth.width_key), p + "growth.depth_key",
                   "the dynamic generator needs growth.depth_key and/or width_key with family 'keras'")
        _check(self.candidates_per_iteration >= 1, p + "candidates_per_iteration",
               f"must be >= 1, got {self.candidates_per_iteration}")
        _check(self.boosting_iterations >= 1, p + "boosting_iterations",
               f"must be >= 1, got {self.boosting_iterations}")
        if self.budget is not None:
            try:
                seconds = duration_seconds(self.budget)
            except ValueError as e:
                raise ConfigError(p + "budget", str(e)) from None
            _check(seconds >= MIN_BUDGET_SECONDS, p + "budget",
                   f"must be at least {MIN_BUDGET_SECONDS:g} s (a candidate must have time to "
                   f"train), got {seconds:g} s")
            count = self.candidates_per_iteration
            _check(seconds >= self.least_budget_left(), p + "budget",
                   f"{seconds:g} s gives each of the first {count} candidates "
                   f"{seconds / count:.1f} s, under the {MIN_SHARE_SECONDS:g} s a candidate needs: "
                   f"at least {self.least_budget_left():g} s, or fewer candidates_per_iteration")
        _check(0.0 < self.budget_exploration < 1.0, p + "budget_exploration",
               f"must be in (0, 1), got {self.budget_exploration}")
        _check(len(self.ensemble_strategies) >= 1 and
               len(set(self.ensemble_strategies)) == len(self.ensemble_strategies),
               p + "ensemble_strategies", "list one or more of grow, all, solo, each once")
        _check(self.caruana_rounds >= 1, p + "caruana_rounds", f"must be >= 1, got {self.caruana_rounds}")
        _check(self.max_ensemble_params is None or self.max_ensemble_params >= 1,
               p + "max_ensemble_params", "must be a positive integer or null")
        _check(self.ensembler != "caruana" or self.objective == "validation_loss", p + "objective",
               "must be 'validation_loss' with the caruana ensembler")
        _check(self.adanet_lambda >= 0, p + "adanet_lambda", f"must be >= 0, got {self.adanet_lambda}")
        _check(self.adanet_beta is None or self.adanet_beta >= 0, p + "adanet_beta",
               f"must be >= 0 or null, got {self.adanet_beta}")
        _check(self.ensembler != "weighted" or self.objective == "validation_loss", p + "objective",
               "must be 'validation_loss' with the weighted ensembler (its data term)")
        self.arch(p + "architecture")  # validates search.architecture against the family

    def arch(self, path: str = "search.architecture") -> Any:
        """The base architecture: the family's defaults with `architecture` applied (for
        `keras`, the mapping itself)."""
        if self.family != "keras":
            return parse_dataclass(FAMILY_ARCHITECTURES[self.family], self.architecture, path)
        try:
            json.dumps(self.architecture)
        except (TypeError, ValueError) as e:
            raise ConfigError(path, f"must be plain YAML values (it crosses task boundaries "
                                    f"as JSON): {e}") from None
        return dict(self.architecture)

    def budget_seconds(self) -> float | None:
        return None if self.budget is None else duration_seconds(self.budget)

    def least_budget_left(self) -> float:
        """Seconds a budget must still have for an iteration's candidates to get their least."""
        return MIN_SHARE_SECONDS * self.candidates_per_iteration


@dataclass(frozen=True, config=_SCHEMA)
class TrainingConfig:
    batch_size: Int = Field(32, description="examples per step (with `mirrored`/`tpu`: the "
                            "global batch, over every device)")
    max_iteration_steps: Int | None = Field(None, description="length of each candidate's "
                                            "training in one iteration, in steps; set exactly "
                                            "one of this and train_epochs")
    train_epochs: Int | None = Field(10, description="length of each candidate's training in "
                                     "one iteration, in epochs; set exactly one of this and "
                                     "max_iteration_steps")
    optimizer: Literal["momentum", "sgd", "adam", "rmsprop"] = Field("momentum", description="the optimizer")
    momentum: Float = Field(0.9, description="momentum and rmsprop")
    use_nesterov: Bool = Field(False, description="Nesterov momentum (momentum only)")
    initial_learning_rate: Float = Field(0.025, description="the learning rate the schedule starts from")
    learning_rate_schedule: Literal["cosine", "constant"] = Field(
        "cosine", description="`cosine` decays to 0 over each candidate's training, restarting "
        "every iteration")
    warmup_steps: Int = Field(0, description="linear warm-up from 0 before the schedule")
    label_smoothing: Float = Field(0.1, description="label smoothing of the cross-entropy, in [0, 1)")
    weight_decay: Float = Field(5e-4, description="L2 weight decay (the original's "
                                "weight_decay * sum(w^2) / 2)")
    clip_gradients: Float = Field(5.0, description="global-norm gradient clipping; 0 = off")
    knowledge_distillation: Literal["none", "born_again", "adaptive"] = Field(
        "none", description="distillation from the ensemble so far (iteration > 0): "
        "`born_again` learns from the last member added, `adaptive` from the whole ensemble "
        "(see distillation_teacher)")
    distillation_teacher: Literal["live", "cached"] = Field(
        "live", description="`live` (the paper's): the frozen teacher runs inside each training "
        "step on the same augmented batch as the student, so a step costs more as the ensemble "
        "grows; `cached`: teacher logits computed once per un-augmented training example by the "
        "select step, a constant step cost, but the teacher sees other images than the student")
    distillation_temperature: Float = Field(1.0, description="softmax temperature of "
                                            "distillation; 1 = the original (no temperature)")
    distribution: Literal["none", "mirrored", "tpu"] = Field(
        "none", description="`mirrored`: tf.distribute.MirroredStrategy over every GPU of the "
        "task (synchronous data parallelism; batch_size is the global batch); `tpu`: "
        "TPUStrategy on the task's TPU VM")
    checkpoint_min_seconds: Float = Field(
        10.0, description="preemption: a checkpoint at each epoch's end, but not more often "
        "than this: a retried task loses at most one epoch or this many seconds of work. "
        "(Saving a tiny model's 0.3 s epochs every time costs ~20% of its training.)")
    shuffle_buffer: Int = Field(10000, description="training examples shuffled together: the "
                                "train split streams from its shards (4 at a time, in a new "
                                "order each epoch) in blocks of this many encoded records, each "
                                "shuffled (memory ~ twice this x an encoded image); a split no "
                                "larger than it is shuffled whole each epoch")
    use_bf16: Bool = Field(False, description="mixed precision (bfloat16 compute, float32 "
                           "weights and logits)")
    use_xla: Bool = Field(False, description="jit_compile the train step")
    tensorboard: Bool = Field(False, description="write each candidate's training and validation "
                              "curves per epoch for TensorBoard: into the train task's "
                              "`tensorboard` output (`tensorboard --logdir` a local run's folder) "
                              "and, on a Vertex AI CustomJob with a TensorBoard instance, where "
                              "AIP_TENSORBOARD_LOG_DIR points (costs one validation pass per epoch)")

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
        _check(self.shuffle_buffer >= 1, p + "shuffle_buffer",
               f"must be >= 1, got {self.shuffle_buffer}")
        _check(self.checkpoint_min_seconds >= 0, p + "checkpoint_min_seconds",
               f"must be >= 0 (0 = every epoch), got {self.checkpoint_min_seconds}")
        _check(self.distillation_temperature > 0, p + "distillation_temperature",
               f"must be > 0, got {self.distillation_temperature}")
        _check(not self.use_nesterov or self.optimizer == "momentum", p + "use_nesterov",
               f"applies to the momentum optimizer only, not {self.optimizer!r}")


@dataclass(frozen=True, config=_SCHEMA)
class TaskResources:
    cpu_limit: Str | None = Field(None, description="Kubernetes CPU quantity: '4', '500m'")
    memory_limit: Str | None = Field(None, description="memory quantity: '16G', '512Mi'")
    accelerator_type: Str | None = Field(None, description="a Vertex AI accelerator name, e.g. "
                                         "NVIDIA_L4, NVIDIA_H100_80GB, TPU_V5_LITEPOD")
    accelerator_count: Int = Field(0, description="accelerators (GPUs, TPU chips) per task")
    retries: Int = Field(0, description="orchestrator retries of a failed task (e.g. preemption)")

    @property
    def accelerator_kind(self) -> str:
        """"GPU", "TPU" or "" (none): what the task's TensorFlow must see, and which image it runs."""
        return {"NVIDIA": "GPU", "TPU": "TPU"}.get((self.accelerator_type or "").split("_")[0], "")

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
# Vertex AI's TPU VM machine types: ct5lp-hightpu-4t (v5e), ct5p-hightpu-4t, ct4p-hightpu-4t,
# ct6e-standard-4t, and the legacy cloud-tpu.
_TPU_MACHINE_RE = re.compile(r"^(ct\d[a-z0-9]*-.+|cloud-tpu)$")


@dataclass(frozen=True, config=_SCHEMA)
class CustomJobConfig:
    """`vertex` target only: each candidate trains as a Vertex AI CustomJob (adanas/customjob.py)
    on `machine_type` with resources.train's accelerators, over `replica_count` machines: for
    several GPUs per candidate on a chosen machine shape, several machines, or a TPU VM."""
    enabled: Bool = Field(False, description="train each candidate as a CustomJob; the pipeline "
                          "task only launches it and waits")
    machine_type: Str | None = Field(None, description="e.g. a2-highgpu-4g, a3-highgpu-8g, "
                                     "ct5lp-hightpu-4t (TPU v5e)")
    tpu_topology: Str | None = Field(None, description="TPU slice topology, e.g. 2x2 or 2x2x1; "
                                     "null = the machine type's own")
    replica_count: Int = Field(1, description="machines per candidate. Only 1: Keras 3's fit has "
                               "no MultiWorkerMirroredStrategy support (keras-team/keras#20585), "
                               "so a candidate scales up within one machine (8 GPUs, a TPU VM)")
    boot_disk_gb: Int = Field(100, description="boot disk size (Vertex AI's minimum is 100)")
    boot_disk_type: Literal["pd-ssd", "pd-standard"] = Field("pd-ssd", description="boot disk type")
    project: Str | None = Field(None, description="default: the pipeline run's project")
    location: Str | None = Field(None, description="default: the pipeline run's region")
    service_account: Str | None = Field(None, description="the job's service account; default: "
                                        "the pipeline run's")
    network: Str | None = Field(None, description="VPC network to peer, "
                                "projects/NUMBER/global/networks/NAME; default: the pipeline "
                                "run's (none when it sets none)")
    spot: Bool = Field(False, description="Spot VMs: cheaper, preemptible (training resumes)")
    restart_on_worker_restart: Bool = Field(False, description="restart the job when a worker restarts")
    timeout_hours: Float | None = Field(None, description="the job's time limit; null = Vertex AI's default")
    base_output_dir: Str | None = Field(None, description="gs://...; default: beside each "
                                        "task's outputs")
    poll_seconds: Float = Field(30.0, description="how often the launcher polls the job")
    launcher: Annotated[TaskResources, _NULL_IS_DEFAULTS] = Field(
        default_factory=lambda: TaskResources(cpu_limit="1", memory_limit="2G"),
        description="resources of the small pipeline task that launches the CustomJob and "
        "waits for it (its retries are resources.train.retries)")

    def validate(self, path: str) -> None:
        p = f"{path}."
        if self.enabled:
            _check(self.machine_type is not None, p + "machine_type",
                   "required when enabled (e.g. a2-highgpu-4g, a3-highgpu-8g, ct5lp-hightpu-4t)")
        _check(self.machine_type is None or bool(_MACHINE_TYPE_RE.match(self.machine_type)),
               p + "machine_type", f"got {self.machine_type!r}; expected a Compute Engine "
               f"machine type such as n1-standard-8 or a2-highgpu-1g")
        _check(self.tpu_topology is None or bool(_TOPOLOGY_RE.match(self.tpu_topology)),
               p + "tpu_topology", f"got {self.tpu_topology!r}; expected a topology such as 2x2 or 2x2x1")
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


@dataclass(frozen=True, config=_SCHEMA)
class ResourcesConfig:
    default: Annotated[TaskResources, _NULL_IS_DEFAULTS] = Field(
        default_factory=lambda: TaskResources(cpu_limit="2", memory_limit="8G"),
        description="data, generation, selection and evaluation tasks")
    train: Annotated[TaskResources, _NULL_IS_DEFAULTS] = Field(
        default_factory=lambda: TaskResources(cpu_limit="4", memory_limit="16G"),
        description="each candidate's training task")
    custom_job: Annotated[CustomJobConfig, _NULL_IS_DEFAULTS] = Field(
        default_factory=CustomJobConfig, description="vertex target only: each candidate's "
        "training as a Vertex AI CustomJob instead of a pipeline task (several GPUs on a chosen "
        "machine shape, a TPU VM)")

    def validate(self, path: str) -> None:
        pass


KUBERNETES_ACCELERATORS = ("nvidia.com/gpu", "amd.com/gpu", "google.com/tpu")
# GKE's names of the TPU generations it offers (node label cloud.google.com/gke-tpu-accelerator).
GKE_TPU_ACCELERATORS = {"TPU_V4_POD": "tpu-v4-podslice", "TPU_V5_LITEPOD": "tpu-v5-lite-podslice"}
_TOLERATION_KEYS = {"key", "operator", "value", "effect"}


@dataclass(frozen=True, config=_SCHEMA)
class KubernetesConfig:
    """The `kubernetes` compile target (open-source KFP on kind/GKE): how training tasks reach
    the accelerator node pool. Vertex AI ignores this section."""
    accelerator_resource: Str | None = Field(
        None, description="the extended resource put in the train pods' limits (count: "
        "resources.train.accelerator_count); null = from resources.train.accelerator_type: "
        "nvidia.com/gpu for NVIDIA_*, google.com/tpu for TPU_*. amd.com/gpu for AMD GPU pools")
    node_selector: Annotated[dict[str, Str], Strict()] = Field(
        default_factory=dict, description="node labels of the accelerator pool, e.g. "
        "{cloud.google.com/gke-accelerator: nvidia-l4}; merged over the derived TPU labels "
        "(cloud.google.com/gke-tpu-accelerator, cloud.google.com/gke-tpu-topology)")
    tolerations: Annotated[list[Mapping], Strict()] | None = Field(
        None, description="tolerations of the train pods; null = the taint accelerator pools "
        "carry: {key: <accelerator_resource>, operator: Exists, effect: NoSchedule}")
    tpu_topology: Str | None = Field(None, description="TPU slice topology, e.g. 2x2 or 2x4 "
                                     "(label cloud.google.com/gke-tpu-topology); required with a "
                                     "TPU accelerator on this target")

    def validate(self, path: str) -> None:
        p = f"{path}."
        _check(self.accelerator_resource is None or
               self.accelerator_resource in KUBERNETES_ACCELERATORS, p + "accelerator_resource",
               f"unknown accelerator resource {self.accelerator_resource!r}; allowed: "
               f"{', '.join(KUBERNETES_ACCELERATORS)}, or null (derived)")
        _check(self.tpu_topology is None or bool(_TOPOLOGY_RE.match(self.tpu_topology)),
               p + "tpu_topology", f"got {self.tpu_topology!r}; expected a topology such as 2x2 or 2x2x4")
        for i, t in enumerate(self.tolerations or []):
            where = f"{p}tolerations[{i}]"
            _check(set(t) <= _TOLERATION_KEYS, where,
                   f"expected a mapping with keys among {', '.join(sorted(_TOLERATION_KEYS))}, got {t!r}")
            _check(t.get("operator", "Equal") in ("Equal", "Exists"), where + ".operator",
                   "allowed: Equal, Exists")
            _check(t.get("effect") in (None, "NoSchedule", "PreferNoSchedule", "NoExecute"),
                   where + ".effect", "allowed: NoSchedule, PreferNoSchedule, NoExecute")

    def resource_for(self, accelerator_type: str) -> str:
        """The extended resource of a train pod with `accelerator_type` (a Vertex AI name)."""
        tpu = _is_tpu(accelerator_type)
        resource = self.accelerator_resource or ("google.com/tpu" if tpu else "nvidia.com/gpu")
        _check((resource == "google.com/tpu") == tpu, "kubernetes.accelerator_resource",
               f"{resource!r} contradicts resources.train.accelerator_type {accelerator_type!r} "
               f"(a {'TPU' if tpu else 'GPU'}); leave it null to derive it")
        return resource

    def tolerations_for(self, accelerator_type: str) -> list[dict[str, Any]]:
        """`tolerations`, or the taint of the accelerator's node pool."""
        if self.tolerations is not None:
            return [dict(t) for t in self.tolerations]
        return [{"key": self.resource_for(accelerator_type), "operator": "Exists",
                 "effect": "NoSchedule"}]

    def node_selector_for(self, accelerator_type: str) -> dict[str, str]:
        """`node_selector` merged over the labels GKE TPU pools need (none for GPUs)."""
        derived = {}
        if _is_tpu(accelerator_type):
            _check(accelerator_type in GKE_TPU_ACCELERATORS, "resources.train.accelerator_type",
                   f"{accelerator_type} is not offered by GKE; on the kubernetes target use "
                   f"{' or '.join(GKE_TPU_ACCELERATORS)}")
            derived["cloud.google.com/gke-tpu-accelerator"] = GKE_TPU_ACCELERATORS[accelerator_type]
            if self.tpu_topology:
                derived["cloud.google.com/gke-tpu-topology"] = self.tpu_topology
        return {**derived, **self.node_selector}


# --- export: servable models, a distilled student, Model Registry --------------------------------

# Vertex AI's prebuilt TensorFlow 2 prediction image (TF Serving) for CPUs. Its newest TensorFlow
# is 2.15 (aiplatform 2.7.0's constants.prediction lists tf2-cpu.2-1 .. 2-15); the framework
# version is pinned by the repository name, and Vertex AI serves its prebuilt images by the
# `latest` tag only ("Using image names without the latest tag isn't supported").
DEFAULT_SERVING_IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"
_PREBUILT_PREDICTION_RE = re.compile(r"^(us|europe|asia)-docker\.pkg\.dev/vertex-ai(-restricted)?/prediction/(?P<image>[^:@]+)(?P<ref>[:@].*)?$")
_LABEL_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE_RE = re.compile(r"^[a-z0-9_-]{0,63}$")
_MODEL_RE = re.compile(r"^(projects/[^/]+/locations/[^/]+/models/)?[a-zA-Z0-9_-]+(@[a-zA-Z0-9_-]+)?$")
# Labels the register step sets itself (adanas.registry).
RESERVED_LABEL_PREFIX = "adanas_"


def _family_arch(family: str, architecture: dict[str, Any], builder: str | None, path: str) -> Any:
    """A family name, its architecture overrides and (family `keras`) builder, checked."""
    families = [*FAMILY_ARCHITECTURES, "keras"]
    _check(family in families, f"{path}.family", f"unknown family {family!r}; allowed: {', '.join(families)}")
    _check((builder is not None) == (family == "keras"), f"{path}.builder",
           "is required with family 'keras' (package.module:function) and only then")
    if builder is not None:
        _importable(builder, f"{path}.builder")
        try:
            json.dumps(architecture)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{path}.architecture", f"must be plain YAML values: {e}") from None
        return dict(architecture)
    return parse_dataclass(FAMILY_ARCHITECTURES[family], architecture, f"{path}.architecture")


@dataclass(frozen=True, config=_SCHEMA)
class StudentConfig:
    """One network distilled from the final ensemble (adanas.student)."""
    family: Str = Field("cnn", description="the student's family, as search.family: `cnn`, "
                        "`dnn`, `nasnet`, or `keras` (with builder)")
    architecture: Mapping = Field(default_factory=dict, description="overrides of the family's "
                                  "default architecture, as search.architecture")
    builder: Str | None = Field(None, description="family `keras`: 'package.module:function', "
                                "as search.builder")
    epochs: Int = Field(10, description="training epochs over the training split; the "
                        "optimizer, learning rate schedule, batch size, label smoothing and "
                        "weight decay are training's")
    temperature: Float = Field(2.0, description="softmax temperature of the ensemble's soft "
                               "targets; the loss is CE_ls(labels, s) + T^2 CE(softmax(t/T), "
                               "s/T), the search's distillation loss")

    def validate(self, path: str) -> None:
        self.arch(path)
        _check(self.epochs >= 1, f"{path}.epochs", f"must be >= 1, got {self.epochs}")
        _check(self.temperature > 0, f"{path}.temperature", f"must be > 0, got {self.temperature}")

    def arch(self, path: str = "export.student") -> Any:
        return _family_arch(self.family, self.architecture, self.builder, path)


@dataclass(frozen=True, config=_SCHEMA)
class RegistryConfig:
    """Vertex AI Model Registry (vertex target only): the exported ensemble's SavedModel,
    uploaded by the register-model step (adanas.registry)."""
    display_name: Str | None = Field(None, description="the model's display name; null = the "
                                     "pipeline's name")
    serving_container_image: Str = Field(
        DEFAULT_SERVING_IMAGE, description="the serving image, with a tag or digest. Vertex AI's "
        "prebuilt TensorFlow images serve the SavedModel as is; they exist by the `latest` tag "
        "only, their TensorFlow version is in the name (tf2-cpu.2-15, tf2-gpu.2-15)")
    labels: Annotated[dict[str, Str], Strict()] = Field(
        default_factory=dict, description="labels of the model (and endpoint), beside the ones "
        "the step sets: adanas_run (the pipeline run) and adanas_test_error_bp (test error in "
        "basis points)")
    parent_model: Str | None = Field(None, description="upload as a new version of this model "
                                     "(projects/P/locations/L/models/ID, or the ID); null = a "
                                     "new model")

    def validate(self, path: str) -> None:
        p = f"{path}."
        _check(self.display_name is None or 0 < len(self.display_name) <= 128, p + "display_name",
               "must be 1 to 128 characters")
        image = self.serving_container_image
        last = image.rsplit("/", 1)[-1]
        _check(":" in last or "@" in last, p + "serving_container_image",
               f"got {image!r}; name a tag or digest (e.g. {DEFAULT_SERVING_IMAGE})")
        prebuilt = _PREBUILT_PREDICTION_RE.match(image)
        if prebuilt:
            _check(prebuilt["image"].startswith("tf") and prebuilt["ref"] == ":latest",
                   p + "serving_container_image",
                   f"got {image!r}; the model is a TensorFlow SavedModel: use a prebuilt TensorFlow "
                   f"image (tf2-cpu.2-15, tf2-gpu.2-15), by the `latest` tag, the only one Vertex "
                   f"AI serves prebuilt images by")
        _check(len(self.labels) <= 62, p + "labels", "at most 62 labels (64 with the step's own)")
        for key, value in self.labels.items():
            _check(bool(_LABEL_KEY_RE.match(key)), f"{p}labels.{key}",
                   "a label key is 1-63 lowercase letters, digits, '_' or '-', starting with a letter")
            _check(not key.startswith(RESERVED_LABEL_PREFIX), f"{p}labels.{key}",
                   f"keys starting with {RESERVED_LABEL_PREFIX!r} are set by the register step")
            _check(bool(_LABEL_VALUE_RE.match(value)), f"{p}labels.{key}",
                   f"got {value!r}; a label value is up to 63 lowercase letters, digits, '_' or '-'")
        _check(self.parent_model is None or bool(_MODEL_RE.match(self.parent_model)),
               p + "parent_model", f"got {self.parent_model!r}; expected "
               f"projects/PROJECT/locations/LOCATION/models/ID or a model ID")


@dataclass(frozen=True, config=_SCHEMA)
class EndpointConfig:
    """Deploys the registered model to a new Vertex AI endpoint (online prediction)."""
    display_name: Str | None = Field(None, description="the endpoint's display name; null = "
                                     "the model's")
    machine_type: Str = Field("n1-standard-2", description="machine of each serving replica")
    min_replica_count: Int = Field(1, description="replicas always running (billed while "
                                   "deployed)")
    max_replica_count: Int = Field(1, description="autoscaling limit")

    def validate(self, path: str) -> None:
        p = f"{path}."
        _check(self.display_name is None or 0 < len(self.display_name) <= 128, p + "display_name",
               "must be 1 to 128 characters")
        _check(bool(_MACHINE_TYPE_RE.match(self.machine_type)), p + "machine_type",
               f"got {self.machine_type!r}; expected a machine type such as n1-standard-2")
        _check(self.min_replica_count >= 1, p + "min_replica_count",
               f"must be >= 1, got {self.min_replica_count}")
        _check(self.max_replica_count >= self.min_replica_count, p + "max_replica_count",
               f"must be >= min_replica_count ({self.min_replica_count}), got {self.max_replica_count}")


@dataclass(frozen=True, config=_SCHEMA)
class ExportConfig:
    """What happens after the evaluate step (which always exports ensemble.keras and a
    SavedModel): a distilled student, registration in Vertex AI, an endpoint. Each is off
    while null."""
    student: StudentConfig | None = Field(None, description="train one network on the final "
                                          "ensemble's soft targets and report both side by "
                                          "side; null = off, {} = the defaults")
    model_registry: RegistryConfig | None = Field(None, description="vertex target only: upload "
                                                  "the ensemble's SavedModel to Vertex AI Model "
                                                  "Registry; null = off")
    endpoint: EndpointConfig | None = Field(None, description="deploy the registered model to "
                                            "a new endpoint (needs model_registry); null = off")

    def validate(self, path: str) -> None:
        _check(self.endpoint is None or self.model_registry is not None, f"{path}.endpoint",
               "deploys the registered model: set export.model_registry too")


_PRICE_KEYS = ("vcpu", "memory_gb")


@dataclass(frozen=True, config=_SCHEMA)
class CostConfig:
    """What `adanas estimate` (adanas.cost) assumes where its own tables do not fit. Read by the
    command line only: no pipeline task sees this section, so it never invalidates a cache."""
    prices: Annotated[dict[str, Float], Strict()] = Field(
        default_factory=dict, description="USD per hour, over adanas.cost's table of approximate "
        "us-central1 on-demand list prices: a Vertex AI accelerator name (per accelerator-hour, "
        "e.g. NVIDIA_TESLA_A100), a machine type (per machine-hour, accelerators included for "
        "a2/a3/g2/ct* types, e.g. a2-highgpu-4g), `vcpu` (per vCPU-hour) or `memory_gb` (per "
        "GB-hour) of a pipeline task's cpu_limit and memory_limit")
    images_per_second: Float | None = Field(
        None, description="training throughput (images/s) of search.architecture, the base "
        "architecture, in one train task on resources.train's accelerators (or CPUs); other "
        "architectures scale by their relative compute. null = adanas.cost's table of measured "
        "and published figures")
    other_task_minutes: Float = Field(
        3.0, description="assumed minutes of each task that does not train (prepare, generate, "
        "select, evaluate), priced at resources.default")

    def validate(self, path: str) -> None:
        p = f"{path}."
        for key, value in self.prices.items():
            _check(key in _PRICE_KEYS or key in VERTEX_ACCELERATORS or bool(_MACHINE_TYPE_RE.match(key)),
                   f"{p}prices.{key}", f"unknown price key; use a Vertex AI accelerator name "
                   f"({', '.join(VERTEX_ACCELERATORS[:3])}, ...), a machine type (a2-highgpu-1g), "
                   f"or one of {', '.join(_PRICE_KEYS)}")
            _check(value >= 0, f"{p}prices.{key}", f"must be >= 0 (USD per hour), got {value}")
        _check(self.images_per_second is None or self.images_per_second > 0,
               p + "images_per_second", f"must be > 0 or null, got {self.images_per_second}")
        _check(self.other_task_minutes >= 0, p + "other_task_minutes",
               f"must be >= 0, got {self.other_task_minutes}")


@dataclass(frozen=True, config=_SCHEMA)
class Config:
    name: Str = Field("adanas", description="the pipeline's name: lowercase letters, digits "
                      "and hyphens")
    seed: Int = Field(0, description="seeds data splits, candidate initialisation and order")
    image: Str = Field("adanas", description="container image repository (e.g. "
                       "us-docker.pkg.dev/PROJECT/REPO/adanas); the tag is always <package "
                       "version>-<hash of the source> (adanas.images), so images and code "
                       "cannot drift apart")
    dataset: Annotated[DatasetConfig, _NULL_IS_DEFAULTS] = Field(
        default_factory=DatasetConfig, description="where the images come from and how they split")
    augmentation: Annotated[AugmentationConfig, _NULL_IS_DEFAULTS] = Field(
        default_factory=AugmentationConfig, description="training-time image augmentation")
    search: Annotated[SearchConfig, _NULL_IS_DEFAULTS] = Field(
        default_factory=SearchConfig, description="the AdaNet search: candidates, generator, "
        "ensembles, selection")
    training: Annotated[TrainingConfig, _NULL_IS_DEFAULTS] = Field(
        default_factory=TrainingConfig, description="how each candidate trains")
    resources: Annotated[ResourcesConfig, _NULL_IS_DEFAULTS] = Field(
        default_factory=ResourcesConfig, description="CPU, memory, accelerators and retries of "
        "the pipeline's tasks")
    kubernetes: Annotated[KubernetesConfig, _NULL_IS_DEFAULTS] = Field(
        default_factory=KubernetesConfig, description="the kubernetes compile target only: how "
        "train pods reach the accelerator node pool")
    export: Annotated[ExportConfig, _NULL_IS_DEFAULTS] = Field(
        default_factory=ExportConfig, description="after the search: a distilled student, "
        "Vertex AI Model Registry, an endpoint")
    cost: Annotated[CostConfig, _NULL_IS_DEFAULTS] = Field(
        default_factory=CostConfig, description="assumptions of `adanas estimate` and `adanas "
        "submit --max-cost`: price and throughput overrides (adanas.cost)")

    def validate(self, path: str) -> None:
        _check(bool(_NAME_RE.match(self.name)) and len(self.name) <= 100, "name",
               f"got {self.name!r}; use lowercase letters, digits and hyphens (a KFP pipeline name)")
        _check(self.seed >= 0, "seed", f"must be >= 0, got {self.seed}")
        self._validate_distribution()
        last = self.image.rsplit("/", 1)[-1]
        _check(bool(self.image) and ":" not in last and "@" not in last, "image",
               f"got {self.image!r}; give the repository without a tag: the tag is the "
               f"package version and a hash of the source (adanas.images)")
        if self.resources.train.accelerator_type:
            self.kubernetes.resource_for(self.resources.train.accelerator_type)

    def _validate_distribution(self) -> None:
        """The training strategy and the accelerators must agree."""
        dist, train = self.training.distribution, self.resources.train
        tpu = train.accelerator_kind == "TPU"
        if dist == "tpu" or tpu:
            _check(dist == "tpu" and tpu, "training.distribution" if tpu else "resources.train.accelerator_type",
                   f"TPUs train under distribution 'tpu' (got {dist!r}) on a TPU accelerator "
                   f"(got {train.accelerator_type!r})")

    def image_uri(self) -> str:
        """`<image>:<version>-<content hash>` (adanas.images), the tag `make images` builds."""
        return image_ref(self.image)

    def train_image_uri(self) -> str:
        """Training runs in the GPU image (`<image>-gpu`) when it asks for NVIDIA GPUs, in the
        TPU image (`<image>-tpu`) on TPUs."""
        return image_ref(self.image, self.resources.train.accelerator_kind.lower())

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        """The full config as YAML, each key after its documentation as a comment."""
        return to_yaml(self)


# --- compile targets ---------------------------------------------------------------------------

TARGETS = ("vertex", "kubernetes")


def check_target(cfg: Config, target: str) -> None:
    """The rules of one compile target, on top of load-time validation (ConfigError with the
    key path). `vertex`: a TPU trains as a CustomJob on a TPU machine type. `kubernetes`: no
    CustomJobs; a TPU must be one GKE offers, with kubernetes.tpu_topology."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; allowed: {', '.join(TARGETS)}")
    acc, job = cfg.resources.train.accelerator_type, cfg.resources.custom_job
    tpu_machine = bool(job.machine_type and _TPU_MACHINE_RE.match(job.machine_type))
    if target == "vertex" and _is_tpu(acc):
        why = ("Vertex AI pipeline tasks have no TPU machine sizing; a CustomJob on a TPU machine "
               "type does")
        _check(job.enabled, "resources.custom_job.enabled",
               f"must be true with resources.train.accelerator_type {acc} on the vertex target: "
               f"{why} (e.g. machine_type: ct5lp-hightpu-4t)")
        _check(tpu_machine, "resources.custom_job.machine_type",
               f"got {job.machine_type!r}; {acc} needs a TPU machine type (ct5lp-hightpu-4t, "
               f"ct5p-hightpu-4t, ct4p-hightpu-4t, ct6e-standard-4t, or cloud-tpu): {why}")
    elif target == "vertex" and job.enabled:
        _check(not tpu_machine, "resources.train.accelerator_type",
               f"got {acc!r}; the TPU machine type {job.machine_type} needs a TPU_* accelerator "
               f"(and training.distribution: tpu)")
    elif target == "kubernetes":
        _check(not job.enabled, "resources.custom_job.enabled",
               "Vertex AI CustomJobs exist on the vertex target only; on Kubernetes a train pod "
               "gets resources.train's accelerators (set enabled: false)")
        _check(cfg.export.model_registry is None, "export.model_registry",
               "Vertex AI Model Registry is on the vertex target only (set it to null for "
               "kubernetes; the exported SavedModel serves with TF Serving as is)")
        if _is_tpu(acc):
            cfg.kubernetes.node_selector_for(acc)
            _check(cfg.kubernetes.tpu_topology is not None, "kubernetes.tpu_topology",
                   f"required with {acc} on the kubernetes target: the slice topology, e.g. 2x2 "
                   f"(GKE node label cloud.google.com/gke-tpu-topology)")


# Where Vertex AI's pipeline pods see Cloud Storage (Cloud Storage FUSE): gs://b/p is /gcs/b/p.
GCS_MOUNT = "/gcs/"


def check_data_dir(cfg: Config, target: str) -> None:
    """dataset.data_dir as a submitted pipeline's data step finds it: in its pod, not on the
    submitting machine (kfp.local runs see this machine's files, so only what is compiled or
    submitted for a target is checked). vertex: on Cloud Storage; kubernetes: an absolute path
    in the pod (or gs:// for a prepared tfds folder, which tfds reads itself). A tfds dataset
    that is downloaded (download: true) may be put anywhere."""
    ds, path = cfg.dataset, cfg.dataset.data_dir
    if not path or ds.name in EMBEDDED_DATASETS or (ds.name != FOLDER_DATASET and ds.download):
        return
    what = ("the image folder" if ds.name == FOLDER_DATASET
            else f"the prepared tfds data of {ds.name} (or set dataset.download: true)")
    where = f"the {target} target's data step runs in a pod, which does not see this machine's files"
    if target == "vertex":
        _check(path.startswith(("gs://", GCS_MOUNT)), "dataset.data_dir",
               f"got {path!r}: {where}; put {what} on Cloud Storage and give its gs://bucket/path "
               f"(or {GCS_MOUNT}bucket/path)")
    elif ds.name == FOLDER_DATASET:
        _check(path.startswith("/"), "dataset.data_dir",
               f"got {path!r}: {where}; give the absolute path where {what} is in the pod "
               f"(gs:// folders are read through Vertex AI's {GCS_MOUNT} mount, which open-source "
               f"KFP pods do not have)")
    else:
        _check(path.startswith(("/", "gs://")), "dataset.data_dir",
               f"got {path!r}: {where}; give a gs:// path or an absolute path in the pod for {what}")


# --- documentation: YAML with comments, JSON Schema ---------------------------------------------

def to_yaml(obj: Any, indent: int = 0) -> str:
    """A config dataclass as YAML (values as JSON flow, which YAML reads back), each key after
    its documentation as a comment."""
    lines, pad = [], "  " * indent
    for f in dataclasses.fields(obj):
        lines += [pad + "# " + line for line in textwrap.wrap(_doc(type(obj), f.name), 96 - len(pad))]
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            lines += [f"{pad}{f.name}:", to_yaml(value, indent + 1).rstrip("\n")]
        else:
            lines.append(f"{pad}{f.name}: {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def json_schema() -> dict[str, Any]:
    """The config's JSON Schema (draft 2020-12), for editors (yaml-language-server) and docs."""
    schema = TypeAdapter(Config).json_schema()
    defs = schema["$defs"]
    search = defs["SearchConfig"]
    search["allOf"] = []
    for family, arch in FAMILY_ARCHITECTURES.items():
        defs[arch.__name__] = TypeAdapter(arch).json_schema()
        when = {"properties": {"family": {"const": family}}}
        if family != search["properties"]["family"]["default"]:
            when["required"] = ["family"]
        search["allOf"].append({"if": when, "then": {"properties": {
            "architecture": {"$ref": f"#/$defs/{arch.__name__}"}}}})
    schema["properties"]["extends"] = {
        "type": "string", "description": "a config file (relative to this one) whose keys this "
        "one's are merged over, mapping by mapping"}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            **schema, "title": "AdaNAS search config"}


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
             "search": SearchConfig, "training": TrainingConfig, "export": ExportConfig}


def section_from_json(name: str, text: str) -> Any:
    """One section of the config as a pipeline step receives it (JSON), validated on arrival.

    Sections cross task boundaries as JSON strings: KFP turns numbers inside dict parameters
    into floats, and an int field must stay an int.
    """
    return parse_dataclass(_SECTIONS[name], json.loads(text), name)


def section_json(cfg: Config, name: str) -> str:
    return json.dumps(dataclasses.asdict(getattr(cfg, name)), sort_keys=True)
