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
    such as a split classified perfectly, where the NLL keeps falling as T -> 0: exports use
    `serving_temperature`, which sets T another way there)."""
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


def serving_temperature(shards: Shards) -> tuple[float, str]:
    """(the temperature an export applies, "") or, where the fit has no minimum, (a temperature
    set another way, how).

    Where every held-out example is classified correctly the NLL keeps falling as T -> 0 and
    the fit would return MIN_TEMPERATURE: a served probability of 1.0 for every image, a wrong
    one included (the default digits search did this on a machine where its model made no
    validation error; unscaled, its label-smoothed logits were 12% under-confident instead).
    n right answers out of n do not show an accuracy of 1: the rule of succession estimates
    (n + 1) / (n + 2), and T is set so that the mean confidence on the split is that."""
    score = metrics.Score()
    for z, y in shards():
        score.add(*_checked(z, y, allow_empty=True))
    if not (score.count and score.errors == 0):
        return fit_temperature_shards(shards), ""
    n = score.count
    target = (n + 1) / (n + 2)

    def confidence(log_t: float) -> float:   # falls as T rises
        total = 0.0
        for z, _ in shards():
            total += float(np.exp(metrics.log_softmax(np.asarray(z, np.float64) / np.exp(log_t)))
                           .max(axis=-1).sum())
        return total / n

    lo, hi = np.log(MIN_TEMPERATURE), np.log(MAX_TEMPERATURE)
    for _ in range(40):   # bisection on log T: well under 1e-3 relative
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if confidence(mid) > target else (lo, mid)
    t = float(np.exp((lo + hi) / 2))
    why = (f"the validation split is classified perfectly ({n} of {n}), where the NLL has no "
           f"minimum (it keeps falling as T -> 0); T is set so that the mean confidence on it is "
           f"{target:.2%}, the accuracy (n + 1) / (n + 2) that n right of n supports")
    reached = confidence(np.log(t))
    if reached > target + 1e-3:   # logits so far apart that even T at its bound leaves them sure
        why += f"; at T's bound, {MAX_TEMPERATURE:g}, it is still {reached:.2%}"
    return t, why


def _checked(logits, labels, allow_empty: bool = False) -> tuple[np.ndarray, np.ndarray]:
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels)
    if z.ndim != 2 or len(z) != len(y) or not (len(y) or allow_empty):
        raise ValueError(f"fit_temperature: expected logits [N, C] and N labels, got "
                         f"{z.shape} and {y.shape}")
    return z, y
