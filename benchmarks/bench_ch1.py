"""Chapter 1 speed: our HMM and Kalman filter against hmmlearn and statsmodels, same run.

    .venv/bin/python benchmarks/bench_ch1.py [--T 100000] [--repeat 15]

Prints the best of `repeat` wall-clock timings of each call (the minimum is the least disturbed
by other work on the machine) and the ratio ours / reference. Not a test: timings depend on the
machine and its load.
"""
from __future__ import annotations

import argparse
import timeit

import numpy as np


def best_ms(fn, repeat: int) -> float:
    fn()                                           # warm-up (imports, caches)
    return 1e3 * min(timeit.repeat(fn, number=1, repeat=repeat))


def python_loop_viterbi(hmm, obs):
    """The textbook per-step loop, for scale."""
    logA, logB = hmm.log_transmat, hmm.log_emissionprob
    delta = hmm.log_startprob + logB[:, obs[0]]
    psi = np.empty((len(obs), hmm.n_states), dtype=np.int64)
    for t in range(1, len(obs)):
        scores = delta[:, None] + logA
        psi[t] = scores.argmax(0)
        delta = scores.max(0) + logB[:, obs[t]]
    path = [int(delta.argmax())]
    for t in range(len(obs) - 1, 0, -1):
        path.append(int(psi[t, path[-1]]))
    return np.array(path[::-1]), float(delta.max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--T", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    import statsmodels.api as sm
    from hmmlearn.hmm import CategoricalHMM

    from rnnbook.datasets import load_nile
    from rnnbook.hmm import casino
    from rnnbook.kalman import local_level

    hmm = casino()
    _, obs = hmm.sample(args.T, seed=0)
    ref = CategoricalHMM(2, init_params="")
    ref.n_features = 6
    ref.startprob_, ref.transmat_, ref.emissionprob_ = hmm.startprob, hmm.transmat, hmm.emissionprob
    X = obs[:, None]
    assert np.isclose(hmm.log_likelihood(obs), ref.score(X), rtol=1e-8)
    assert np.array_equal(hmm.viterbi(obs)[0], ref.decode(X)[1])

    nile = load_nile().values
    params = (15099.0, 1469.1)
    ssm = local_level(*params, m0=0.0, P0=1e7)
    mod = sm.tsa.UnobservedComponents(nile, "local level", loglikelihood_burn=0)
    mod.ssm.initialize_known(np.array([0.0]), np.array([[1e7]]))
    assert np.isclose(ssm.filter(nile).loglik, mod.loglike(params), rtol=1e-8)

    rows = [
        (f"casino T={args.T:,}: log-likelihood", lambda: hmm.log_likelihood(obs), "hmmlearn score",
         lambda: ref.score(X)),
        (f"casino T={args.T:,}: Viterbi", lambda: hmm.viterbi(obs), "hmmlearn decode",
         lambda: ref.decode(X)),
        (f"casino T={args.T:,}: Viterbi, scan", lambda: hmm.viterbi_scan(obs), "hmmlearn decode",
         lambda: ref.decode(X)),
        (f"casino T={args.T:,}: posteriors", lambda: hmm.posterior(obs), "hmmlearn predict_proba",
         lambda: ref.predict_proba(X)),
        ("Nile T=100: Kalman filter", lambda: ssm.filter(nile), "statsmodels filter",
         lambda: mod.filter(params)),
        ("Nile T=100: log-likelihood", lambda: ssm.filter(nile).loglik, "statsmodels loglike",
         lambda: mod.loglike(params)),
    ]
    print(f"{'task':<36} {'ours ms':>9} {'reference':<24} {'ref ms':>9} {'ratio':>6}")
    for name, ours, ref_name, theirs in rows:
        a, b = best_ms(ours, args.repeat), best_ms(theirs, args.repeat)
        print(f"{name:<36} {a:9.3f} {ref_name:<24} {b:9.3f} {a / b:6.2f}")
    loop = best_ms(lambda: python_loop_viterbi(hmm, obs), 3)
    print(f"{'(per-step Python loop Viterbi)':<36} {loop:9.3f}")


if __name__ == "__main__":
    main()
