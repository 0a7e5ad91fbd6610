"""Generate step: G(f_{t-1}), the candidate specs of one AdaNet iteration."""

from kfp import dsl
from kfp.dsl import Input, Model


def generate_candidates(search: str, seed: int, iteration: int,
                        previous_ensemble: Input[Model] = None) -> list:
    """Proposes this iteration's candidates: a list of JSON specs, one per training task.

    Args:
        search: the `search` section of an AdaNAS config, as JSON.
        seed: the search seed; each candidate gets its own seed derived from it.
        iteration: the AdaNet iteration, from 0.
        previous_ensemble: the ensemble chosen so far; absent at iteration 0 (f_0 = 0).
    """
    import json

    from adanas import config, ensemble, generators

    last = ensemble.last_chosen_spec(None if previous_ensemble is None else previous_ensemble.path)
    specs = generators.propose(config.section_from_json("search", search), seed, iteration, last)
    # JSON strings, not dicts: KFP passes dict numbers as floats, and specs must stay exact.
    return [json.dumps(s) for s in specs]


def make(image: str):
    return dsl.component(generate_candidates, base_image=image, install_kfp_package=False)
