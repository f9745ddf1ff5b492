"""Benchmark: jitted Chinchilla Approach 3 vs a straightforward scipy L-BFGS-B loop.

Same data (Epoch's chinchilla_epoch.csv, 5 highest losses dropped), same
objective (Huber δ=1e-3 on log-loss, summed, divided by δ), same 4,500
Hoffmann starts and the same 4,000 bootstrap weight vectors.  The scipy
baseline is timed on a stated subset (every k-th start, the first R
replicates) and extrapolated linearly unless --full is given.

    python bench/fit.py [--data PATH] [--full] [--baseline-starts 150] [--baseline-replicates 100]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from difflaws.fit import chinchilla as ch
from difflaws.fit.resample import resample_weights
from difflaws.fit.table import load_points

DELTA = 1e-3


def objective_numpy(x, lnN, lnD, lnL, w):
    """The same scaled Huber objective and gradient, in plain numpy."""
    a, b, e, al, be = x
    U = np.stack([a - al * lnN, b - be * lnD, np.full_like(lnN, e)])
    m = U.max(axis=0)
    P = np.exp(U - m)
    s = P.sum(axis=0)
    r = m + np.log(s) - lnL
    quad = np.abs(r) <= DELTA
    f = np.sum(w * np.where(quad, 0.5 * r * r / DELTA, np.abs(r) - 0.5 * DELTA))
    dr = w * np.where(quad, r / DELTA, np.sign(r)) / s
    g = np.array([np.sum(dr * P[0]), np.sum(dr * P[1]), np.sum(dr * P[2]),
                  -np.sum(dr * P[0] * lnN), -np.sum(dr * P[1] * lnD)])
    return f, g


# The tolerances and iteration caps ours uses (chinchilla.multistart / bootstrap);
# scipy's ftol and gtol tests are the same relative-decrease and max|g| rules.
SCREEN = {"ftol": 1e-9, "gtol": 1e-5, "maxiter": 300}
POLISH = {"ftol": 1e-15, "gtol": 1e-9, "maxiter": 5000}
REFIT = {"ftol": 1e-13, "gtol": 1e-8, "maxiter": 2000}


def scipy_fit(x0, args, options):
    res = minimize(objective_numpy, x0, args=args, jac=True, method="L-BFGS-B", options=options)
    return res.x, res.fun


def scipy_multistart(starts, args):
    best_x, best_f = None, np.inf
    for x0 in starts:
        x, f = scipy_fit(x0, args, SCREEN)
        if np.isfinite(f) and f < best_f:
            best_x, best_f = x, f
    return scipy_fit(best_x, args, POLISH)  # polish the winner, as ours does


def main():
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "chinchilla_epoch.csv"
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(default))
    ap.add_argument("--replicates", type=int, default=4000)
    ap.add_argument("--baseline-starts", type=int, default=150,
                    help="scipy starts to time (every k-th of the 4,500)")
    ap.add_argument("--baseline-replicates", type=int, default=100)
    ap.add_argument("--full", action="store_true", help="run the whole scipy baseline")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    table = load_points(args.data).drop_highest(5)
    data = ch.make_data(table["params"], table["tokens"], table["loss"])
    lnN, lnD, lnL = data
    starts = ch.hoffmann_grid()
    weights = resample_weights(np.arange(len(table)), args.replicates,
                               np.random.default_rng(args.seed))
    print(f"data: {len(table)} points; {len(starts)} starts; {args.replicates} bootstrap "
          f"replicates; numba threads: {__import__('numba').get_num_threads()}")

    t = time.perf_counter()
    ch.multistart(data, starts[:2], DELTA)  # compile (or load the cache) outside the timing
    print(f"numba compile/cache load: {time.perf_counter() - t:.2f} s (not in the timing)")

    t = time.perf_counter()
    ms = ch.multistart(data, starts, DELTA)
    t_ms = time.perf_counter() - t
    boot_starts = ms["polished_x"][ch.distinct(ms["polished_x"], ms["polished_f"], 3)]
    t = time.perf_counter()
    Xb, Fb, _ = ch.bootstrap(data, weights, boot_starts, DELTA)
    t_boot = time.perf_counter() - t
    ours = t_ms + t_boot
    print(f"numba : multistart {t_ms:7.2f} s   bootstrap {t_boot:7.2f} s   total {ours:7.2f} s")

    # scipy baseline on the stated subset
    if args.full:
        k_starts, k_reps = len(starts), args.replicates
    else:
        k_starts = min(args.baseline_starts, len(starts))
        k_reps = min(args.baseline_replicates, args.replicates)
    sub = starts[:: max(1, len(starts) // k_starts)][:k_starts]
    t = time.perf_counter()
    xs, fs = scipy_multistart(sub, (lnN, lnD, lnL, np.ones(len(table))))
    t_sms = time.perf_counter() - t
    t = time.perf_counter()
    Xs = []
    for r in range(k_reps):
        fits = [scipy_fit(x0, (lnN, lnD, lnL, weights[r]), REFIT) for x0 in boot_starts]
        Xs.append(min(fits, key=lambda xf: xf[1])[0])
    t_sboot = time.perf_counter() - t
    scale_ms = len(starts) / len(sub)
    scale_boot = args.replicates / k_reps
    base = t_sms * scale_ms + t_sboot * scale_boot
    note = "measured in full" if args.full else (
        f"EXTRAPOLATED linearly from {len(sub)} starts (x{scale_ms:.1f}) and "
        f"{k_reps} replicates (x{scale_boot:.1f})")
    print(f"scipy : multistart {t_sms * scale_ms:7.2f} s   bootstrap {t_sboot * scale_boot:7.2f} s"
          f"   total {base:7.2f} s   ({note})")
    print(f"speed-up: {base / ours:.1f}x  (target >= 20x)")

    p_ours, p_scipy = ch.to_params(ms["x"]), ch.to_params(xs)
    rel = {k: abs(p_ours[k] - p_scipy[k]) / abs(p_scipy[k]) for k in p_ours}
    print("optimum      " + "  ".join(f"{k}={v:.7g}" for k, v in p_ours.items())
          + f"  huber_sum={ms['f'] * DELTA:.10f}")
    print("scipy        " + "  ".join(f"{k}={v:.7g}" for k, v in p_scipy.items())
          + f"  huber_sum={fs * DELTA:.10f}")
    print(f"max relative difference of the optimum: {max(rel.values()):.2e} (target < 1e-4)")
    pb_ours = np.array([list(ch.to_params(x).values()) for x in Xb[:k_reps]])
    pb_scipy = np.array([list(ch.to_params(x).values()) for x in Xs])
    brel = np.max(np.abs(pb_ours - pb_scipy) / np.abs(pb_scipy), axis=1)
    print(f"bootstrap replicates compared: {k_reps}; relative difference median "
          f"{np.median(brel):.1e}, 99th pct {np.percentile(brel, 99):.1e}, max {brel.max():.1e}")
    se = dict(zip(p_ours, np.std([list(ch.to_params(x).values()) for x in Xb], axis=0)))
    print("bootstrap SE " + "  ".join(f"{k}={v:.4g}" for k, v in se.items()))


if __name__ == "__main__":
    main()
