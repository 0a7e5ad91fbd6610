"""Temperature scaling (Guo et al. 2017): one scalar T > 0 dividing the logits, fitted on held-out
data so that softmax(logits / T) is calibrated. It never changes a prediction (argmax), only how
confident it is. NumPy and SciPy only."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

from adanas import metrics

# Search range of T: far beyond any useful temperature on either side.
MIN_TEMPERATURE, MAX_TEMPERATURE = 1e-2, 1e2


def fit_temperature(logits, labels) -> float:
    """The T > 0 minimising the mean negative log-likelihood of softmax(logits / T) on
    (logits [N, C], integer labels [N]), e.g. the validation split's.

    The NLL is convex in 1/T, hence unimodal in log T: a bounded scalar search over log T finds
    its minimum (clamped to [MIN_TEMPERATURE, MAX_TEMPERATURE], reached only by degenerate data
    such as a split classified perfectly, where the NLL keeps falling as T -> 0)."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels)
    if z.ndim != 2 or len(z) != len(y) or len(y) == 0:
        raise ValueError(f"fit_temperature: expected logits [N, C] and N labels, got "
                         f"{z.shape} and {y.shape}")
    result = minimize_scalar(lambda log_t: metrics.cross_entropy(z / np.exp(log_t), y),
                             bounds=(np.log(MIN_TEMPERATURE), np.log(MAX_TEMPERATURE)),
                             method="bounded", options={"xatol": 1e-5})
    return float(np.exp(result.x))
