"""Train step: one candidate subnetwork, in its own task (and on its own accelerator)."""

from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output


def train_candidate(candidate: str, training: str, dataset: Input[Dataset],
                    model: Output[Model], metrics: Output[Metrics], tensorboard: Output[Artifact],
                    previous_ensemble: Input[Model] = None, accelerator: str = ""):
    """Trains one candidate; writes the model, its validation/test logits and its metrics.

    A candidate that fails (exception, NaN loss, out of memory) is recorded as failed and the
    task succeeds: the select step uses the others.

    Args:
        candidate: a JSON spec from the generate step.
        training: the `training` section of an AdaNAS config, as JSON.
        dataset: the prepare step's Dataset artifact.
        model: model.keras, its cached logits, candidate.json.
        metrics: loss, error, params, train seconds.
        tensorboard: with `training.tensorboard`, the candidate's curves (<name>/train,
            <name>/validation event files); an empty folder otherwise.
        previous_ensemble: the ensemble so far, whose cached training logits are the teacher
            when distillation is on; absent at iteration 0.
        accelerator: "GPU" or "TPU" when the task was given one: the task fails if TensorFlow
            cannot see it, instead of training on CPU.
    """
    import json

    from adanas import config, train
    from components.glue import log_metrics, path_or_none

    spec = json.loads(candidate)
    values = train.train_step(spec, config.section_from_json("training", training), dataset.path,
                              model.path, path_or_none(previous_ensemble), accelerator,
                              tensorboard_dir=tensorboard.path)
    model.metadata.update({"name": spec["name"], "arch": spec["arch_str"]})
    log_metrics(metrics, values)
