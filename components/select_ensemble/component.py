"""Select step: the AdaNet choice of this iteration's member, from cached logits, and whether
the search goes on."""

from typing import List

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output


def select_ensemble(search: str, seed: int, iteration: int, dataset: Input[Dataset],
                    candidates: Input[List[Model]], ensemble: Output[Model],
                    metrics: Output[Metrics], previous_ensemble: Input[Model] = None) -> bool:
    """Forms the candidate ensembles, keeps the best on validation, writes the new ensemble.

    Args:
        search: the `search` section of an AdaNAS config, as JSON.
        seed: the search seed (to look ahead at the next iteration's candidates).
        iteration: the AdaNet iteration, from 0.
        dataset: the Dataset artifact (for the validation and test labels).
        candidates: this iteration's trained candidates (dsl.Collected).
        ensemble: ensemble.json and the members' cached logits.
        metrics: the new ensemble's objective, validation and test error.
        previous_ensemble: the ensemble so far; absent at iteration 0.

    Returns:
        Whether another iteration should run (false after the last one, on early stopping, or
        when no next candidate fits the parameter budget).
    """
    import json

    from adanas import config, generators
    from adanas import ensemble as ens

    cfg = config.section_from_json("search", search)
    entry = ens.select_step(
        cfg, iteration, dataset.path, [c.path for c in candidates], [c.uri for c in candidates],
        None if previous_ensemble is None else previous_ensemble.path, ensemble.path)
    ensemble.metadata.update({"iteration": iteration, "chosen": entry["chosen"] or "",
                              "size": entry["ensemble"]["size"]})
    for key in ("size", "params", "objective", "validation_loss", "validation_error", "test_error"):
        metrics.log_metric(key, entry["ensemble"][key])
    # Metrics live in metadata; a file at their path lets kfp.local's cache reuse this task.
    with open(metrics.path, "w") as f:
        json.dump(metrics.metadata, f)
    return generators.should_continue(cfg, seed, iteration + 1, ensemble.path, dataset.path)


def make(image: str):
    return dsl.component(select_ensemble, base_image=image, install_kfp_package=False)
