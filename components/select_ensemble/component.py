"""Select step: the AdaNet choice of this iteration's member, from cached logits, and whether
the search goes on."""

from typing import List

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
        ensemble: ensemble.json, the members' models and cached logits: all that the next
            iteration and the evaluate step need.
        metrics: the new ensemble's objective, validation and test error.
        previous_ensemble: the ensemble so far; absent at iteration 0.

    Returns:
        Whether another iteration should run (false after the last one, on early stopping, or
        when no next candidate fits the parameter budget).
    """
    from adanas import config, generators
    from adanas import ensemble as ens
    from components.glue import log_metrics, path_or_none

    cfg = config.section_from_json("search", search)
    previous = path_or_none(previous_ensemble)
    entry = ens.select_step(cfg, iteration, dataset.path, [c.path for c in candidates], previous,
                            ensemble.path)
    ensemble.metadata.update({"iteration": iteration, "chosen": entry["chosen"] or "",
                              "size": entry["ensemble"]["size"]})
    log_metrics(metrics, {k: entry["ensemble"][k] for k in
                          ("size", "params", "objective", "validation_loss", "validation_error",
                           "test_error")})
    return generators.should_continue(cfg, seed, iteration + 1, ensemble.path, dataset.path)
