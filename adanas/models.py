"""Candidate families: a named registry of architecture spaces.

A family has an architecture dataclass (validated like the config), a Keras 3 builder, and the
two growth directions the `dynamic` generator uses (deeper, wider). Every model takes raw images
(0..255, any dtype) and scales them to [-1, 1] itself, so training, evaluation and the exported
ensemble see the same scaling. Models output logits.

Keras is imported inside the builders so that the generator and selection steps, which only
need the registry, never pay for TensorFlow.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, Callable

# The architecture dataclasses are the schema of `search.architecture`: they live in the config
# layer, which this registry builds on.
from adanas.config import CnnArch, ConfigError, DnnArch, NasnetArch, parse_dataclass  # noqa: F401
from adanas.layers import image_inputs

log = logging.getLogger(__name__)
_WARNED: set[str] = set()   # builders told once per process that weight_decay is not theirs


def _regularizer(weight_decay: float):
    import keras
    # The original adds weight_decay * sum(tf.nn.l2_loss(w)) = weight_decay * sum(w^2) / 2.
    return keras.regularizers.L2(weight_decay / 2.0) if weight_decay > 0 else None


def _head(x, arch: Any, num_classes: int, weight_decay: float):
    import keras
    reg = _regularizer(weight_decay)
    if getattr(arch, "dense_units", 0):
        x = keras.layers.Dense(arch.dense_units, activation="relu", kernel_regularizer=reg)(x)
    if arch.dropout:
        x = keras.layers.Dropout(arch.dropout)(x)
    return keras.layers.Dense(num_classes, kernel_regularizer=reg, name="logits")(x)


def build_cnn(arch: CnnArch, input_shape, num_classes: int, weight_decay: float, name: str):
    import keras
    reg = _regularizer(weight_decay)
    inputs, x = image_inputs(input_shape)
    size, filters = min(input_shape[:2]), arch.filters
    for i in range(arch.num_layers):
        x = keras.layers.Conv2D(filters, arch.kernel_size, padding="same", use_bias=False,
                                kernel_regularizer=reg)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
        if i % 2 == 1 and i < arch.num_layers - 1 and size >= 4:
            x = keras.layers.MaxPooling2D(2)(x)
            size, filters = size // 2, filters * 2
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, _head(x, arch, num_classes, weight_decay), name=name)


def build_dnn(arch: DnnArch, input_shape, num_classes: int, weight_decay: float, name: str):
    import keras
    reg = _regularizer(weight_decay)
    inputs, x = image_inputs(input_shape)
    x = keras.layers.Flatten()(x)
    for _ in range(arch.num_layers):
        x = keras.layers.Dense(arch.units, activation="relu", kernel_regularizer=reg)(x)
    return keras.Model(inputs, _head(x, arch, num_classes, weight_decay), name=name)


def build_nasnet(arch, input_shape, num_classes: int, weight_decay: float, name: str):
    from adanas import nasnet
    return nasnet.build_nasnet(arch, input_shape, num_classes, weight_decay, name)


def _nasnet_inference(model):
    from adanas import nasnet
    return nasnet.inference_model(model)


def _same(model):
    return model


@dataclass(frozen=True)
class Family:
    """A built-in architecture space: a dataclass of hyperparameters and a Keras builder."""
    name: str
    arch_type: type
    build: Callable[..., Any]
    depth_field: str   # what `deeper` grows
    width_field: str   # what `wider` grows
    # The model to save and serve: training-only parts (auxiliary heads, drop path) removed.
    inference_model: Callable[[Any], Any] = _same

    def parse(self, data: dict[str, Any], path: str = "architecture") -> Any:
        return parse_dataclass(self.arch_type, data, path)

    def to_dict(self, arch: Any) -> dict[str, Any]:
        return dataclasses.asdict(arch)

    def describe(self, arch: Any) -> str:
        return arch.describe()

    def depth(self, arch: dict[str, Any]) -> int:
        return int(arch.get(self.depth_field, 1))

    def grow(self, arch: Any, depth: int = 0, width: int = 0) -> Any:
        """`arch` made `depth` layers deeper and `width` filters/units wider."""
        return dataclasses.replace(arch, **{
            self.depth_field: getattr(arch, self.depth_field) + depth,
            self.width_field: getattr(arch, self.width_field) + width,
        })

    def spec_fields(self) -> dict[str, Any]:
        """What a candidate spec must carry for `build_model` to rebuild this family."""
        return {}

    def directions(self) -> tuple[bool, bool]:
        """Whether it can grow deeper, wider."""
        return True, True


def import_object(path: str, what: str) -> Any:
    """`package.module:attribute` -> the attribute, with an error that says what was wanted."""
    import importlib
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"{what} {path!r}: expected 'package.module:function'")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"{what} {path!r} cannot be imported: {e}") from None


@dataclass(frozen=True)
class KerasBuilderFamily:
    """Any Keras model builder, `build(spec: dict, input_shape, num_classes) -> keras.Model`
    returning logits, like the candidate pool of the original AutoEnsembleEstimator. The spec
    is the config's `architecture` mapping, passed as is; `deeper`/`wider` grow the integer
    keys named by growth.depth_key / growth.width_key."""
    builder: str
    depth_key: str | None = None
    width_key: str | None = None
    name: str = "keras"
    inference_model: Callable[[Any], Any] = _same

    def parse(self, data: dict[str, Any], path: str = "architecture") -> dict[str, Any]:
        import json
        try:
            json.dumps(data)
        except TypeError as e:
            raise ConfigError(path, f"must be plain YAML values (it crosses task boundaries as JSON): {e}") from None
        return dict(data)

    def to_dict(self, arch: dict[str, Any]) -> dict[str, Any]:
        return dict(arch)

    def describe(self, arch: dict[str, Any]) -> str:
        fn = self.builder.rsplit(":", 1)[-1]
        keys = [k for k in (self.depth_key, self.width_key) if k and k in arch]
        return f"{fn}({'@'.join(str(arch[k]) for k in keys)})" if keys else fn

    def depth(self, arch: dict[str, Any]) -> int:
        return int(arch.get(self.depth_key, 1)) if self.depth_key else 1

    def grow(self, arch: dict[str, Any], depth: int = 0, width: int = 0) -> dict[str, Any]:
        out = dict(arch)
        for key, add in ((self.depth_key, depth), (self.width_key, width)):
            if add:
                if not key or not isinstance(arch.get(key), int):
                    raise ValueError(f"growing a keras-builder candidate needs an integer "
                                     f"architecture key named by growth.depth_key/width_key, got {key!r}")
                out[key] = arch[key] + add
        return out

    def build(self, arch, input_shape, num_classes: int, weight_decay: float, name: str):
        import keras
        model = import_object(self.builder, "search.builder")(dict(arch), tuple(input_shape), num_classes)
        if not isinstance(model, keras.Model):
            raise TypeError(f"{self.builder} returned {type(model).__name__}, not a keras.Model")
        try:
            inputs = model.inputs
        except (AttributeError, ValueError):   # a Sequential without an Input, a subclassed model
            inputs = None
        if not inputs:
            # Built here on the images' shape: the functional view the ensemble is made of.
            image = keras.Input(tuple(input_shape), name="image")
            model = keras.Model(image, model(image), name=model.name)
        if len(model.outputs) != 1 or model.outputs[0].shape[-1] != num_classes:
            raise ValueError(f"{self.builder} must return a model with one output, the logits "
                             f"[batch, {num_classes}]; it has "
                             + ", ".join(str(tuple(o.shape)) for o in model.outputs)
                             + " (return the logits only: extra outputs are not trained or served)")
        if weight_decay and self.builder not in _WARNED:
            _WARNED.add(self.builder)
            log.warning("training.weight_decay %g is not applied to %s's models: give their "
                        "layers kernel_regularizer, or set it to 0", weight_decay, self.builder)
        # Unique member names inside the exported ensemble.
        return keras.Model(model.inputs, model.outputs, name=name)

    def spec_fields(self) -> dict[str, Any]:
        return {"builder": self.builder, "depth_key": self.depth_key, "width_key": self.width_key}

    def directions(self) -> tuple[bool, bool]:
        return self.depth_key is not None, self.width_key is not None


FAMILIES: dict[str, Family] = {
    "cnn": Family("cnn", CnnArch, build_cnn, depth_field="num_layers", width_field="filters"),
    "dnn": Family("dnn", DnnArch, build_dnn, depth_field="num_layers", width_field="units"),
    # The paper's search space; `deeper` adds a cell per stack (N+1), `wider` adds F (e.g. +240).
    "nasnet": Family("nasnet", NasnetArch, build_nasnet, depth_field="cells_per_stack",
                     width_field="penultimate_filters", inference_model=_nasnet_inference),
}


def family_of(name: str, builder: str | None = None, depth_key: str | None = None,
              width_key: str | None = None):
    """The family object for a name; `keras` needs the builder's import path."""
    if name == "keras":
        if not builder:
            raise ValueError("family 'keras' needs search.builder: 'package.module:function'")
        return KerasBuilderFamily(builder, depth_key, width_key)
    return FAMILIES[name]


def import_builders(specs: list[dict[str, Any]]) -> None:
    """Imports the builder module of each `keras`-family spec. Loading a saved model that uses a
    user's custom layers needs them registered (keras.saving.register_keras_serializable), which
    happens when the module defining them runs: a step that only loads members (evaluate) must
    import it first."""
    for spec in specs:
        if spec.get("builder"):
            import_object(spec["builder"], "search.builder")


def family_of_spec(candidate: dict[str, Any]):
    return family_of(candidate["family"], candidate.get("builder"), candidate.get("depth_key"),
                     candidate.get("width_key"))


def build_model(candidate: dict[str, Any], input_shape, num_classes: int, weight_decay: float):
    """Builds the Keras model of a candidate spec (as produced by `adanas.generators`)."""
    family = family_of_spec(candidate)
    arch = family.parse(candidate["arch"])
    return family.build(arch, tuple(input_shape), num_classes, weight_decay, candidate["name"])
