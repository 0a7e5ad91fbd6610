"""Generate step: G(f_{t-1}), the candidate specs of one AdaNet iteration."""

from kfp import dsl
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

    specs = generators.candidates_for(
        config.section_from_json("search", search), seed, iteration,
        None if previous_ensemble is None else previous_ensemble.path, dataset.path)
    return [json.dumps(s) for s in specs]


def make(image: str):
    return dsl.component(generate_candidates, base_image=image, install_kfp_package=False)
