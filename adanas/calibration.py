"""Temperature scaling (Guo et al. 2017): one scalar T > 0 dividing the logits, fitted on held-out
data so that softmax(logits / T) is calibrated. It never changes a prediction (argmax), only how
confident it is. NumPy and SciPy only.

The fit streams: the held-out logits come shard by shard, and every evaluation of the loss
reads them again (a split's logits are never held at once)."""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np
from scipy.optimize import minimize_scalar

from adanas import metrics

# Search range of T: far beyond any useful temperature on either side.
MIN_TEMPERATURE, MAX_TEMPERATURE = 1e-2, 1e2

# A fresh pass over (logits [n_k, C], labels [n_k]) pairs, one per shard, on every call.
Shards = Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]]


def fit_temperature(logits, labels) -> float:
    """The T > 0 minimising the mean negative log-likelihood of softmax(logits / T) on
    (logits [N, C], integer labels [N]), e.g. the validation split's: `fit_temperature_shards`
    with one shard."""
    z, y = _checked(logits, labels)
    return fit_temperature_shards(lambda: [(z, y)])


def fit_temperature_shards(shards: Shards) -> float:
    """`fit_temperature` on logits and labels that come shard by shard: `shards()` starts a
    new pass over the (logits [n_k, C], labels [n_k]) pairs (e.g. reading an
    artifacts.Sharded again), which the search makes once per loss evaluation (a few dozen).

    The NLL is convex in 1/T, hence unimodal in log T: a bounded scalar search over log T finds
    its minimum (clamped to [MIN_TEMPERATURE, MAX_TEMPERATURE], reached only by degenerate data
    such as a split classified perfectly, where the NLL keeps falling as T -> 0)."""
    def nll(log_t: float) -> float:
        t = np.exp(log_t)
        score = metrics.Score()
        for z, y in shards():
            z, y = _checked(z, y, allow_empty=True)
            score.add(z / t, y)
        if not score.count:
            raise ValueError("fit_temperature: expected logits [N, C] and N labels, got no examples")
        return score.loss

    result = minimize_scalar(nll, bounds=(np.log(MIN_TEMPERATURE), np.log(MAX_TEMPERATURE)),
                             method="bounded", options={"xatol": 1e-5})
    return float(np.exp(result.x))


def _checked(logits, labels, allow_empty: bool = False) -> tuple[np.ndarray, np.ndarray]:
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels)
    if z.ndim != 2 or len(z) != len(y) or not (len(y) or allow_empty):
        raise ValueError(f"fit_temperature: expected logits [N, C] and N labels, got "
                         f"{z.shape} and {y.shape}")
    return z, y
