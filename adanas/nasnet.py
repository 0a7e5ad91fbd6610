"""NASNet-A, CIFAR variant (Zoph et al. 2018), in Keras 3: the search space of the paper.

`NASNet(N@F)`: N normal cells per stack (3 stacks, a reduction cell between stacks) and F
penultimate filters. As in the original code, the base filter count is F / 24: after two
reductions a cell works on 4x the base filters and concatenates 6 states, so the last layer
before pooling has 24 x base = F channels. NASNet(6@768) is about 3.3M parameters on CIFAR-10.

Training-only parts, ScheduledDropPath and the auxiliary head, live in the training model;
`inference_model` strips them, so saved models contain only standard Keras layers and load with
plain `keras.saving.load_model`.
"""

from __future__ import annotations

import keras

from adanas.config import NasnetArch
from adanas.layers import image_inputs

# (operation, hidden state it reads) pairs: blocks of two, summed; see Zoph et al. Fig. 4.
NORMAL_OPS = ["separable_5x5_2", "separable_3x3_2", "separable_5x5_2", "separable_3x3_2",
              "avg_pool_3x3", "none", "avg_pool_3x3", "avg_pool_3x3", "separable_3x3_2", "none"]
NORMAL_INPUTS = [0, 1, 1, 1, 0, 1, 1, 1, 0, 0]
NORMAL_USED = [1, 0, 0, 0, 0, 0, 0]
REDUCTION_OPS = ["separable_5x5_2", "separable_7x7_2", "max_pool_3x3", "separable_7x7_2",
                 "avg_pool_3x3", "separable_5x5_2", "none", "avg_pool_3x3", "separable_3x3_2",
                 "max_pool_3x3"]
REDUCTION_INPUTS = [0, 1, 0, 1, 0, 1, 3, 2, 2, 0]
REDUCTION_USED = [1, 1, 1, 0, 0, 0, 0]

BN = {"momentum": 0.9, "epsilon": 1e-5}


class Schedule:
    """Holds the shared training-progress variable (0 -> 1). A plain object on purpose: Keras
    does not track variables inside it, so drop path layers add no weights."""

    def __init__(self):
        self.progress = keras.Variable(0.0, trainable=False, name="drop_path_progress")


@keras.saving.register_keras_serializable(package="adanas")
class ScheduledDropPath(keras.layers.Layer):
    """Drops a whole path per example with probability 1 - keep (and rescales the survivors).

    keep = 1 - progress * (1 - layer_keep_prob): `progress` goes 0 -> 1 over training (the
    burn-in) and layer_keep_prob already scales with the cell's depth, as in the original.
    """

    def __init__(self, layer_keep_prob: float, schedule: Schedule | None = None, **kwargs):
        super().__init__(**kwargs)
        self.layer_keep_prob = float(layer_keep_prob)
        self.schedule = schedule
        # Its own seed state (not Keras' global one): a checkpoint keeps it (adanas.checkpoints).
        self.seed_generator = keras.random.SeedGenerator()

    def call(self, x, training=None):
        if not training:
            return x
        progress = 1.0 if self.schedule is None else keras.ops.minimum(self.schedule.progress, 1.0)
        keep = 1.0 - progress * (1.0 - self.layer_keep_prob)
        shape = (keras.ops.shape(x)[0], 1, 1, 1)
        mask = keras.ops.floor(keras.ops.cast(keep, x.dtype) + keras.random.uniform(shape, dtype=x.dtype, seed=self.seed_generator))
        return x * mask / keras.ops.cast(keep, x.dtype)

    def get_config(self):
        return {**super().get_config(), "layer_keep_prob": self.layer_keep_prob}


class _Builder:
    """Builds the graph; one instance per model so layer counts and regularizers are shared."""

    def __init__(self, arch: NasnetArch, weight_decay: float):
        self.arch = arch
        self.reg = keras.regularizers.L2(weight_decay / 2.0) if weight_decay > 0 else None
        self.num_cells = 3 * arch.cells_per_stack
        self.total_cells = self.num_cells + 2
        self.base_filters = arch.penultimate_filters // 24
        self.schedule = Schedule()

    # -- primitives ---------------------------------------------------------------------------
    def conv(self, x, filters, kernel=1, strides=1, padding="same"):
        return keras.layers.Conv2D(filters, kernel, strides=strides, padding=padding,
                                   use_bias=False, kernel_regularizer=self.reg)(x)

    @staticmethod
    def bn(x):
        return keras.layers.BatchNormalization(**BN)(x)

    @staticmethod
    def relu(x):
        return keras.layers.ReLU()(x)

    def factorized_reduction(self, x, filters, stride):
        """Halves the resolution without losing information: two offset 1x1 paths, concatenated."""
        if stride == 1:
            return self.bn(self.conv(x, filters))
        p1 = keras.layers.AveragePooling2D(1, strides=stride, padding="valid")(x)
        p1 = self.conv(p1, filters // 2)
        p2 = keras.layers.ZeroPadding2D(((0, 1), (0, 1)))(x)
        p2 = keras.layers.Cropping2D(((1, 0), (1, 0)))(p2)
        p2 = keras.layers.AveragePooling2D(1, strides=stride, padding="valid")(p2)
        p2 = self.conv(p2, filters // 2)
        return self.bn(keras.layers.Concatenate()([p1, p2]))

    def separable_stack(self, x, op, filters, stride):
        layers, kernel = int(op.split("_")[-1]), int(op.split("_")[1].split("x")[0])
        for _ in range(layers):
            x = self.relu(x)
            x = keras.layers.SeparableConv2D(filters, kernel, strides=stride, padding="same",
                                             use_bias=False, depthwise_regularizer=self.reg,
                                             pointwise_regularizer=self.reg)(x)
            x = self.bn(x)
            stride = 1
        return x

    def apply_op(self, x, op, filters, stride, from_input, cell_num):
        if stride > 1 and not from_input:
            stride = 1
        in_filters = x.shape[-1]
        if op.startswith("separable"):
            x = self.separable_stack(x, op, filters, stride)
        elif op == "none":
            if stride > 1 or in_filters != filters:
                x = self.bn(self.conv(self.relu(x), filters, strides=stride))
        else:
            pool = keras.layers.AveragePooling2D if op.startswith("avg") else keras.layers.MaxPooling2D
            x = pool(3, strides=stride, padding="same")(x)
            if in_filters != filters:
                x = self.bn(self.conv(x, filters))
        if op != "none" and self.arch.drop_path_keep_prob < 1.0:
            ratio = (cell_num + 1) / self.total_cells
            x = ScheduledDropPath(1.0 - ratio * (1.0 - self.arch.drop_path_keep_prob), self.schedule)(x)
        return x

    # -- cells --------------------------------------------------------------------------------
    def cell(self, x, prev, filters, stride, cell_num, ops, inputs, used):
        # Bring the previous cell's output to this cell's resolution and width.
        if prev is None:
            prev = x
        elif prev.shape[1] != x.shape[1]:
            prev = self.factorized_reduction(self.relu(prev), filters, 2)
        elif prev.shape[-1] != filters:
            prev = self.bn(self.conv(self.relu(prev), filters))
        states = [self.bn(self.conv(self.relu(x), filters)), prev]
        for block in range(5):
            left, right = inputs[2 * block], inputs[2 * block + 1]
            h1 = self.apply_op(states[left], ops[2 * block], filters, stride, left < 2, cell_num)
            h2 = self.apply_op(states[right], ops[2 * block + 1], filters, stride, right < 2, cell_num)
            states.append(keras.layers.Add()([h1, h2]))
        # Concatenate the states no block consumed, reduced to the final shape where needed.
        final_size, final_filters = states[-1].shape[1], states[-1].shape[-1]
        out = []
        for s, is_used in zip(states, used):
            if is_used:
                continue
            if s.shape[1] != final_size or s.shape[-1] != final_filters:
                s = self.factorized_reduction(s, final_filters, 2 if s.shape[1] != final_size else 1)
            out.append(s)
        return keras.layers.Concatenate()(out)

    def aux_head(self, x, num_classes):
        x = self.relu(x)
        x = keras.layers.AveragePooling2D(5, strides=3, padding="valid")(x)
        x = self.relu(self.bn(self.conv(x, 128)))
        x = self.relu(self.bn(self.conv(x, 768, kernel=tuple(x.shape[1:3]), padding="valid")))
        x = keras.layers.Flatten()(x)
        return keras.layers.Dense(num_classes, kernel_regularizer=self.reg, name="aux_logits")(x)

    def build(self, input_shape, num_classes, name):
        a = self.arch
        inputs, x = image_inputs(input_shape)
        x = self.bn(self.conv(x, int(a.stem_multiplier * self.base_filters), kernel=3))
        reductions = [int(k / (a.num_reduction_layers + 1) * self.num_cells)
                      for k in range(1, a.num_reduction_layers + 1)]
        aux_at = reductions[1] - 1 if len(reductions) >= 2 else None
        outputs, scaling, true_cell, aux = [None, x], 1.0, 0, None
        for cell_num in range(self.num_cells):
            if cell_num in reductions:
                scaling *= a.filter_scaling_rate
                x = self.cell(x, outputs[-2], int(self.base_filters * scaling), 2, true_cell,
                              REDUCTION_OPS, REDUCTION_INPUTS, REDUCTION_USED)
                true_cell += 1
                outputs.append(x)
            x = self.cell(x, outputs[-2], int(self.base_filters * scaling), 1, true_cell,
                          NORMAL_OPS, NORMAL_INPUTS, NORMAL_USED)
            true_cell += 1
            if a.use_aux_head and cell_num == aux_at:
                aux = self.aux_head(x, num_classes)
            outputs.append(x)
        x = keras.layers.GlobalAveragePooling2D()(self.relu(x))
        if a.dense_dropout_keep_prob < 1.0:
            x = keras.layers.Dropout(1.0 - a.dense_dropout_keep_prob)(x)
        logits = keras.layers.Dense(num_classes, kernel_regularizer=self.reg, name="logits")(x)
        model = keras.Model(inputs, logits if aux is None else [logits, aux], name=name)
        # The trainer sets this to step / total steps (ScheduledDropPath's burn-in).
        model.drop_path_schedule = self.schedule
        return model


def build_nasnet(arch: NasnetArch, input_shape, num_classes: int, weight_decay: float, name: str):
    """The training model: logits, or [logits, aux_logits] with the auxiliary head."""
    return _Builder(arch, weight_decay).build(tuple(input_shape), num_classes, name)


def inference_model(model):
    """`model` without its auxiliary head and with drop path replaced by identity (same weights)."""
    # An uncompiled view of the same layers (cloning a compiled model would need our losses).
    model = keras.Model(model.inputs, model.outputs[0], name=model.name)
    if not any(isinstance(layer, ScheduledDropPath) for layer in model.layers):
        return model

    def clone(layer):
        if isinstance(layer, ScheduledDropPath):
            return keras.layers.Identity(name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    clean = keras.models.clone_model(model, clone_function=clone)
    for src, dst in zip(model.layers, clean.layers):
        if dst.weights and not isinstance(src, ScheduledDropPath):
            dst.set_weights(src.get_weights())
    return clean
