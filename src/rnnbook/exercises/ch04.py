"""Checkers for chapter 4, Vanishing and exploding gradients."""
from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from .. import gradients as _gradients
from ._core import Case, Score, compare_arrays, fresh_seed, run_checks


def _compare_scalar(what: str, rtol: float = 1e-6):
    def compare(got, expected):
        if got is None:
            return f"the {what} is None: did the function forget to `return` it?"
        try:
            arr = np.asarray(got.detach().cpu().numpy() if hasattr(got, "detach") else got)
            if np.iscomplexobj(arr):
                if np.any(arr.imag != 0):
                    return f"the {what} should be a real number, got the complex value {got!r}"
                arr = arr.real
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            return f"the {what} could not be read as a number ({exc})"
        if arr.size != 1:
            return f"the {what} should be one number, got an array of shape {arr.shape}"
        value = float(arr.reshape(()))
        if not np.isclose(value, expected, rtol=rtol, atol=1e-12):
            return f"got {value!r}, expected {expected!r}"
        return None
    return compare


def check_spectral_radius(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(W) -> float`, the largest absolute value of W's (possibly complex) eigenvalues."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    mats = [(np.diag([0.5, -3.0, 1.0]), "a diagonal matrix with a negative entry"),
            (np.array([[0.0, -2.0], [2.0, 0.0]]), "a rotation-and-scaling matrix (complex eigenvalues)"),
            (np.array([[0.5, 10.0], [0.0, 0.5]]), "a triangular matrix with a large off-diagonal entry")]
    for _ in range(3):
        n = int(rng.integers(2, 9))
        mats.append((rng.normal(size=(n, n)), f"a random {n}x{n} Gaussian matrix"))
    cases = [Case((W.copy(),), _gradients.spectral_radius(W), d) for W, d in mats]
    return run_checks("spectral_radius", func, cases, _compare_scalar("spectral radius"), points, seed)


def check_jacobian_norm(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(W_hh, preactivations) -> float`, the spectral norm of dh_t/dh_0 of a tanh RNN."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    H = 3
    W = rng.normal(size=(H, H))
    cases.append(Case((W, np.zeros((1, H))), None, "one step with a = 0 (so tanh' = 1): the answer is ||W_hh||_2"))
    for _ in range(4):
        H, t = int(rng.integers(2, 7)), int(rng.integers(2, 9))
        W = rng.normal(size=(H, H)) * rng.uniform(0.5, 1.5) / np.sqrt(H)
        cases.append(Case((W, rng.normal(size=(t, H))), None, f"H={H}, t={t} random pre-activations"))
    H = 4
    cases.append(Case((rng.normal(size=(H, H)), rng.normal(size=(5, H)) * 4),
                      None, "large pre-activations (saturated tanh, a tiny norm)"))
    for case in cases:
        W, pre = case.args
        case.expected = float(np.linalg.norm(_gradients.jacobians_from_preactivations(W, pre, "tanh")[-1], 2))
        case.args = (W.copy(), pre.copy())
    return run_checks("jacobian_norm", func, cases, _compare_scalar("Jacobian norm"), points, seed)


def check_clip_by_global_norm(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(grads: dict of arrays, max_norm) -> dict`, rescaled to global norm <= max_norm."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    specs = [({"w": np.array([3.0, 4.0])}, 1.0, "one gradient [3, 4] (norm 5) and max_norm=1"),
             ({"a": np.array([0.3]), "b": np.array([[0.4]])}, 1.0, "norm 0.5, below max_norm=1: unchanged")]
    for _ in range(3):
        grads = {k: rng.normal(size=tuple(rng.integers(1, 5, size=int(rng.integers(1, 3)))))
                 for k in ("W_xh", "W_hh", "b_h")}
        specs.append((grads, float(rng.uniform(0.5, 2.0)), "three random gradients, clipped"))
    specs.append(({"W_hh": np.full((2, 2), 10.0), "b_h": np.full(2, 0.01)}, 1.0,
                  "one large and one tiny gradient: the tiny one shrinks too"))
    cases = []
    for grads, max_norm, description in specs:
        norm = np.sqrt(sum(float((g ** 2).sum()) for g in grads.values()))
        factor = max_norm / norm if norm > max_norm else 1.0
        expected = {k: g * factor for k, g in grads.items()}
        cases.append(Case(({k: g.copy() for k, g in grads.items()}, max_norm), expected, description))

    def compare(got, expected):
        if not isinstance(got, Mapping):
            return f"expected a dict of arrays, got {type(got).__name__}"
        if set(got) != set(expected):
            return f"the result has keys {sorted(got)}, expected {sorted(expected)}"
        for key in expected:
            problem = compare_arrays(got[key], expected[key], what=f"clipped gradient {key!r}", rtol=1e-6)
            if problem:
                return problem
        return None

    return run_checks("clip_by_global_norm", func, cases, compare, points, seed)


def check_orthogonal_from(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(A) -> Q`, the orthogonal factor of A = QR with diag(R) > 0."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    mats = [(np.diag([2.0, 3.0]), "a positive diagonal matrix (Q is the identity)"),
            (np.diag([-2.0, 3.0, -1.0]), "a diagonal matrix with negative entries")]
    for _ in range(4):
        n = int(rng.integers(2, 8))
        mats.append((rng.normal(size=(n, n)), f"a random {n}x{n} Gaussian matrix"))
    cases = [Case((A.copy(),), _gradients.orthogonal_from(A), d) for A, d in mats]

    def compare(got, expected):
        return compare_arrays(got, expected, what="orthogonal matrix Q", rtol=1e-6, atol=1e-9)

    return run_checks("orthogonal_from", func, cases, compare, points, seed)


# --- issue 19: Adam with clipping by hand, the bound's guarantee, the edge of vanishing

def _adam_reference(theta, grads, lr, beta1, beta2, eps, max_norm):
    """The checker's own Adam (torch.optim.Adam's arithmetic), after clipping each gradient."""
    theta, m, v, out = theta.astype(np.float64).copy(), np.zeros_like(theta), np.zeros_like(theta), []
    for t, g in enumerate(grads, start=1):
        norm = float(np.sqrt((g ** 2).sum()))
        if max_norm is not None and norm > max_norm:
            g = g * (max_norm / norm)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        denom = np.sqrt(v) / np.sqrt(1 - beta2 ** t) + eps
        theta = theta - (lr / (1 - beta1 ** t)) * m / denom
        out.append(theta.copy())
    return np.array(out).reshape((len(grads),) + theta.shape)


def check_adam_run(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(theta, grads, lr, beta1, beta2, eps, max_norm) -> (K, n)`: K clipped Adam steps."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    specs = [(np.zeros(2), np.array([[3.0, 4.0], [3.0, 4.0]]), 0.1, 0.9, 0.999, 1e-8, None,
              "two equal gradients [3, 4] from zero, no clipping: each step moves each weight by lr")]
    for _ in range(3):
        n, K = int(rng.integers(1, 7)), int(rng.integers(1, 12))
        scale = 10.0 ** rng.uniform(-3, 1, size=n)  # weights whose gradients differ in scale
        specs.append((rng.normal(size=n), rng.normal(size=(K, n)) * scale, float(rng.uniform(1e-3, 0.1)),
                      float(rng.uniform(0.5, 0.95)), float(rng.uniform(0.9, 0.9999)), 1e-8, None,
                      f"n={n}, {K} steps, gradient scales over four decades"))
    for _ in range(2):
        n, K = int(rng.integers(2, 7)), int(rng.integers(3, 12))
        grads = rng.normal(size=(K, n)) * rng.choice([0.1, 5.0], size=(K, 1))  # some steps clipped
        specs.append((rng.normal(size=n), grads, float(rng.uniform(1e-3, 0.1)), 0.9, 0.999,
                      float(rng.uniform(1e-8, 1e-2)), float(rng.uniform(0.5, 2.0)),
                      f"n={n}, {K} steps, clipped at a global norm, eps not negligible"))
    cases = []
    for theta, grads, lr, b1, b2, eps, max_norm, description in specs:
        expected = _adam_reference(theta, grads, lr, b1, b2, eps, max_norm)
        cases.append(Case((theta.copy(), grads.copy(), lr, b1, b2, eps, max_norm), expected, description))

    def compare(got, expected):
        return compare_arrays(got, expected, what="parameters after each step", rtol=1e-7, atol=1e-10)

    return run_checks("adam_run", func, cases, compare, points, seed,
                      forbid=("torch.optim", "torch.nn.utils.clip_grad"))


def check_guaranteed_steps(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(W_hh, gamma_g, eps) -> int or inf`: the steps after which the bound guarantees eps."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    specs = [(np.diag([0.5, 0.25]), 1.0, 0.01, "diag(0.5, 0.25), tanh, eps = 0.01"),
             (1.2 * np.eye(3), 1.0, 0.1, "1.2 times the identity, tanh: the bound guarantees nothing")]
    for _ in range(3):
        H = int(rng.integers(2, 9))
        W = rng.normal(size=(H, H)) / np.sqrt(H) * rng.uniform(0.2, 1.0)
        gamma = float(rng.choice([1.0, 0.25]))
        specs.append((W, gamma, float(10 ** rng.uniform(-12, -1)), f"a random {H}x{H} matrix, gamma_g={gamma:g}"))
    H = int(rng.integers(2, 6))
    W = np.triu(rng.normal(size=(H, H))) * 3.0
    np.fill_diagonal(W, 0.3)  # spectral radius 0.3, spectral norm above 1
    specs.append((W, 1.0, 1e-3, "spectral radius 0.3 but a large spectral norm"))
    specs.append((rng.normal(size=(3, 3)) * 0.1, 1.0, 2.0, "eps above 1: nothing to wait for"))
    cases = []
    for W, gamma, eps, description in specs:
        q = float(np.linalg.norm(W, 2)) * gamma
        if eps >= 1:
            expected = 0.0
        elif q >= 1:
            expected = float("inf")
        else:
            expected = float(np.ceil(np.log(eps) / np.log(q) - 1e-12))
        cases.append(Case((W.copy(), gamma, eps), expected, description))

    def compare(got, expected):
        try:
            value = float(got.item() if hasattr(got, "item") else got)
        except (TypeError, ValueError):
            return f"expected a number (or math.inf), got {type(got).__name__}"
        if value != expected:
            return f"got {got!r:.60}, expected {expected!r}"
        return None

    return run_checks("guaranteed_steps", func, cases, compare, points, seed)


EDGE_RADII = tuple(1.0 + 0.25 * k for k in range(9))  # 1, 1.25, ..., 3: where the experiment looks


def _edge_rates(input_scale: float, seed: int, H: int = 32, T: int = 100, trials: int = 8,
                radii: tuple[float, ...] = EDGE_RADII) -> list[float]:
    """The stated experiment: per radius, the mean of (1/T) log ||dh_T/dh_0||_2 over `trials`
    random tanh networks, drawn from one generator in the order the exercise lists."""
    rng = np.random.default_rng(seed)
    out = []
    for rho in radii:
        rates = []
        for _ in range(trials):
            G = rng.standard_normal((H, H))
            W = G * (rho / np.abs(np.linalg.eigvals(G)).max())
            h, J, log_norm = np.zeros(H), np.eye(H), 0.0
            for _t in range(T):
                h = np.tanh(W @ h + input_scale * rng.standard_normal(H))
                J = (1 - h ** 2)[:, None] * (W @ J)
                size = np.abs(J).max()  # renormalised, so that long runs neither under- nor overflow
                J, log_norm = J / size, log_norm + np.log(size)
            rates.append((log_norm + np.log(np.linalg.norm(J, 2))) / T)
        out.append(float(np.mean(rates)))
    return out


def check_edge_of_vanishing(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(input_scale, seed) -> (radius, rates)`, the experiment's smallest radius at which
    the Jacobian of a driven tanh network stops vanishing, by repeating it with the same seed."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for scale in (rng.uniform(0.2, 0.5), rng.uniform(0.6, 1.0)):
        run_seed, check_seed = (int(s) for s in rng.integers(0, 2**31, size=2))
        cases.append(Case((float(scale), run_seed), (float(scale), run_seed, check_seed),
                          f"input scale {scale:.3f}, seed {run_seed}"))

    # A fresh set of networks would move a rate by about 0.02 per step (measured: the sd of the
    # difference between 8 and 16 networks is 0.017), and the true rate at the edge is near 0 by
    # definition, so no tolerance both passes every correct answer and fails a fudged one; the
    # experiment is therefore repeated draw for draw, and new networks are only shown.
    def compare(got, expected):
        scale, run_seed, check_seed = expected
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return f"expected a pair (radius, rates), got {type(got).__name__}"
        try:
            radius, rates = float(got[0]), [float(r) for r in got[1]]
        except (TypeError, ValueError):
            return "the radius must be a number and the rates a list of numbers"
        if len(rates) != len(EDGE_RADII):
            return f"expected {len(EDGE_RADII)} rates (radii 1, 1.25, ..., 3), got {len(rates)}"
        on_grid = [k for k, r in enumerate(EDGE_RADII) if abs(r - radius) < 1e-9]
        if not on_grid:
            return f"the radius {radius!r} is not one of 1, 1.25, ..., 3"
        ours = _edge_rates(scale, run_seed)
        for rho, mine, theirs in zip(EDGE_RADII, rates, ours):
            if not abs(mine - theirs) <= 1e-6 * max(1.0, abs(theirs)):
                return (f"at radius {rho:g} you measured a rate of {mine:+.6f} per step; the "
                        f"experiment as stated, with this seed, gives {theirs:+.6f} (draw in the "
                        "order listed: per radius, per network, G first, then the T inputs)")
        k = on_grid[0]
        if rates[k] < 0 or any(r >= 0 for r in rates[:k]):
            return f"your own rates say that {radius:g} is not the smallest radius with a rate >= 0"
        new = _edge_rates(scale, check_seed, trials=16, radii=(radius,))[0]
        print(f"  input scale {scale:.3f}: at your radius {radius:g}, 16 new networks give "
              f"{new:+.3f} per step against your {rates[k]:+.3f} (not graded: how much do 8 vary?)")
        return None

    return run_checks("edge_of_vanishing", func, cases, compare, points, seed)
