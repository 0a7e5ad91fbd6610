"""Training one candidate (Keras 3): the train step, the body of each per-candidate task.

Writes the Candidate artifact (format: adanas.artifacts): the trained subnetwork for inference
(raw images in, float32 logits out; training-only parts such as drop path removed), its cached
validation/test logits per dataset shard (and training logits when distillation is on: later
candidates learn from them), its spec and metrics. The training data streams from the
Dataset artifact's shards (adanas.inputs): memory does not grow with the number of examples.

Loss (METHOD.md): CE_ls(y, s) + [iteration > 0 and distilling] tau^2 CE(softmax(T / tau), s / tau)
+ weight decay, with T the teacher's logits: the last member's for `born_again`, the whole
ensemble's for `adaptive`. tau = 1 is the original. With `distillation_teacher: live` (the
paper's) the frozen teacher runs inside the training step on the same augmented batch as the
student; with `cached` T is the select step's logits of the un-augmented example.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from adanas import artifacts, budget, checkpoints, curves, metrics, models, timed
from adanas.config import TrainingConfig
from adanas.ensemble_model import combined_model

log = logging.getLogger(__name__)

def learning_rate(cfg: TrainingConfig, total_steps: int):
    import keras
    if cfg.learning_rate_schedule == "constant" and not cfg.warmup_steps:
        return cfg.initial_learning_rate
    decay = max(total_steps - cfg.warmup_steps, 1)
    if cfg.learning_rate_schedule == "constant":
        # Warm-up then flat: a cosine whose floor is its peak.
        return keras.optimizers.schedules.CosineDecay(0.0, decay, alpha=1.0, warmup_target=cfg.initial_learning_rate,
                                                      warmup_steps=cfg.warmup_steps)
    if cfg.warmup_steps:
        return keras.optimizers.schedules.CosineDecay(0.0, decay, alpha=0.0, warmup_target=cfg.initial_learning_rate,
                                                      warmup_steps=cfg.warmup_steps)
    return keras.optimizers.schedules.CosineDecay(cfg.initial_learning_rate, total_steps, alpha=0.0)


def make_optimizer(cfg: TrainingConfig, total_steps: int | None, schedule=None):
    """The configured optimizer, its learning rate `schedule` or else the step schedule
    `learning_rate` over `total_steps`."""
    import keras
    lr = schedule if schedule is not None else learning_rate(cfg, total_steps)
    clip = {"global_clipnorm": cfg.clip_gradients} if cfg.clip_gradients > 0 else {}
    if cfg.optimizer == "momentum":
        return keras.optimizers.SGD(lr, momentum=cfg.momentum, nesterov=cfg.use_nesterov, **clip)
    if cfg.optimizer == "sgd":
        return keras.optimizers.SGD(lr, **clip)
    if cfg.optimizer == "adam":
        return keras.optimizers.Adam(lr, **clip)
    if cfg.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(lr, momentum=cfg.momentum, **clip)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}")


def subnetwork_loss(num_classes: int, label_smoothing: float, distill: bool, temperature: float,
                    live: bool = False):
    """Per-example loss. Targets are [one-hot], or [one-hot | cached teacher logits]; with
    `live` the model's output is [student logits | teacher logits on the same batch]."""
    import keras
    from keras import ops

    def loss(y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        logits = y_pred[:, :num_classes]
        onehot = y_true[:, :num_classes]
        value = keras.losses.categorical_crossentropy(onehot, logits, from_logits=True,
                                                      label_smoothing=label_smoothing)
        if distill:
            teacher = y_pred[:, num_classes:] if live else y_true[:, num_classes:]
            soft = ops.softmax(teacher / temperature, axis=-1)
            value = value + temperature ** 2 * keras.losses.categorical_crossentropy(
                soft, logits / temperature, from_logits=True)
        return value

    return loss


def accuracy_metric(num_classes: int):
    import keras

    def accuracy(y_true, y_pred):  # the student's part of [student | live teacher] outputs
        return keras.metrics.categorical_accuracy(y_true[:, :num_classes], y_pred[:, :num_classes])

    return accuracy


def fit_callbacks(name: str, epochs: int | None, total_steps: int | None, schedule, backup_dir: Path,
                  checkpoint_min_seconds: float = 0.0, keep=None):
    """Progress lines (parallel tasks interleave), the drop path burn-in over `total_steps`
    (`schedule`; a budgeted training ramps it by time instead, adanas.timed), and a checkpoint
    each epoch, with the values `keep()` returns, so a retried task (a preempted node) resumes
    instead of starting over. `epochs`/`total_steps` None: training ends by the clock."""
    import keras

    class Progress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.t0 = time.perf_counter()
            done = int(self.model.optimizer.iterations.numpy())
            if done:
                log.info("[%s] resumed from a checkpoint after %d%s steps", name, done,
                         f" of {total_steps}" if total_steps else "")

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            acc = next((v for k, v in logs.items() if k.endswith("accuracy")), float("nan"))
            log.info("[%s] epoch %d%s  loss %.4f  accuracy %.4f  %.1fs", name, epoch + 1,
                     f"/{epochs}" if epochs else "", logs.get("loss", float("nan")), acc,
                     time.perf_counter() - self.t0)

    class DropPathSchedule(keras.callbacks.Callback):
        def _sync(self):
            # From the optimizer's step count, so restored runs carry on where they were.
            schedule.progress.assign(int(self.model.optimizer.iterations.numpy()) / total_steps)

        def on_train_begin(self, logs=None):
            self._sync()

        def on_train_batch_end(self, batch, logs=None):
            self._sync()

    # A per-batch hook only where needed: Keras syncs with the device for each one.
    return [checkpoints.callback(backup_dir, checkpoint_min_seconds, keep), Progress(),
            *([DropPathSchedule()] if schedule is not None else [])]


def compile_for_training(trained, spec: dict[str, Any], num_classes: int, cfg: TrainingConfig,
                         total_steps: int | None, dist, main_loss, schedule=None) -> None:
    """Compiles the training model: `main_loss` on the logits and, with an auxiliary head
    (nasnet), the plain label loss on it, weighted as the architecture says."""
    if len(trained.outputs) == 1:
        loss, loss_weights, tracked = main_loss, None, [accuracy_metric(num_classes)]
    else:
        family = models.family_of_spec(spec)
        aux_weight = getattr(family.parse(spec["arch"]), "aux_head_weight", 0.4)
        loss = [main_loss, subnetwork_loss(num_classes, cfg.label_smoothing, False, 1.0)]
        loss_weights, tracked = [1.0, aux_weight], [[accuracy_metric(num_classes)], []]
    with dist.scope():
        trained.compile(optimizer=make_optimizer(cfg, total_steps, schedule), loss=loss,
                        loss_weights=loss_weights, metrics=tracked, jit_compile=cfg.use_xla)


def servable(family, model):
    """The model to save and serve: training-only parts removed (the family's inference
    model), no compile state (the file must not need our loss functions), float32 logits out,
    also under mixed precision."""
    import keras
    inference = family.inference_model(model)
    if getattr(inference, "compiled", False) or inference.outputs[0].dtype != "float32":
        logits_out = inference.outputs[0]
        if logits_out.dtype != "float32":
            logits_out = keras.layers.Activation("linear", dtype="float32", name="logits_float32")(logits_out)
        inference = keras.Model(inference.inputs, logits_out, name=inference.name)
    return inference


def live_teacher(previous_ensemble: str | os.PathLike, mode: str, input_shape):
    """The previous ensemble as a frozen Keras model (from the model files its artifact
    carries): all members combined as selection combined them (`adaptive`), or the member
    added last (`born_again`)."""
    record = artifacts.ensemble_record(previous_ensemble)
    # Members built with a user's custom layers load once the builder's module registered them
    # (this runs before the candidate's own model, which would import it, is built).
    models.import_builders([m["spec"] for m in record["members"]])
    if mode == "born_again":
        path = artifacts.ensemble_model(previous_ensemble, record["teacher_member"])
        return combined_model([path], input_shape, name="teacher")
    mixture = record["mixture"]
    bias = np.asarray(mixture["bias"])
    return combined_model([artifacts.ensemble_model(previous_ensemble, m["spec"]["name"])
                           for m in record["members"]], input_shape,
                          np.asarray(mixture["weights"]), bias if np.any(bias) else None,
                          name="teacher")


def _InferenceOnly(model):
    """`model` as a layer that always runs in inference mode. trainable=False freezes batch-norm
    statistics but leaves dropout on in a training step, and a functional model passes its own
    `training` flag to every layer whose call takes one, overriding a training=False given when
    the graph was built; this layer's call takes none."""
    import keras

    class InferenceOnly(keras.layers.Layer):
        def __init__(self, inner):
            super().__init__(trainable=False, dtype="float32", autocast=False, name=f"{inner.name}_inference")
            self.inner = inner

        def call(self, x):
            return self.inner(x, training=False)

        def compute_output_spec(self, x):
            return self.inner.compute_output_spec(x)

    return InferenceOnly(model)


def with_teacher(student, teacher):
    """A training model whose main output is [student logits | teacher logits] on the same
    input batch; the teacher is frozen (inference mode, no gradients)."""
    import keras
    teacher.trainable = False
    inputs = keras.Input(shape=student.inputs[0].shape[1:], name="image")
    outs = student(inputs)
    outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
    # float32 concatenation: under mixed precision the teacher's logits keep their precision.
    main = keras.layers.Concatenate(dtype="float32", name="student_and_teacher")(
        [outs[0], _InferenceOnly(teacher)(inputs)])
    return keras.Model(inputs, [main, *outs[1:]] if len(outs) > 1 else main, name=f"{student.name}_distilling")


def warm_start(net, saved_model: str | os.PathLike) -> None:
    """Copies the weights of a saved subnetwork (its inference model, adanas.artifacts) into
    `net`, a freshly built training model of the same architecture. Layers pair in order, by
    type and weight shapes; training-only layers the saved model lacks (NASNet's auxiliary
    head) keep their initial weights."""
    import keras
    saved = keras.saving.load_model(saved_model, compile=False)
    sources = [layer for layer in saved.layers if layer.weights]
    pending = 0
    for layer in (layer for layer in net.layers if layer.weights):
        if pending == len(sources):
            break
        source = sources[pending]
        if type(layer) is type(source) and [w.shape for w in layer.weights] == [w.shape for w in source.weights]:
            layer.set_weights(source.get_weights())
            pending += 1
    if pending != len(sources):
        layer = sources[pending]
        raise ValueError(f"cannot start {net.name} from {saved_model}: its layer {layer.name} "
                         f"({type(layer).__name__}, weights {[tuple(w.shape) for w in layer.weights]}) "
                         f"has no counterpart in the model built from the spec")


def read_teacher(previous_ensemble: str | os.PathLike | None, mode: str) -> artifacts.Sharded | None:
    """Cached teacher logits of every training example, per train shard, or None (first
    iteration / no KD)."""
    if mode == "none" or previous_ensemble is None:
        return None
    return artifacts.ensemble_teacher(previous_ensemble, mode)


def check_teacher(teacher: artifacts.Sharded, shards: list[artifacts.Shard], num_classes: int) -> None:
    """The cached teacher must have one [n_k, C] file per train shard (read by header only)."""
    if len(teacher) != len(shards):
        raise ValueError(f"teacher logits in {len(teacher)} shards, the training split in {len(shards)}")
    for k, (part, shard) in enumerate(zip(teacher.parts, shards)):
        shape = np.load(part, mmap_mode="r").shape
        if shape != (shard.count, num_classes):
            raise ValueError(f"teacher logits of train shard {k} are {shape}, the shard holds "
                             f"({shard.count}, {num_classes})")


def score_split(model, dataset_dir, split: str, meta: dict[str, Any]) -> metrics.Score:
    """Cross-entropy and error of `model` on a split, streamed shard by shard."""
    from adanas import inputs
    score = metrics.Score()
    for _ in inputs.predict_and_score(model, dataset_dir, split, meta, score):
        pass
    return score


def accelerators() -> tuple[str, int]:
    """("GPU" / "TPU" / "CPU", how many) that TensorFlow sees in this task."""
    import tensorflow as tf
    for kind in ("TPU", "GPU"):
        devices = tf.config.list_logical_devices(kind)
        if devices:
            return kind, len(devices)
    return "CPU", 0


def strategy(kind: str):
    """The tf.distribute strategy a candidate trains under."""
    import tensorflow as tf
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    if kind == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="local")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    return tf.distribute.get_strategy()  # the default, single-device strategy


def count_params(model) -> int:
    """Trainable parameters (what the paper counts; BatchNorm statistics excluded)."""
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def train_candidate(candidate: dict[str, Any], cfg: TrainingConfig,
                    dataset_dir: str | os.PathLike, out_dir: str | os.PathLike,
                    previous_ensemble: str | os.PathLike | None = None,
                    tensorboard_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Trains `candidate` on the Dataset artifact; returns its metrics. With
    `training.tensorboard`, its curves go under `tensorboard_dir` (adanas.curves)."""
    with precision(cfg.use_bf16):
        return _train(candidate, cfg, dataset_dir, out_dir, previous_ensemble, tensorboard_dir)


@contextlib.contextmanager
def precision(use_bf16: bool) -> Iterator[None]:
    """Mixed precision (bfloat16 compute) for one training only: a later step of the same
    process (the in-process search, tests) must not inherit the global policy."""
    import keras
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if use_bf16 else "float32")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(policy)


def backup_dir(out_dir) -> Path:
    """The task's checkpoints (adanas.checkpoints): in its output folder, which a retried task
    gets back."""
    return Path(out_dir) / "backup"


def earlier_seconds(out_dir) -> float:
    """What the earlier attempts of this task (a preempted node's) had spent at their last
    checkpoint, 0 for a first attempt: its task_seconds, and so search.budget and the cost, count
    it. The time from that checkpoint to the kill is not known (at most one checkpoint interval)."""
    return checkpoints.saved_extra(backup_dir(out_dir)).get("spent_seconds", 0.0)


def _train(candidate, cfg: TrainingConfig, dataset_dir, out_dir, previous_ensemble,
           tensorboard_dir=None) -> dict[str, Any]:
    import keras

    from adanas import inputs  # TensorFlow's input pipeline: only the train step pays for it

    task_start = time.perf_counter()
    keras.utils.set_random_seed(candidate["seed"])
    meta = artifacts.dataset_meta(dataset_dir)
    num_classes = meta["num_classes"]
    n_train = int(meta["splits"]["train"])
    distilling = cfg.knowledge_distillation != "none" and previous_ensemble is not None
    live = distilling and cfg.distillation_teacher == "live"
    teacher = None if live else read_teacher(previous_ensemble, cfg.knowledge_distillation)
    if teacher is not None:
        check_teacher(teacher, artifacts.dataset_shards(dataset_dir, "train", meta), num_classes)

    family = models.family_of_spec(candidate)
    dist = strategy(cfg.distribution)
    teacher_model = (live_teacher(previous_ensemble, cfg.knowledge_distillation, meta["image_shape"])
                     if live else None)

    def training_model():
        net = models.build_model(candidate, meta["image_shape"], num_classes, cfg.weight_decay)
        return net, (net if teacher_model is None else with_teacher(net, teacher_model))

    def stream(seed, skip=0):
        return inputs.training_stream(dataset_dir, meta, batch, meta["augmentation"], seed=seed,
                                      shuffle_buffer=cfg.shuffle_buffer, teacher=teacher,
                                      outputs=outputs, skip=skip)

    loss = subnetwork_loss(num_classes, cfg.label_smoothing, distilling, cfg.distillation_temperature, live)
    with dist.scope():
        model, trained = training_model()
        if candidate.get("warm_from"):
            # The candidate that finishes a budgeted search trains a subnetwork on (adanas.budget).
            warm_start(model, artifacts.ensemble_model(previous_ensemble, candidate["warm_from"]))
            log.info("[%s] starts from %s's weights", candidate["name"], candidate["warm_from"])
    outputs = len(model.outputs)
    batch = min(cfg.batch_size, n_train)
    backup = backup_dir(out_dir)
    # A retried task's checkpoint: what its earlier attempts spent (earlier_seconds; a budgeted
    # share gives it only what they left) and where its schedule was.
    kept = checkpoints.saved_extra(backup)
    earlier = kept.get("spent_seconds", 0.0)
    # The splits whose logits the task caches after training (train: later candidates' teachers).
    logit_splits = ["validation", "test"] + (["train"] if cfg.knowledge_distillation != "none" else [])
    drop_path = getattr(model, "drop_path_schedule", None)
    share = None
    device, count = accelerators()
    if candidate.get("budget_seconds"):
        # Its share of search.budget: it trains until the share is spent (adanas.timed).
        steps_per_epoch, epochs = max(1, n_train // batch), timed.EPOCH_BOUND
        predicted = sum(int(meta["splits"][split]) for split in logit_splits)
        # The share counts accelerator time (adanas.budget); the task's clock is wall time.
        seconds = budget.wall_seconds(candidate["budget_seconds"], count) - earlier
        share = timed.Share(task_start, max(seconds, 0.0), predicted, batch,
                            kept.get("progress", 0.0))
        with dist.scope():
            progress = timed.progress_variable()
        schedule = timed.learning_rate(cfg.initial_learning_rate, cfg.warmup_steps,
                                       cfg.learning_rate_schedule == "cosine", progress)
    else:
        steps_per_epoch = max(1, n_train // batch)
        if cfg.max_iteration_steps:
            steps_per_epoch = min(steps_per_epoch, cfg.max_iteration_steps)
            epochs = math.ceil(cfg.max_iteration_steps / steps_per_epoch)
        else:
            epochs = cfg.train_epochs
        schedule = None
    total_steps = None if share else epochs * steps_per_epoch

    compile_for_training(trained, candidate, num_classes, cfg, total_steps, dist, loss, schedule)
    # A rerun of a task that was killed resumes from its checkpoint (adanas.checkpoints): its
    # input stream then skips what the finished epochs consumed, so the resumed training sees
    # the very batches, and draws the very dropout masks, an unbroken one would have.
    with dist.scope():
        done, checkpoint_loss = checkpoints.restore(trained, backup)
    ds = stream(candidate["seed"], skip=done * steps_per_epoch * batch)
    log.info("[%s] training %s: %d params, %s x %d steps of %d on %d replica(s)%s",
             candidate["name"], candidate["arch_str"], count_params(model),
             f"{candidate['budget_seconds']:g} s of epochs" if share else f"{epochs} epochs",
             steps_per_epoch, batch, dist.num_replicas_in_sync,
             f", distilling ({cfg.knowledge_distillation}, {cfg.distillation_teacher} teacher)"
             if distilling else "")
    clock = [timed.callback(candidate["name"], share, progress, drop_path)] if share else []

    def keep():
        return {"spent_seconds": earlier + time.perf_counter() - task_start,
                **({"progress": float(progress.numpy())} if share else {})}

    if earlier:
        log.info("[%s] earlier attempts spent %.1f s up to their last checkpoint%s", candidate["name"],
                 earlier, f": {max(seconds, 0.0):.1f} s of the share are left" if share else "")
    steps_before = int(trained.optimizer.iterations.numpy())
    t0 = time.perf_counter()
    history = trained.fit(ds, epochs=epochs, initial_epoch=done, steps_per_epoch=steps_per_epoch,
                          verbose=0, shuffle=False,
                          callbacks=fit_callbacks(candidate["name"], None if share else epochs, total_steps,
                                                  None if share else drop_path,
                                                  backup, cfg.checkpoint_min_seconds, keep)
                          + clock
                          + ([curves.callback(curves.log_dirs(tensorboard_dir, candidate["name"]), model,
                                              lambda m: score_split(m, dataset_dir, "validation", meta))]
                             if cfg.tensorboard else []))
    train_seconds = time.perf_counter() - t0
    steps_done = int(trained.optimizer.iterations.numpy())
    epochs_done = history.epoch[-1] + 1 if history.epoch else done
    # (A task killed after its last checkpoint, before it wrote its outputs, trains no epoch.)
    final_loss = float(history.history["loss"][-1]) if history.epoch else checkpoint_loss
    if not math.isfinite(final_loss):
        raise FloatingPointError(f"[{candidate['name']}] training diverged: loss {final_loss}")

    inference = servable(family, model)
    # Logits cached per dataset shard, scored as they are written: one shard in memory.
    scores = {split: metrics.Score() for split in logit_splits}
    artifacts.write_candidate_logits(out_dir, {
        split: inputs.predict_and_score(inference, dataset_dir, split, meta, scores[split])
        for split in logit_splits})
    # Selection ranks and combines candidates by their validation logits: one with a NaN or inf
    # among them (a finite training loss does not rule that out) is a failed candidate.
    if not math.isfinite(scores["validation"].loss):
        raise FloatingPointError(f"[{candidate['name']}] validation logits are not finite "
                                 f"(loss {scores['validation'].loss})")
    # The model is saved before the task's time is taken: the budget counts the save too.
    inference.save(artifacts.candidate_model(out_dir))
    task_seconds = earlier + time.perf_counter() - task_start
    metrics_out = {
        "params": count_params(inference),
        "train_loss": final_loss,
        "validation_loss": scores["validation"].loss,
        "validation_error": scores["validation"].error,
        # Planned (a budgeted training plans none: what it ran) and done (a resumed task counts
        # the epochs of its earlier attempts too).
        "epochs": epochs_done if share else epochs,
        "epochs_done": epochs_done,
        "test_error": scores["test"].error,
        "train_seconds": train_seconds,
        "train_steps": steps_done,
        "images_per_second": (steps_done - steps_before) * batch / train_seconds,
        "distilled": distilling,
        **({"budget_seconds": candidate["budget_seconds"]} if candidate.get("budget_seconds") else {}),
        # Compute accounting: the whole task (its earlier attempts up to their last checkpoint
        # included), times the accelerators it held (0 on CPU).
        "task_seconds": task_seconds,
        "earlier_attempts_seconds": earlier,
        "accelerator": device,
        "accelerator_seconds": task_seconds * count,
    }
    artifacts.write_candidate(out_dir, candidate, metrics_out)
    checkpoints.remove(backup)
    log.info("[%s] done in %.1fs: validation error %.4f, test error %.4f", candidate["name"],
             train_seconds, metrics_out["validation_error"], metrics_out["test_error"])
    return metrics_out


class MissingAcceleratorError(RuntimeError):
    """The task asked for an accelerator that TensorFlow cannot see: fail, never train on CPU."""


def check_accelerator(expected: str) -> None:
    """Fails the task when it was given a GPU/TPU (`expected`) that TensorFlow does not see:
    a driver missing from the image's library path would otherwise train for days on CPU."""
    if not expected:
        return
    found, count = accelerators()
    if found != expected:
        raise MissingAcceleratorError(
            f"this task asked for a {expected} (resources.train.accelerator_type) but TensorFlow "
            f"sees {'none' if found == 'CPU' else f'{count} {found}'}. On GPU nodes the NVIDIA "
            f"driver must be on LD_LIBRARY_PATH (the adanas-gpu image adds /usr/local/nvidia/lib64); "
            f"on TPUs use the adanas-tpu image")


def train_step(candidate: dict[str, Any], cfg: TrainingConfig,
               dataset_dir: str | os.PathLike, out_dir: str | os.PathLike,
               previous_ensemble: str | os.PathLike | None = None,
               expected_accelerator: str = "",
               tensorboard_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """The train step. A candidate that fails (an exception, a NaN loss, out of memory) is
    recorded as failed instead of failing the iteration; selection uses the others.

    A process that dies (preemption) still fails the task, so the orchestrator's retry applies;
    so does a missing accelerator (`expected_accelerator`: "GPU", "TPU" or "" for none).
    `tensorboard_dir` (the task's TensorBoard output) is made even when `training.tensorboard`
    is off, so that the output exists.
    """
    import traceback
    check_accelerator(expected_accelerator)
    if tensorboard_dir is not None:
        Path(tensorboard_dir).mkdir(parents=True, exist_ok=True)
    start, earlier = time.perf_counter(), earlier_seconds(out_dir)
    try:
        return train_candidate(candidate, cfg, dataset_dir, out_dir, previous_ensemble, tensorboard_dir)
    except Exception as e:  # noqa: BLE001 - any failure of one candidate is recorded, not raised
        log.error("[%s] candidate failed: %s\n%s", candidate.get("name"), e, traceback.format_exc())
        # What it spent counts against search.budget as a trained candidate's time does.
        seconds = earlier + time.perf_counter() - start
        try:
            held = accelerators()[1]
        except Exception:  # noqa: BLE001 - TensorFlow itself may be what failed
            held = 0
        failure = {"type": type(e).__name__, "message": str(e)[:2000], "task_seconds": seconds,
                   "accelerator_seconds": seconds * held}
        artifacts.write_candidate(out_dir, candidate, failed=failure)
        checkpoints.remove(backup_dir(out_dir))   # a failed candidate is not retried
        return {"failed": 1}
