"""Generate step: G(f_{t-1}), the candidate specs of one AdaNet iteration."""

from kfp.dsl import Dataset, Input, Model


def generate_candidates(search: str, seed: int, iteration: int, dataset: Input[Dataset],
                        previous_ensemble: Input[Model] = None) -> list:
    """Proposes this iteration's candidates: a list of JSON specs, one per training task.

    Args:
        search: the `search` section of an AdaNAS config, as JSON.
        seed: the search seed; each candidate gets its own seed derived from it.
        iteration: the AdaNet iteration, from 0.
        dataset: the Dataset artifact (image shape and classes, for the parameter budget).
        previous_ensemble: the ensemble chosen so far; absent at iteration 0 (f_0 = 0).

    Returns:
        JSON specs (strings, not dicts: KFP turns numbers inside dicts into floats).
    """
    import json

    from adanas import config, generators
    from components.glue import path_or_none

    specs = generators.generate_step(config.section_from_json("search", search), seed, iteration,
                                     path_or_none(previous_ensemble), dataset.path)
    return [json.dumps(s) for s in specs]
