"""``python -m fastloss check``: the installed build against the references.

Every function and gradient runs on seeded random data large enough for the
threaded paths, in float32 and float64, and is compared with the pure-NumPy
float64 references of ``fastloss._tools.reference`` at the tolerances the tests
use; each is also run with one thread and with three, which must give the
same bits. The result is a table and an exit status.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

import fastloss

from . import reference as ref

Result = Any                          # an array, a NumPy scalar or a tuple of them


class Case(NamedTuple):
    name: str
    ours: Callable[[int], Result]     # fastloss, given num_threads
    reference: Callable[[], Result]


class Outcome(NamedTuple):
    name: str
    dtype: str
    error: float                      # worst |ours - ref| / (atol + rtol |ref|)
    same_bits: bool                   # one thread and three threads agree bitwise

    @property
    def ok(self) -> bool:
        return self.error <= 1.0 and self.same_bits


def cases(dtype: type, seed: int) -> list[Case]:
    """The checks on one dtype: each public function, options, gradients."""
    rng = np.random.default_rng(seed)
    n, c = 3000, 37                   # 111,000 elements: above the threaded threshold
    x = (rng.standard_normal((n, c)) * 3).astype(dtype)
    x3 = (rng.standard_normal((40, c, 75)) * 3).astype(dtype)
    y = rng.integers(0, c, n)
    y[::7] = ref.IGNORE
    y3 = rng.integers(0, c, (40, 75))
    p = rng.random((n, c))
    p = (p / p.sum(axis=1, keepdims=True)).astype(dtype)
    w = (rng.random(c) + 0.5).astype(dtype)
    z = (rng.standard_normal(n * c) * 3).astype(dtype).reshape(n, c)
    t = rng.random((n, c)).astype(dtype)
    pw = (rng.random(c) + 0.5).astype(dtype)
    s = (1.0 / (1.0 + np.exp(-z.astype(np.float64)))).astype(dtype)
    s = np.clip(s, 1e-3, 1 - 1e-3).astype(dtype)   # away from BCE's clamps
    tr = t.copy()
    tr.reshape(-1)[::7] = z.reshape(-1)[::7]         # L1's kink: x == t
    logp = ref.log_softmax(x).astype(dtype)

    ce = dict(weight=w, label_smoothing=0.1)
    out = [
        Case("logsumexp", lambda k: fastloss.logsumexp(x, num_threads=k),
             lambda: ref.logsumexp(x)),
        Case("softmax (axis=1)", lambda k: fastloss.softmax(x3, axis=1, num_threads=k),
             lambda: ref.softmax(x3, axis=1)),
        Case("log_softmax", lambda k: fastloss.log_softmax(x, num_threads=k),
             lambda: ref.log_softmax(x)),
    ]
    # the backward passes, at saved outputs of the forward (computed in
    # float64 and rounded, as a float32 network would hold them)
    gy = (rng.standard_normal((n, c))).astype(dtype)
    gy3 = (rng.standard_normal(x3.shape)).astype(dtype)
    sm = ref.softmax(x).astype(dtype)
    lsm3 = ref.log_softmax(x3, axis=1).astype(dtype)
    out += [
        Case("softmax_backward", lambda k: fastloss.softmax_backward(gy, sm, num_threads=k),
             lambda: ref.softmax_backward(gy, sm)),
        Case("log_softmax_backward (axis=1)",
             lambda k: fastloss.log_softmax_backward(gy3, lsm3, axis=1, num_threads=k),
             lambda: ref.log_softmax_backward(gy3, lsm3, axis=1)),
    ]
    # the activations, on values spread past softplus's threshold (beta * z > 20)
    a = z * 4
    out += [
        Case("sigmoid", lambda k: fastloss.sigmoid(a, num_threads=k), lambda: ref.sigmoid(a)),
        Case("log_sigmoid", lambda k: fastloss.log_sigmoid(a, num_threads=k),
             lambda: ref.log_sigmoid(a)),
        Case("softplus (beta=2, threshold=30)",
             lambda k: fastloss.softplus(a, beta=2.0, threshold=30.0, num_threads=k),
             lambda: ref.softplus(a, beta=2.0, threshold=30.0)),
    ]
    for red in ("mean", "sum", "none"):
        out += [
            Case(f"cross_entropy {kind} {red}",
                 lambda k, red=red, target=target: fastloss.CrossEntropyLoss(
                     reduction=red, num_threads=k, **ce).value_and_grad(x, target),
                 lambda red=red, target=target: (
                     ref.cross_entropy(x, target, reduction=red, **ce),
                     ref.cross_entropy_grad(x, target, reduction=red, **ce)))
            for kind, target in (("index", y), ("probs", p))
        ]
        out += [
            Case(f"cross_entropy axis=1 {red}",
                 lambda k, red=red: fastloss.CrossEntropyLoss(
                     reduction=red, axis=1, num_threads=k).value_and_grad(x3, y3),
                 lambda red=red: (ref.cross_entropy(x3, y3, reduction=red, axis=1),
                                  ref.cross_entropy_grad(x3, y3, reduction=red, axis=1))),
            Case(f"nll_loss {red}",
                 lambda k, red=red: fastloss.NLLLoss(
                     w, reduction=red, num_threads=k).value_and_grad(x, y),
                 lambda red=red: (ref.nll_loss(x, y, weight=w, reduction=red),
                                  ref.nll_loss_grad(x, y, weight=w, reduction=red))),
            Case(f"bce_with_logits {red}",
                 lambda k, red=red: fastloss.BCEWithLogitsLoss(
                     pos_weight=pw, reduction=red, num_threads=k).value_and_grad(z, t),
                 lambda red=red: (
                     ref.binary_cross_entropy_with_logits(z, t, pos_weight=pw, reduction=red),
                     ref.binary_cross_entropy_with_logits_grad(z, t, pos_weight=pw,
                                                               reduction=red))),
            Case(f"bce {red}",
                 lambda k, red=red: fastloss.BCELoss(
                     reduction=red, num_threads=k).value_and_grad(s, t),
                 lambda red=red: (ref.binary_cross_entropy(s, t, reduction=red),
                                  ref.binary_cross_entropy_grad(s, t, reduction=red))),
            Case(f"mse {red}",
                 lambda k, red=red: fastloss.MSELoss(
                     reduction=red, num_threads=k).value_and_grad(z, t),
                 lambda red=red: (ref.mse_loss(z, t, reduction=red),
                                  ref.mse_loss_grad(z, t, reduction=red))),
        ]
        out += _regression_cases(red, z, tr, logp, p)
    return out


def _regression_cases(red: str, z: np.ndarray, t: np.ndarray, logp: np.ndarray,
                      p: np.ndarray) -> list[Case]:
    """l1, smooth L1, Huber (on the MSE case's arrays, a kink every 7th
    element) and KL divergence (log-softmax input, probability and
    log-probability targets; "batchmean" along with the reduction)."""
    regression = [("l1", fastloss.L1Loss, ref.l1_loss, ref.l1_loss_grad, {}),
                  ("smooth_l1 beta=0.5", fastloss.SmoothL1Loss, ref.smooth_l1_loss,
                   ref.smooth_l1_loss_grad, {"beta": 0.5}),
                  ("huber delta=2", fastloss.HuberLoss, ref.huber_loss, ref.huber_loss_grad,
                   {"delta": 2.0})]
    kl = [("kl_div", p, {}), ("kl_div log_target", np.log(p), {"log_target": True})]
    cases = [(name, cls, z, t, ref_loss, ref_grad, red, options)
             for name, cls, ref_loss, ref_grad, options in regression]
    cases += [(name, fastloss.KLDivLoss, logp, target, ref.kl_div, ref.kl_div_grad, kl_red,
               options)
              for name, target, options in kl
              for kl_red in ([red, "batchmean"] if red == "mean" else [red])]
    return [Case(f"{name} {r}",
                 lambda k, cls=cls, x=x, y=y, r=r, o=o: cls(
                     reduction=r, num_threads=k, **o).value_and_grad(x, y),
                 lambda x=x, y=y, f=f, g=g, r=r, o=o: (f(x, y, reduction=r, **o),
                                                       g(x, y, reduction=r, **o)))
            for name, cls, x, y, f, g, r, o in cases]


def _parts(result: Result) -> list[np.ndarray]:
    return [np.asarray(r) for r in (result if isinstance(result, tuple) else (result,))]


def compare(case: Case, dtype: type) -> Outcome:
    """Run one case and measure it against its reference and across threads."""
    tolerance = ref.TOLERANCES[np.dtype(dtype)]
    one, three = _parts(case.ours(1)), _parts(case.ours(3))
    error = 0.0
    for got, want in zip(one, _parts(case.reference())):
        got64, want64 = got.astype(np.float64), np.asarray(want, np.float64)
        if got.dtype != np.dtype(dtype) or got.shape != want64.shape:
            error = np.inf
            continue
        with np.errstate(invalid="ignore"):
            scaled = np.abs(got64 - want64) / (tolerance["atol"] + tolerance["rtol"]
                                               * np.abs(want64))
        both_nan = np.isnan(got64) & np.isnan(want64)
        scaled = np.where(both_nan, 0.0, np.where(np.isnan(scaled), np.inf, scaled))
        error = max(error, float(scaled.max(initial=0.0)))
    same_bits = len(one) == len(three) and all(
        a.dtype == b.dtype and a.tobytes() == b.tobytes() for a, b in zip(one, three))
    return Outcome(case.name, np.dtype(dtype).name, error, same_bits)


def run(seed: int = 0) -> int:
    """Check every case; print a table; return 0 if all agree, else 1."""
    fastloss.show_config()
    print(f"\nchecking against the NumPy float64 references (seed {seed}); "
          "error is the worst |fastloss - reference| as a fraction of the tolerance,\n"
          "threads whether 1 and 3 threads give the same bits\n")
    print(f"{'case':32} {'dtype':8} {'error':>8}  threads  result")
    outcomes = []
    for dtype in (np.float32, np.float64):
        for case in cases(dtype, seed):
            got = compare(case, dtype)
            outcomes.append(got)
            print(f"{got.name:32} {got.dtype:8} {got.error:8.2g}  "
                  f"{'same' if got.same_bits else 'DIFFER':7}  "
                  f"{'ok' if got.ok else 'MISMATCH'}")
    bad = [o for o in outcomes if not o.ok]
    if bad:
        print(f"\nMISMATCH: {len(bad)} of {len(outcomes)} checks failed: "
              + ", ".join(f"{o.name} ({o.dtype})" for o in bad))
        return 1
    print(f"\nall {len(outcomes)} checks agree")
    return 0
