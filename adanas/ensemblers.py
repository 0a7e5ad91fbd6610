"""Ensemblers: how member logits combine (NumPy only; fitted on cached logits).

`mean`: F(x) = (1/M) sum_j h_j(x); nothing is learned.

`weighted`: mixture weights learned by minimising the complexity-regularised AdaNet objective
(Cortes et al. 2017) on the selection split:

    F(w, b) = (1/m) sum_i CE( sum_j w_j . h_j(x_i) + b , y_i ) + sum_j (lambda r(h_j) + beta) |w_j|_1

with w_j a SCALAR, a VECTOR (one weight per class) or a MATRIX (C x C, applied to the member's
logits; the original applies it to the member's last layer, we apply it to the cached logits so
no model is re-run). Solved exactly as a smooth bound-constrained problem (L-BFGS-B on w = w+ - w-),
so weights the objective does not pay for become exactly 0. Weights start at the uniform mean,
so a fit can only improve on `mean`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

WEIGHT_TYPES = ("scalar", "vector", "matrix")
COMPLEXITIES = ("sqrt_depth", "log_params", "none")


@dataclass
class Mixture:
    weights: np.ndarray          # [M], [M, C] or [M, C, C]
    bias: np.ndarray             # [C] (zeros when unused)
    objective: float             # the AdaNet objective at the solution
    loss: float                  # its data term alone (mean cross-entropy)

    def combine(self, logits: np.ndarray) -> np.ndarray:
        return combine(logits, self.weights, self.bias)


def complexity(kind: str, depth: int, params: int) -> float:
    """r(h): sqrt of depth (the default; depth = layers or cells), log of params, or none."""
    if kind == "sqrt_depth":
        return math.sqrt(depth)
    if kind == "log_params":
        return math.log(max(params, 1))
    if kind == "none":
        return 0.0
    raise ValueError(f"unknown complexity {kind!r}; allowed: {', '.join(COMPLEXITIES)}")


def combine(logits: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """sum_j w_j . h_j + b for logits [M, N, C]."""
    m, n, c = logits.shape
    if weights.ndim == 1:
        out = (weights @ logits.reshape(m, n * c)).reshape(n, c)
    elif weights.ndim == 2:
        out = (logits * weights[:, None, :]).sum(axis=0)
    else:
        out = logits.transpose(1, 0, 2).reshape(n, m * c) @ weights.reshape(m * c, c)
    return out + bias


def uniform(num_members: int, num_classes: int, weight_type: str) -> np.ndarray:
    if weight_type == "scalar":
        return np.full(num_members, 1.0 / num_members)
    if weight_type == "vector":
        return np.full((num_members, num_classes), 1.0 / num_members)
    if weight_type == "matrix":
        return np.repeat(np.eye(num_classes)[None] / num_members, num_members, axis=0)
    raise ValueError(f"unknown mixture weight type {weight_type!r}; allowed: {', '.join(WEIGHT_TYPES)}")


def _loss_and_grad(logits, y, weights, bias, flat=None):
    """Mean cross-entropy of the mixture and its gradients. `flat`: logits as [N, M*C]."""
    m, n, c = logits.shape
    if weights.ndim == 3 and flat is not None:
        f = flat @ weights.reshape(m * c, c) + bias
    else:
        f = combine(logits, weights, bias)
    z = f - f.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    loss = -logp[np.arange(n), y].mean()
    g = np.exp(logp)
    g[np.arange(n), y] -= 1.0
    g /= n                                                   # dLoss/dF, [N, C]
    if weights.ndim == 1:
        gw = logits.reshape(m, n * c) @ g.ravel()
    elif weights.ndim == 2:
        gw = (logits * g[None]).sum(axis=1)
    else:
        if flat is None:
            flat = logits.transpose(1, 0, 2).reshape(n, m * c)
        gw = (flat.T @ g).reshape(m, c, c)
    return float(loss), gw, g.sum(axis=0)


def _penalty(weights, alphas):
    return float(sum(a * np.abs(w).sum() for a, w in zip(alphas, weights)))


def fit(logits: np.ndarray, labels: np.ndarray, weight_type: str, adanet_lambda: float,
        adanet_beta: float, complexities: list[float], use_bias: bool = False,
        max_steps: int = 500, tol: float = 1e-7) -> Mixture:
    """Mixture weights minimising the AdaNet objective. logits: [M, N, C] float.

    The L1 term is made smooth by splitting w = w+ - w- with w+, w- >= 0 (the penalty becomes
    linear); L-BFGS-B then solves the bound-constrained problem, and a weight the objective does
    not pay for lands exactly on 0. Starts from the uniform mean.
    """
    from scipy.optimize import minimize

    logits = np.asarray(logits, dtype=np.float64)
    m, n, c = logits.shape
    flat = logits.transpose(1, 0, 2).reshape(n, m * c) if weight_type == "matrix" else None
    w0 = uniform(m, c, weight_type)
    shape, size = w0.shape, w0.size
    rates = [adanet_lambda * r + adanet_beta for r in complexities]   # per member
    alpha = np.broadcast_to(np.reshape(rates, (m,) + (1,) * (w0.ndim - 1)), shape).ravel()

    def unpack(x):
        w = (x[:size] - x[size:2 * size]).reshape(shape)
        return w, (x[2 * size:] if use_bias else np.zeros(c))

    def fun(x):
        w, b = unpack(x)
        loss, gw, gb = _loss_and_grad(logits, labels, w, b, flat)
        gw = gw.ravel()
        grad = np.concatenate([gw + alpha, -gw + alpha] + ([gb] if use_bias else []))
        return loss + float(alpha @ (x[:size] + x[size:2 * size])), grad

    x0 = np.concatenate([np.maximum(w0.ravel(), 0), np.maximum(-w0.ravel(), 0)]
                        + ([np.zeros(c)] if use_bias else []))
    bounds = [(0.0, None)] * (2 * size) + [(None, None)] * (c if use_bias else 0)
    res = minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"maxiter": max_steps, "ftol": tol, "gtol": 1e-7})
    w, b = unpack(res.x)
    loss, _, _ = _loss_and_grad(logits, labels, w, b, flat)
    return Mixture(w, b, float(loss + _penalty(w, rates)), float(loss))


def objective_value(logits: np.ndarray, labels: np.ndarray, weights: np.ndarray, bias: np.ndarray,
                    adanet_lambda: float, adanet_beta: float, complexities: list[float]) -> float:
    """The AdaNet objective at given weights (for checks and reports)."""
    loss, _, _ = _loss_and_grad(np.asarray(logits, np.float64), labels, weights, bias)
    return loss + _penalty(weights, [adanet_lambda * r + adanet_beta for r in complexities])
