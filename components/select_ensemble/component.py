"""Select step: the AdaNet choice of this iteration's member, from cached logits."""

from typing import List

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output


def select_ensemble(search: str, iteration: int, dataset: Input[Dataset],
                    candidates: Input[List[Model]], ensemble: Output[Model],
                    metrics: Output[Metrics], previous_ensemble: Input[Model] = None):
    """Adds the candidate whose ensemble scores best on validation; writes the new ensemble.

    Args:
        search: the `search` section of an AdaNAS config, as JSON.
        iteration: the AdaNet iteration, from 0.
        dataset: the Dataset artifact (for the validation and test labels).
        candidates: this iteration's trained candidates (dsl.Collected).
        ensemble: ensemble.json and the members' cached logits.
        metrics: the new ensemble's validation and test error.
        previous_ensemble: the ensemble so far; absent at iteration 0.
    """
    from adanas import config
    from adanas import ensemble as ens

    entry = ens.select_step(
        config.section_from_json("search", search), iteration, dataset.path,
        [c.path for c in candidates], [c.uri for c in candidates],
        None if previous_ensemble is None else previous_ensemble.path, ensemble.path)
    ensemble.metadata.update({"iteration": iteration, "chosen": entry["chosen"] or "",
                              "size": entry["ensemble"]["size"]})
    for key in ("size", "params", "validation_loss", "validation_error", "test_error"):
        metrics.log_metric(key, entry["ensemble"][key])


def make(image: str):
    return dsl.component(select_ensemble, base_image=image, install_kfp_package=False)
