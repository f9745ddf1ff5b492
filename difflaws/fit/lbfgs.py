"""A small jitted L-BFGS with a strong-Wolfe line search.

Written for many tiny problems solved side by side (multi-start grids,
bootstrap replicates): no allocation in the inner loop beyond a few
length-n vectors, no Python in the loop, so ``prange`` can run thousands of
fits in parallel.  The objective is ``loss_surface.objective(x, grad_out, data, weights,
hyper) -> f``, called by name: numba cannot cache a function that receives
another jitted function as a value, and an uncached compile costs ~15 s per
process.  So the optimiser is specialised to that one objective, which holds
every loss surface (Chinchilla's and the data-constrained one).  Numba's
cache checks only the timestamp of the file holding the cached function, so
after editing this file or ``loss_surface.py`` delete
``difflaws/fit/__pycache__/*.nbi`` and ``*.nbc`` (a fresh checkout has none).

A non-finite objective value is treated as +inf, so the line search backs
away from overflow instead of failing.

Status codes: 0 gradient small, 1 relative decrease small, 2 line search
could not make progress, 3 iteration limit, 4 iterate left the finite range.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from difflaws.fit.loss_surface import objective

C1 = 1e-4
C2 = 0.9
MAX_LS = 40
HUGE = 1e6


@nb.njit(cache=True)
def _dot(a, b):
    s = 0.0
    for i in range(a.size):
        s += a[i] * b[i]
    return s


@nb.njit(cache=True)
def _eval(x, d, t, xt, gt, data, w, hyper):
    for i in range(x.size):
        xt[i] = x[i] + t * d[i]
    f = objective(xt, gt, data, w, hyper)
    if not np.isfinite(f):
        return np.inf, 0.0
    return f, _dot(gt, d)


@nb.njit(cache=True)
def _interpolate(lo, hi, flo, fhi, dlo, dhi):
    """Cubic minimiser of the bracket, kept inside its middle 80 %; else bisection."""
    width = hi - lo
    if np.isfinite(fhi) and np.isfinite(dhi):
        d1 = dlo + dhi - 3.0 * (flo - fhi) / (lo - hi)
        disc = d1 * d1 - dlo * dhi
        if disc >= 0.0:
            d2 = np.sqrt(disc)
            if hi < lo:
                d2 = -d2
            denom = dhi - dlo + 2.0 * d2
            if denom != 0.0:
                t = hi - (hi - lo) * (dhi + d2 - d1) / denom
                a, b = min(lo, hi), max(lo, hi)
                margin = 0.1 * abs(width)
                if a + margin <= t <= b - margin:
                    return t
    return lo + 0.5 * width


@nb.njit(cache=True)
def _line_search(x, d, f0, g0d, t, xt, gt, data, w, hyper):
    """Strong-Wolfe step (Nocedal & Wright, alg. 3.5/3.6).  Returns (t, f, ok);
    on success ``xt``/``gt`` hold the accepted point and its gradient."""
    t_prev, f_prev, d_prev = 0.0, f0, g0d
    lo = hi = flo = fhi = dlo = dhi = 0.0
    bracketed = False
    for i in range(MAX_LS):
        ft, dt = _eval(x, d, t, xt, gt, data, w, hyper)
        if ft > f0 + C1 * t * g0d or (i > 0 and ft >= f_prev):
            lo, hi, flo, fhi, dlo, dhi = t_prev, t, f_prev, ft, d_prev, dt
            bracketed = True
            break
        if abs(dt) <= -C2 * g0d:
            return t, ft, True
        if dt >= 0.0:
            lo, hi, flo, fhi, dlo, dhi = t, t_prev, ft, f_prev, dt, d_prev
            bracketed = True
            break
        t_prev, f_prev, d_prev = t, ft, dt
        t = t * 2.0
    if not bracketed:
        return t_prev, f_prev, False
    for j in range(MAX_LS):
        t = _interpolate(lo, hi, flo, fhi, dlo, dhi)
        ft, dt = _eval(x, d, t, xt, gt, data, w, hyper)
        if ft > f0 + C1 * t * g0d or ft >= flo:
            hi, fhi, dhi = t, ft, dt
        else:
            if abs(dt) <= -C2 * g0d:
                return t, ft, True
            if dt * (hi - lo) >= 0.0:
                hi, fhi, dhi = lo, flo, dlo
            lo, flo, dlo = t, ft, dt
        if abs(hi - lo) <= 1e-15 * max(1.0, abs(lo)):
            break
    # No Wolfe point, but a sufficient decrease at ``lo`` is still progress.
    if lo > 0.0 and flo < f0:
        ft, dt = _eval(x, d, lo, xt, gt, data, w, hyper)
        return lo, ft, True
    return 0.0, f0, False


@nb.njit(cache=True)
def minimize(x0, data, w, hyper, max_iter, gtol, ftol, m=10):
    """Minimise the objective from ``x0``.  Returns (x, f, iterations, status)."""
    n = x0.size
    x = x0.copy()
    g = np.empty(n)
    xt = np.empty(n)
    gt = np.empty(n)
    d = np.empty(n)
    q = np.empty(n)
    yv = np.empty(n)
    S = np.zeros((m, n))
    Y = np.zeros((m, n))
    rho = np.zeros(m)
    alpha = np.zeros(m)
    f = objective(x, g, data, w, hyper)
    if not np.isfinite(f):
        return x, np.inf, 0, 4
    k = 0  # stored pairs
    head = 0  # index of the newest pair
    retried = False
    for it in range(max_iter):
        gmax = 0.0
        for i in range(n):
            gmax = max(gmax, abs(g[i]))
        if gmax <= gtol:
            return x, f, it, 0
        # two-loop recursion
        for i in range(n):
            q[i] = -g[i]
        for j in range(k):
            idx = (head - j) % m
            alpha[idx] = rho[idx] * _dot(S[idx], q)
            for i in range(n):
                q[i] -= alpha[idx] * Y[idx, i]
        gamma = 1.0
        if k > 0:
            gamma = _dot(S[head], Y[head]) / _dot(Y[head], Y[head])
        for i in range(n):
            q[i] *= gamma
        for j in range(k - 1, -1, -1):
            idx = (head - j) % m
            beta = rho[idx] * _dot(Y[idx], q)
            for i in range(n):
                q[i] += (alpha[idx] - beta) * S[idx, i]
        for i in range(n):
            d[i] = q[i]
        gd = _dot(g, d)
        if not gd < 0.0:  # not a descent direction: restart from steepest descent
            k = 0
            for i in range(n):
                d[i] = -g[i]
            gd = _dot(g, d)
        t0 = 1.0 if k > 0 else min(1.0, 1.0 / gmax)
        t, fn, ok = _line_search(x, d, f, gd, t0, xt, gt, data, w, hyper)
        if not ok:
            if k > 0 and not retried:  # drop curvature memory once, try steepest descent
                k = 0
                retried = True
                continue
            return x, f, it, 2
        retried = False
        sy = 0.0
        for i in range(n):
            q[i] = xt[i] - x[i]
            yv[i] = gt[i] - g[i]
            sy += q[i] * yv[i]
        if sy > 1e-12 * np.sqrt(_dot(q, q) * _dot(yv, yv)):
            head = (head + 1) % m
            for i in range(n):
                S[head, i] = q[i]
                Y[head, i] = yv[i]
            rho[head] = 1.0 / sy
            k = min(k + 1, m)
        # else skip the pair: it would break positive definiteness
        f_old = f
        for i in range(n):
            x[i] = xt[i]
            g[i] = gt[i]
        f = fn
        for i in range(n):
            if abs(x[i]) > HUGE:
                return x, f, it + 1, 4
        if f_old - f <= ftol * max(abs(f_old), abs(f), 1.0):
            return x, f, it + 1, 1
    return x, f, max_iter, 3
