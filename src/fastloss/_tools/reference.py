"""Pure-NumPy float64 references of every fastloss function and gradient.

Written to be obviously right, not fast: each follows the formula stated in
the documentation (PyTorch's), with the class axis moved last and rows
flattened. Gradients are derived by the chain rule through log_softmax
(``dL/dx = dL/dlogp - softmax * sum(dL/dlogp)``), a different route from the
kernels' closed forms. Nothing here imports the kernels. The tests compare
every function with these, and so does ``python -m fastloss check`` on an
installed build (which is why they ship in the package).
"""

import numpy as np

IGNORE = -100

# Tolerances of a fastloss result against these references. float32 results
# are computed in float64 and rounded once or twice; float64 results differ
# from the references by reassociation only.
TOLERANCES = {
    np.dtype(np.float32): dict(rtol=2e-6, atol=1e-6),
    np.dtype(np.float64): dict(rtol=1e-11, atol=1e-12),
}


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def _reduce(per_element, reduction, denominator):
    if reduction == "none":
        return per_element
    total = per_element.sum()
    if reduction == "sum":
        return total
    with np.errstate(divide="ignore", invalid="ignore"):
        return total / np.float64(denominator)


# ----------------------------------------------------------- softmax family

def _shifted_log_sum(x, axis):
    """(shift, log(sum(exp(x - shift)))) along axis, keepdims: the shift is the
    max where it is finite, else 0."""
    m = np.max(x, axis=axis, keepdims=True) if x.size else np.zeros((1,) * x.ndim)
    shift = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return shift, np.log(np.sum(np.exp(x - shift), axis=axis, keepdims=True))


def logsumexp(x, axis=-1, keepdims=False):
    """log(sum(exp(x))): shifted by a finite max; +inf rows give +inf,
    all -inf rows -inf, NaN rows NaN."""
    x = _f64(x)
    shift, log_s = _shifted_log_sum(x, axis)
    out = log_s + shift
    return out if keepdims else np.squeeze(out, axis=axis)


def log_softmax(x, axis=-1):
    """x - logsumexp(x), as (x - shift) - log(sum(exp(x - shift))) so that a
    large shift does not absorb the log-sum (1e30 + log 2 == 1e30); rows whose
    logsumexp is not finite are NaN."""
    x = _f64(x)
    shift, log_s = _shifted_log_sum(x, axis)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(log_s + shift), (x - shift) - log_s, np.nan)


def softmax(x, axis=-1):
    """exp(log_softmax(x))."""
    return np.exp(log_softmax(x, axis=axis))


def softmax_backward(g, y, axis=-1):
    """y (g - sum(g y)): the vector-Jacobian product of softmax at its
    output y (the Jacobian is diag(y) - y y^T)."""
    g, y = _f64(g), _f64(y)
    return y * (g - np.sum(g * y, axis=axis, keepdims=True))


def log_softmax_backward(g, y, axis=-1):
    """g - exp(y) sum(g): the vector-Jacobian product of log_softmax at its
    output y (the Jacobian is I - 1 softmax^T, softmax = exp(y))."""
    g, y = _f64(g), _f64(y)
    return g - np.exp(y) * np.sum(g, axis=axis, keepdims=True)


def weighted_logsumexp(x, b, axis=-1, keepdims=False, return_sign=False):
    """log |sum b exp(x)| and the sum's sign, as scipy.special.logsumexp:
    x and b broadcast together, elements of weight 0 taken as x = -inf (they
    add nothing), shifted by the max of the others where it is finite;
    without return_sign a negative sum is NaN."""
    x, b = np.broadcast_arrays(_f64(x), _f64(b))
    x = np.where(b == 0, -np.inf, x)
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    shift = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        s = np.sum(b * np.exp(x - shift), axis=axis, keepdims=True)
        value = np.log(np.abs(s)) + shift
    sign = np.sign(s)
    if not keepdims:
        value, sign = np.squeeze(value, axis=axis), np.squeeze(sign, axis=axis)
    if return_sign:
        return value, sign
    return np.where(sign < 0, np.nan, value)


# --------------------------------------------------- class-axis losses

def _loss_shape(shape, axis):
    """The input's shape without the class axis."""
    axis %= len(shape)
    return shape[:axis] + shape[axis + 1:]


def _rows(x, axis):
    """(rows, classes) view of x with the class axis last."""
    x = np.moveaxis(_f64(x), axis, -1)
    return x.reshape(-1, x.shape[-1])


def _unrows(g, shape, axis):
    """Inverse of _rows for an array of the input's shape."""
    moved = np.moveaxis(np.empty(shape), axis, -1).shape
    return np.moveaxis(g.reshape(moved), -1, axis)


def _index_parts(logp, t, w, ignore_index):
    """Per-row -w[y] logp[y] and -sum_c w_c logp_c, 0 where ignored."""
    valid = t != ignore_index
    y = np.where(valid, t, 0)
    rows = np.arange(len(y))
    with np.errstate(invalid="ignore", over="ignore"):
        nll = np.where(valid, -w[y] * logp[rows, y], 0.0)
        smooth = np.where(valid, -(logp * w).sum(axis=1), 0.0)
    denominator = np.where(valid, w[y], 0.0).sum()
    return nll, smooth, denominator, valid, y


def cross_entropy(x, t, weight=None, ignore_index=IGNORE, reduction="mean",
                  label_smoothing=0.0, axis=-1):
    x = _f64(x)
    n_classes = x.shape[axis]
    w = np.ones(n_classes) if weight is None else _f64(weight)
    logp = _rows(log_softmax(x, axis=axis), axis)
    eps = label_smoothing
    t = np.asarray(t)
    if t.dtype.kind == "f":                                 # probabilities
        tp = _rows(t, axis) * (1 - eps) + eps / n_classes
        with np.errstate(invalid="ignore"):
            per_row = -(logp * tp * w).sum(axis=1)
        rows = per_row.shape[0] if x.size else 0
        return _reduce(per_row.reshape(_loss_shape(x.shape, axis)), reduction, rows)
    nll, smooth, denominator, _, _ = _index_parts(logp, t.reshape(-1), w, ignore_index)
    if reduction == "none":
        with np.errstate(invalid="ignore"):
            out = nll if eps == 0 else (1 - eps) * nll + eps / n_classes * smooth
        return out.reshape(t.shape)
    a = _reduce(nll, reduction, denominator)
    if eps == 0:
        return a
    with np.errstate(invalid="ignore"):
        return (1 - eps) * a + eps / n_classes * _reduce(smooth, reduction, denominator)


def cross_entropy_grad(x, t, weight=None, ignore_index=IGNORE, reduction="mean",
                       label_smoothing=0.0, axis=-1, grad_output=1.0):
    """Gradient wrt x, via dL/dlogp and the log_softmax backward."""
    x = _f64(x)
    n_classes = x.shape[axis]
    w = np.ones(n_classes) if weight is None else _f64(weight)
    logp = _rows(log_softmax(x, axis=axis), axis)
    p = np.exp(logp)
    eps = label_smoothing
    t = np.asarray(t)
    if t.dtype.kind == "f":
        tp = _rows(t, axis) * (1 - eps) + eps / n_classes
        d_logp = -tp * w
        denominator = logp.shape[0]
    else:
        tr = t.reshape(-1)
        _, _, denominator, valid, y = _index_parts(logp, tr, w, ignore_index)
        # the smoothing term -eps/C sum_c w_c log p_c only where there is
        # smoothing (torch): without it no other class's weight takes part
        d_logp = np.zeros((len(tr), n_classes))
        if eps > 0:
            d_logp -= (eps / n_classes) * np.tile(w, (len(tr), 1))
        d_logp[np.arange(len(tr)), y] -= (1 - eps) * w[y]
        d_logp[~valid] = 0.0
    if reduction == "none":
        g_rows = np.broadcast_to(_f64(grad_output), _loss_shape(x.shape, axis)).reshape(-1, 1)
    elif reduction == "mean":
        with np.errstate(divide="ignore"):
            g_rows = _f64(grad_output) / np.float64(denominator)
    else:
        g_rows = _f64(grad_output)
    with np.errstate(invalid="ignore"):
        d_logp = d_logp * g_rows
        g = d_logp - p * d_logp.sum(axis=1, keepdims=True)
    if t.dtype.kind != "f":
        g[~valid] = 0.0            # ignored rows are never read (see the docs)
    return _unrows(g, x.shape, axis)


def linear_cross_entropy(x, linear_weight, t, linear_bias=None, weight=None,
                         ignore_index=IGNORE, reduction="mean", label_smoothing=0.0):
    """cross_entropy of the materialized logits x @ W.T + b, in float64."""
    logits = _f64(x) @ _f64(linear_weight).T
    if linear_bias is not None:
        logits = logits + _f64(linear_bias)
    return cross_entropy(logits, t, weight, ignore_index, reduction, label_smoothing)


def linear_cross_entropy_grad(x, linear_weight, t, linear_bias=None, weight=None,
                              ignore_index=IGNORE, reduction="mean", label_smoothing=0.0,
                              grad_output=1.0):
    """(d/dx, d/dW, d/db or None) by the chain rule through the logits: with
    G = dL/dlogits (times grad_output, per row for "none"), dx = G W,
    dW = G.T x, db = the column sums of G."""
    x, w = _f64(x), _f64(linear_weight)
    logits = x @ w.T
    if linear_bias is not None:
        logits = logits + _f64(linear_bias)
    g = cross_entropy_grad(logits, t, weight, ignore_index, reduction, label_smoothing,
                           grad_output=grad_output)
    return g @ w, g.T @ x, None if linear_bias is None else g.sum(axis=0)


def nll_loss(x, t, weight=None, ignore_index=IGNORE, reduction="mean", axis=-1):
    x = _f64(x)
    w = np.ones(x.shape[axis]) if weight is None else _f64(weight)
    t = np.asarray(t)
    nll, _, denominator, _, _ = _index_parts(_rows(x, axis), t.reshape(-1), w, ignore_index)
    return _reduce(nll.reshape(t.shape), reduction, denominator)


def nll_loss_grad(x, t, weight=None, ignore_index=IGNORE, reduction="mean", axis=-1,
                  grad_output=1.0):
    x = _f64(x)
    xr = _rows(x, axis)
    w = np.ones(x.shape[axis]) if weight is None else _f64(weight)
    tr = np.asarray(t).reshape(-1)
    _, _, denominator, valid, y = _index_parts(xr, tr, w, ignore_index)
    if reduction == "none":
        g_rows = np.broadcast_to(_f64(grad_output), np.shape(t)).reshape(-1)
    elif reduction == "mean":
        with np.errstate(divide="ignore"):
            g_rows = np.full(len(tr), _f64(grad_output) / np.float64(denominator))
    else:
        g_rows = np.full(len(tr), _f64(grad_output))
    g = np.zeros_like(xr)
    rows = np.arange(len(tr))[valid]
    g[rows, y[valid]] = -w[y[valid]] * g_rows[valid]
    return _unrows(g, x.shape, axis)


# ------------------------------------------------------ elementwise losses

def _logsigmoid(x):
    """log(1 / (1 + exp(-x))) = -log(exp(0) + exp(-x))."""
    return -np.logaddexp(0.0, -x)


def _sigmoid(x):
    return np.exp(_logsigmoid(x))


def _weights(weight, shape):
    return np.ones(shape) if weight is None else np.broadcast_to(_f64(weight), shape)


def binary_cross_entropy_with_logits(x, t, weight=None, pos_weight=None, reduction="mean"):
    """w ((1-t) x - (1 + (pw-1) t) logsigmoid(x)), torch's formula."""
    x, t = _f64(x), _f64(t)
    w, pw = _weights(weight, x.shape), _weights(pos_weight, x.shape)
    with np.errstate(invalid="ignore"):
        loss = w * ((1 - t) * x - (1 + (pw - 1) * t) * _logsigmoid(x))
    return _reduce(loss, reduction, x.size)


def binary_cross_entropy_with_logits_grad(x, t, weight=None, pos_weight=None,
                                          reduction="mean", grad_output=1.0):
    """d/dx: w ((1-t) - (1 + (pw-1) t) sigmoid(-x)), since d logsigmoid(x)/dx = sigmoid(-x)."""
    x, t = _f64(x), _f64(t)
    w, pw = _weights(weight, x.shape), _weights(pos_weight, x.shape)
    g = w * ((1 - t) - (1 + (pw - 1) * t) * _sigmoid(-x))
    return g * _grad_scale(grad_output, reduction, x)


# torch clamps BCE's gradient denominator at 1e-12 as a float32 constant
BCE_EPSILON = np.float64(np.float32(1e-12))


def binary_cross_entropy(x, t, weight=None, reduction="mean"):
    """-w (t log x + (1-t) log(1-x)), each log clamped at -100."""
    x, t = _f64(x), _f64(t)
    w = _weights(weight, x.shape)
    with np.errstate(divide="ignore"):
        log_x = np.maximum(np.log(x), -100.0)
        log_1mx = np.maximum(np.log(1 - x), -100.0)
    return _reduce(-w * (t * log_x + (1 - t) * log_1mx), reduction, x.size)


def binary_cross_entropy_grad(x, t, weight=None, reduction="mean", grad_output=1.0):
    """w (x - t) / max(x (1-x), eps)."""
    x, t = _f64(x), _f64(t)
    w = _weights(weight, x.shape)
    g = w * (x - t) / np.maximum(x * (1 - x), BCE_EPSILON)
    return g * _grad_scale(grad_output, reduction, x)


def mse_loss(x, t, reduction="mean"):
    x, t = _f64(x), _f64(t)
    return _reduce((x - t) ** 2, reduction, x.size)


def mse_loss_grad(x, t, reduction="mean", grad_output=1.0):
    x, t = _f64(x), _f64(t)
    return 2 * (x - t) * _grad_scale(grad_output, reduction, x)


def _grad_scale(grad_output, reduction, x):
    g = _f64(grad_output)
    if reduction == "mean":
        with np.errstate(divide="ignore", invalid="ignore"):
            return g / np.float64(x.size)
    if reduction == "none":
        return np.broadcast_to(g, x.shape)
    return g


# ------------------------------------------------------------- activations
#
# Evaluated in ``precision`` (float64 by default; the tests' ulp measurements
# pass np.longdouble), from the textbook formulas.

def sigmoid(x, precision=np.float64):
    """1 / (1 + exp(-x)) (exp(-x) = inf below the range: 0, as it should)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return 1 / (1 + np.exp(-np.asarray(x).astype(precision)))


def log_sigmoid(x, precision=np.float64):
    """log(1 / (1 + exp(-x))) = -log(exp(0) + exp(-x))."""
    with np.errstate(invalid="ignore"):
        return -np.logaddexp(precision(0), -np.asarray(x).astype(precision))


def softplus(x, beta=1.0, threshold=20.0, precision=np.float64):
    """log(1 + exp(beta x)) / beta, and x where beta x > threshold, torch's
    formula: beta x is rounded in x's dtype, beta and threshold converted to
    it (as torch's kernel); then log(exp(0) + exp(beta x)) / beta in
    ``precision``."""
    x = np.asarray(x)
    kind = x.dtype.type if x.dtype.kind == "f" else np.float64
    b = kind(beta)
    with np.errstate(over="ignore", invalid="ignore"):
        bx = x.astype(kind) * b
        smooth = np.logaddexp(precision(0), bx.astype(precision)) / precision(b)
        return np.where(bx > kind(threshold), x.astype(precision), smooth)


# --------------------------------- regression and divergence losses (torch's)

def _sign(d):
    """torch.sign: NaN gives 0 (NumPy's sign gives NaN)."""
    return np.where(np.isnan(d), 0.0, np.sign(d))


def l1_loss(x, t, reduction="mean"):
    x, t = _f64(x), _f64(t)
    with np.errstate(invalid="ignore"):
        return _reduce(np.abs(x - t), reduction, x.size)


def l1_loss_grad(x, t, reduction="mean", grad_output=1.0):
    """sign(x - t): the gradient of |d| that torch's abs backward gives (0 at d = 0)."""
    x, t = _f64(x), _f64(t)
    with np.errstate(invalid="ignore"):
        return _sign(x - t) * _grad_scale(grad_output, reduction, x)


def smooth_l1_loss(x, t, reduction="mean", beta=1.0):
    """0.5 z^2 / beta for z = |x - t| < beta, else z - 0.5 beta; beta 0 is L1."""
    if beta == 0:
        return l1_loss(x, t, reduction)
    x, t = _f64(x), _f64(t)
    with np.errstate(invalid="ignore"):
        z = np.abs(x - t)
        loss = np.where(z < beta, 0.5 * z**2 / beta, z - 0.5 * beta)
    return _reduce(loss, reduction, x.size)


def smooth_l1_loss_grad(x, t, reduction="mean", beta=1.0, grad_output=1.0):
    """-1 below -beta, 1 above beta (the kinks included), d / beta between."""
    if beta == 0:
        return l1_loss_grad(x, t, reduction, grad_output)
    x, t = _f64(x), _f64(t)
    with np.errstate(invalid="ignore"):
        d = x - t
        g = np.where(d <= -beta, -1.0, np.where(d >= beta, 1.0, d / beta))
        return g * _grad_scale(grad_output, reduction, x)


def huber_loss(x, t, reduction="mean", delta=1.0):
    """0.5 z^2 for z = |x - t| < delta, else delta (z - 0.5 delta)."""
    x, t = _f64(x), _f64(t)
    with np.errstate(invalid="ignore"):
        z = np.abs(x - t)
        loss = np.where(z < delta, 0.5 * z**2, delta * (z - 0.5 * delta))
    return _reduce(loss, reduction, x.size)


def huber_loss_grad(x, t, reduction="mean", delta=1.0, grad_output=1.0):
    """d = x - t clipped to [-delta, delta] (NaN stays NaN)."""
    x, t = _f64(x), _f64(t)
    with np.errstate(invalid="ignore"):
        d = x - t
        g = np.where(d <= -delta, -delta, np.where(d >= delta, delta, d))
        return g * _grad_scale(grad_output, reduction, x)


def _xlogy(a, b):
    """torch.xlogy: NaN where b is NaN, else 0 where a == 0, else a log b."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isnan(b), np.nan, np.where(a == 0, 0.0, a * np.log(b)))


def _kl_denominator(x, reduction):
    """"batchmean" divides by the first dimension (a 0-d input: the sum)."""
    if reduction == "batchmean":
        return x.shape[0] if x.ndim else 1
    return x.size


def kl_div(x, t, reduction="mean", log_target=False):
    """xlogy(t, t) - t x, or exp(t) (t - x) for log-targets."""
    x, t = _f64(x), _f64(t)
    with np.errstate(invalid="ignore", over="ignore"):
        loss = np.exp(t) * (t - x) if log_target else _xlogy(t, t) - t * x
    red = "sum" if reduction == "batchmean" and x.ndim == 0 else reduction
    with np.errstate(invalid="ignore"):
        return _reduce(loss, "mean" if red == "batchmean" else red,
                       _kl_denominator(x, reduction))


def kl_div_grad(x, t, reduction="mean", log_target=False, grad_output=1.0):
    """d/dx: -t, or -exp(t) for log-targets."""
    x, t = _f64(x), _f64(t)
    with np.errstate(over="ignore"):
        g = -np.exp(t) if log_target else -t
    go = _f64(grad_output)
    if reduction == "none":
        scale = np.broadcast_to(go, x.shape)
    elif reduction == "sum" or (reduction == "batchmean" and x.ndim == 0):
        scale = go
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = go / np.float64(_kl_denominator(x, reduction))
    with np.errstate(invalid="ignore", over="ignore"):
        return g * scale
