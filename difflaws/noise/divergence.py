"""KL + IS for mask/uniform mixtures without [tokens, V] intermediates.

With e = e^λ, k = s/N and x̂ = softmax(logits) (mask excluded), the
unnormalised marginals q/σ(−λ) are Q_x(v) = e·1[v=x] + π(v) and
Q_x̂(v) = e·x̂(v) + π(v).  They agree on the mask (x̂(m) = 0), so

  KL = q_x·[logaddexp(λ, log k) − logaddexp(λ + log x̂_x, log k)]
       − q_o·Σ_{v∉{x,m}} softplus(λ + log x̂_v − log k)

with q_x = σ(λ) + σ(−λ)k and q_o = σ(−λ)k, and IS only needs x̂ at z.
Each token therefore needs one logsumexp, two gathers and (if k > 0) one
row-sum of log1p(x̂_v/c) with c = k·e^{−λ}.  The autograd function keeps only the logsumexp per
token and recomputes the rest in backward, chunk by chunk, so the only
full-size tensor it allocates is the gradient itself.

Gradient (p = x̂, a_v = λ + log p_v − log k, σ_v = sigmoid(a_v) = p_v/(p_v + c),
R = Σ_{v∉{x,m}} σ_v, c_z = (1 − r)·σ_z for z ≠ m):

  ∂/∂l_j = p_j·(q_x σ_x + q_o R − c_z) − q_o σ_j 1[j∉{x,m}] − q_x σ_x 1[j=x] + c_z 1[j=z].
"""

from __future__ import annotations

import torch

from difflaws.noise.logsig import log_sigmoid
from difflaws.noise.process import MAX_LOG_RATIO

MIN_ROW_ELEMENTS = 1 << 18  # chunks below this many elements cost more in overhead than they save
# Rows with log k − λ below this carry q_o = σ(λ)·k·e^{−λ} < e^{−80}: their uniform term is
# dropped (its size is below 1e-25 nats) so p/c can never overflow.
MIN_LOG_C = -80.0


def _rows_per_chunk(n: int, vocab: int) -> int:
    # 1/16 of the tokens per chunk: every temporary is ≤ 1/16 of the logits
    return max(1, min(n, max(-(-n // 16), MIN_ROW_ELEMENTS // vocab)))


def _max_without(lf, mask_id):
    """Row max over every column but the mask's, without copying the row."""
    parts = [p.amax(1) for p in (lf[:, :mask_id], lf[:, mask_id + 1:]) if p.shape[1]]
    return parts[0] if len(parts) == 1 else torch.maximum(*parts)


def _token_terms(logits, lse, x, z, lam, log_k, mask_id, dtype):
    """Per-token scalars shared by forward and backward (all [n]), computed once per pass."""
    lpx = logits.gather(1, x[:, None]).squeeze(1).to(dtype) - lse
    lpz = logits.gather(1, z[:, None]).squeeze(1).to(dtype) - lse
    la, lb = log_sigmoid(lam), log_sigmoid(-lam)
    q_x = torch.logaddexp(la, lb + log_k).exp()
    q_o = (lb + log_k).exp()
    a_x = lam + lpx - log_k
    log_Q_x_z = torch.where(z == x, torch.logaddexp(lam, log_k), log_k)
    log_Q_hat_z = torch.logaddexp(lam + lpz, log_k)
    raw = log_Q_x_z - log_Q_hat_z
    log_r = raw.clamp(max=MAX_LOG_RATIO)
    on_mask = z == mask_id
    is_term = torch.where(on_mask, 0, torch.expm1(log_r) - log_r)
    # dIS/dlog Q̂ = 1 − r, times dlog Q̂/dl_z's scale σ(a_z); zero where r was capped
    c_z = torch.where(on_mask | (raw > MAX_LOG_RATIO), 0,
                      -torch.expm1(log_r) * torch.sigmoid(lam + lpz - log_k))
    kl_x = q_x * (torch.logaddexp(lam, log_k) - torch.logaddexp(lam + lpx, log_k))
    return kl_x, is_term, q_x, q_o, a_x, c_z


def _uniform_scale(lam, log_k):
    """c = k·e^{−λ} (σ(a_v) = p_v/(p_v + c), softplus(a_v) = log1p(p_v/c)) and the rows using it."""
    log_c = log_k - lam
    uni = log_c > MIN_LOG_C
    return torch.where(uni, log_c, 0).exp(), uni


def _rows(logits, lo, hi, dtype):
    lf = logits[lo:hi]
    return lf if lf.dtype == dtype else lf.to(dtype)


class _MixtureDivergence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, z, x, lam, log_k, mask_id, dtype):
        n, V = logits.shape
        rows = _rows_per_chunk(n, V)
        c_all, uni_all = _uniform_scale(lam, log_k)
        lse_all = torch.empty(n, dtype=dtype, device=logits.device)
        S_all = torch.zeros(n, dtype=dtype, device=logits.device)
        tmp = None
        for lo in range(0, n, rows):
            hi = min(n, lo + rows)
            lf = _rows(logits, lo, hi, dtype)
            if tmp is None or tmp.shape[0] != hi - lo:
                tmp = torch.empty(hi - lo, V, dtype=dtype, device=logits.device)
            # logsumexp by hand: the exponentials are reused for the uniform term below
            mx = _max_without(lf, mask_id)
            torch.sub(lf, mx[:, None], out=tmp)
            tmp[:, mask_id] = float("-inf")  # excluded (and a huge mask logit can't overflow)
            total = tmp.exp_().sum(1)
            lse_all[lo:hi] = mx + total.log()
            if uni_all[lo:hi].any():
                # Σ_{v∉{x,m}} softplus(λ + log p_v − log k) = Σ_{v≠m} log1p(p_v/c) − (v = x)
                tmp.mul_((1 / (total * c_all[lo:hi]))[:, None]).log1p_()
                S_all[lo:hi] = tmp.sum(1) - tmp.gather(1, x[lo:hi, None]).squeeze(1)
        kl_x, is_term, _, q_o, _, _ = _token_terms(logits, lse_all, x, z, lam, log_k, mask_id, dtype)
        ctx.save_for_backward(logits, z, x, lam, log_k, lse_all)
        ctx.mask_id, ctx.dtype = mask_id, dtype
        return kl_x + is_term - torch.where(uni_all, q_o * S_all, 0)

    @staticmethod
    def backward(ctx, grad_out):
        logits, z, x, lam, log_k, lse_all = ctx.saved_tensors
        mask_id, dtype = ctx.mask_id, ctx.dtype
        n, V = logits.shape
        rows = _rows_per_chunk(n, V)
        grad = torch.empty_like(logits)
        g = grad_out.to(dtype)
        _, _, q_x, q_o, a_x, c_z = _token_terms(logits, lse_all, x, z, lam, log_k, mask_id, dtype)
        c_all, uni_all = _uniform_scale(lam, log_k)
        coef_x = g * q_x * torch.sigmoid(a_x)
        gq_all = torch.where(uni_all, g * q_o, 0)
        base = coef_x - g * c_z
        same = grad.dtype == dtype
        sig = None
        for lo in range(0, n, rows):
            hi = min(n, lo + rows)
            lf = _rows(logits, lo, hi, dtype)
            xc = x[lo:hi, None]
            G = grad[lo:hi] if same else torch.empty(hi - lo, V, dtype=dtype, device=grad.device)
            p = torch.sub(lf, lse_all[lo:hi, None], out=G)
            p[:, mask_id] = float("-inf")
            p.exp_()  # x̂, 0 on the mask column
            if uni_all[lo:hi].any():
                if sig is None or sig.shape[0] != hi - lo:
                    sig = torch.empty(hi - lo, V, dtype=dtype, device=grad.device)
                gq = gq_all[lo:hi]
                torch.add(p, c_all[lo:hi, None], out=sig)
                torch.div(p, sig, out=sig)  # σ(a_v) = p_v/(p_v + c); 0 on the mask column
                s_x = sig.gather(1, xc).squeeze(1)
                R = sig.sum(1) - s_x
                G.mul_((base[lo:hi] + gq * R)[:, None])
                G.addcmul_(sig, -gq[:, None])
                # the j = x entry was subtracted above but belongs to the q_x term instead
                G.scatter_add_(1, xc, (gq * s_x)[:, None])
            else:
                G.mul_(base[lo:hi, None])
            G.scatter_add_(1, xc, -coef_x[lo:hi, None])
            G.scatter_add_(1, z[lo:hi, None], (g * c_z)[lo:hi, None])
            G[:, mask_id] = 0
            if not same:
                grad[lo:hi] = G
        return grad, None, None, None, None, None, None


def mixture_divergence(logits, z, x, lam, log_k, mask_id: int, dtype=torch.float32):
    """KL + IS per token for flat inputs: logits [n, V], z, x [n] long, λ, log k [n]."""
    return _MixtureDivergence.apply(logits.contiguous(), z, x, lam.to(dtype), log_k.to(dtype),
                                    mask_id, dtype)
