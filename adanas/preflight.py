"""Checks that need the dataset's image shape, before any compute.

Config validation (adanas.config) sees the config alone. Some mistakes only show against the
data: a cutout or pad-and-crop larger than the images, more NASNet reductions than the images
can be halved, an auxiliary head on images too small for it, a parameter budget smaller than
every first candidate. Without this module they fail inside a task, after the data step (or,
for the budget, after the first generate step). Here they fail with the key path wherever the
shape is known without loading the data (adanas.data.peek: digits, a tfds dataset's builder
info, a folder's first image); elsewhere the steps check them again at run time.

`adanas validate`, `run`, `compile` and `submit` call `check` after loading the config.
"""

from __future__ import annotations

from adanas import data, ensemblers, generators
from adanas.config import Config, ConfigError


def check(cfg: Config) -> data.Peek | None:
    """Raises ConfigError (with the key path) on what the dataset's shape rules out; returns
    what was learnt of the dataset, or None when its shape is not known before loading."""
    seen = data.peek(cfg.dataset)
    if seen is None:
        return None
    shape, where = seen.image_shape, f" (dataset {cfg.dataset.name}: {seen.how})"
    try:
        cfg.augmentation.check_image_shape(shape)
        if cfg.search.family == "nasnet":
            cfg.search.arch().check_image_shape(shape)
    except ConfigError as e:
        raise ConfigError(e.path, str(e).split(": ", 1)[1] + where) from None
    if cfg.search.max_ensemble_params is not None:
        _check_budget(cfg, seen)
    return seen


def _check_budget(cfg: Config, seen: data.Peek) -> None:
    """The first iteration's candidates, built (not trained) on the dataset's shape: at least
    one must fit search.max_ensemble_params, or the generate step would fail."""
    search = cfg.search
    specs = generators.propose(search, cfg.seed, 0, None)
    sizes = []
    for spec in specs:   # built one by one: the first that fits ends the check
        sizes.append(generators.spec_params(spec, seen.image_shape, seen.num_classes))
        if ensemblers.fits_some_strategy(search, 0, sizes[-1]):
            return
    if sizes:
        shape = "x".join(map(str, seen.image_shape))
        each = ", ".join(f"{s['arch_str']} {p:,}" for s, p in zip(specs, sizes))
        raise ConfigError("search.max_ensemble_params",
                          f"{search.max_ensemble_params:,} is smaller than every first "
                          f"candidate: {each} "
                          f"params on {shape} images with {seen.num_classes} classes (dataset "
                          f"{cfg.dataset.name}: {seen.how})")
