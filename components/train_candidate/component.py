"""Train step: one candidate subnetwork, in its own task (and on its own accelerator)."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output


def train_candidate(candidate: str, training: str, dataset: Input[Dataset],
                    model: Output[Model], metrics: Output[Metrics],
                    previous_ensemble: Input[Model] = None):
    """Trains one candidate; writes the model, its validation/test logits and its metrics.

    A candidate that fails (exception, NaN loss, out of memory) is recorded as failed and the
    task succeeds: the select step uses the others.

    Args:
        candidate: a JSON spec from the generate step.
        training: the `training` section of an AdaNAS config, as JSON.
        dataset: the augment step's Dataset artifact.
        model: model.keras, logits_validation.npy, logits_test.npy, candidate.json.
        metrics: loss, error, params, train seconds.
        previous_ensemble: the ensemble so far, whose cached training logits are the teacher
            when distillation is on; absent at iteration 0.
    """
    import json

    from adanas import config, train

    spec = json.loads(candidate)
    values = train.train_or_record_failure(
        spec, config.section_from_json("training", training), dataset.path, model.path,
        None if previous_ensemble is None else previous_ensemble.path)
    model.metadata.update({"name": spec["name"], "arch": spec["arch_str"]})
    for key, value in values.items():
        metrics.log_metric(key, value)
    # Metrics live in metadata; a file at their path lets kfp.local's cache reuse this task.
    with open(metrics.path, "w") as f:
        json.dump(metrics.metadata, f)


def make(image: str):
    return dsl.component(train_candidate, base_image=image, install_kfp_package=False)
