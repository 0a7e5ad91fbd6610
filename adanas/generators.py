"""Candidate generators: a named registry. G(f_{t-1}) -> candidate specs for iteration t.

A candidate spec is a plain JSON-able dict (it crosses task boundaries as a KFP parameter):
    {"name", "family", "arch": {...}, "arch_str", "move", "iteration", "seed"}
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Callable, Iterator

from adanas import models

# (iteration, count, base arch, last chosen arch or None, family, growth) -> [(move, arch)]
Generator = Callable[[int, int, Any, Any, "models.Family", Any], list[tuple[str, Any]]]


def simple(iteration, count, base, last, family, growth):
    """G_S: the same architecture every iteration; candidates differ only by their seed."""
    return [("same", base)] * count


def _growth_steps() -> Iterator[tuple[int, int]]:
    # (deeper, wider) multiples by total growth, balanced first: deeper, wider, both, 2x deeper, ...
    for total in itertools.count(1):
        yield from sorted(((d, total - d) for d in range(total, -1, -1)), key=max)


def _label(d: int, w: int) -> str:
    return "+".join(name if k == 1 else f"{name}x{k}"
                    for name, k in (("deeper", d), ("wider", w)) if k)


def dynamic(iteration, count, base, last, family, growth):
    """G_D: grow the last chosen architecture: deeper (N + depth) and wider (F + width) first.

    At iteration 0 there is no chosen architecture yet: the base itself is the first candidate
    and the rest are its grown variants.
    """
    origin = base if last is None else last
    out: list[tuple[str, Any]] = [("base", base)] if last is None else []
    for d, w in _growth_steps():
        if len(out) >= count:
            break
        out.append((_label(d, w), family.grow(origin, d * growth.depth, w * growth.width)))
    return out[:count]


GENERATORS: dict[str, Generator] = {"simple": simple, "dynamic": dynamic}


def candidate_seed(seed: int, iteration: int, index: int) -> int:
    return seed * 10_000 + iteration * 100 + index


def propose(search, seed: int, iteration: int, last_chosen: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Candidate specs for `iteration`, given the spec of the last member chosen (or None)."""
    family = models.FAMILIES[search.family]
    last = None
    if last_chosen is not None and last_chosen["family"] == search.family:
        last = family.arch_from_dict(last_chosen["arch"])
    moves = GENERATORS[search.generator](iteration, search.candidates_per_iteration,
                                         search.arch(), last, family, search.growth)
    return [
        {
            "name": f"i{iteration}_c{j}",
            "family": family.name,
            "arch": dataclasses.asdict(arch),
            "arch_str": arch.describe(),
            "move": move,
            "iteration": iteration,
            "seed": candidate_seed(seed, iteration, j),
        }
        for j, (move, arch) in enumerate(moves)
    ]
