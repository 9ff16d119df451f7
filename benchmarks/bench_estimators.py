"""Fit time and test accuracy of fastloss.estimators against scikit-learn.

    python benchmarks/bench_estimators.py [--repeats 5] [--large-repeats 1]
                                          [--large-mlp-epochs 5] [--skip-large]
                                          [--blas-threads N]

Pairs, with the same hyper-parameters on the same split:

- ``SoftmaxRegression`` vs ``LogisticRegression(solver="lbfgs")``
  (C=1, max_iter=100, tol=1e-4);
- ``MLPClassifier`` vs scikit-learn's ``MLPClassifier(solver="adam")``
  (hidden_layer_sizes=(100,), alpha=1e-4, batch_size=200,
  learning_rate_init=1e-3, max_iter=200, tol=1e-4, random_state=0).

Datasets: digits and breast_cancer (shipped with scikit-learn) and
``make_classification(n_samples=500_000, n_features=50, n_informative=30,
n_classes=20)``, each split 75/25 (stratified) and standardized on the
training part. On the large set the MLPs run ``--large-mlp-epochs`` epochs
(both the same), since 200 epochs of 375,000 samples take hours.

Times are wall-clock medians over ``--repeats`` fits (``--large-repeats`` on
the large set), fastloss and scikit-learn alternating. ``--blas-threads N``
limits the BLAS thread pools (NumPy's and SciPy's, through threadpoolctl) for
both sides: on a loaded machine, BLAS threads waiting for each other can make
small fits 10-100x slower from one run to the next. Needs
scikit-learn and SciPy (``pip install ".[sklearn]"`` in the repository root).
"""

import argparse
import os
import platform
import statistics
import time
import warnings
from functools import partial

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import fastloss
from fastloss.estimators import MLPClassifier, SoftmaxRegression

LINEAR = dict(C=1.0, max_iter=100, tol=1e-4)
MLP = dict(hidden_layer_sizes=(100,), alpha=1e-4, batch_size=200,
           learning_rate_init=1e-3, max_iter=200, tol=1e-4, random_state=0)


def datasets(skip_large):
    yield "digits", load_digits(return_X_y=True)
    yield "breast_cancer", load_breast_cancer(return_X_y=True)
    if not skip_large:
        yield "classification 500k", make_classification(
            n_samples=500_000, n_features=50, n_informative=30, n_classes=20,
            random_state=0)


def split(X, y):
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def timed_fit(make, X, y):
    est = make()
    start = time.perf_counter()
    est.fit(X, y)
    return time.perf_counter() - start, est


def compare(make_ours, make_theirs, data, repeats):
    """Median fit times, accuracies and iteration counts of both, alternating."""
    X_train, X_test, y_train, y_test = data
    times = {"ours": [], "theirs": []}
    fitted = {}
    for _ in range(repeats):
        for key, make in (("ours", make_ours), ("theirs", make_theirs)):
            seconds, fitted[key] = timed_fit(make, X_train, y_train)
            times[key].append(seconds)
    result = {}
    for key, est in fitted.items():
        result[key] = dict(
            seconds=statistics.median(times[key]),
            accuracy=100.0 * est.score(X_test, y_test),
            n_iter=int(np.ravel(est.n_iter_)[0]),
        )
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--large-repeats", type=int, default=1)
    parser.add_argument("--large-mlp-epochs", type=int, default=5)
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--blas-threads", type=int, default=None)
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    with threadpool_limits(limits=args.blas_threads, user_api="blas"):
        run(args)


def run(args):
    import sklearn
    print(f"fastloss {fastloss.__version__}, scikit-learn {sklearn.__version__}, "
          f"NumPy {np.__version__}, Python {platform.python_version()}; "
          f"{os.cpu_count()} CPUs, fastloss threads {fastloss.get_num_threads()}, "
          f"BLAS threads {args.blas_threads or 'default'}")
    print()
    print("| dataset | n_train x n_features, classes | model | scikit-learn s | "
          "fastloss s | time ratio | scikit-learn acc % | fastloss acc % | "
          "acc diff (points) | iterations (sk / fl) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, (X, y) in datasets(args.skip_large):
        data = split(X, y)
        large = len(y) > 100_000
        repeats = args.large_repeats if large else args.repeats
        mlp = dict(MLP, max_iter=args.large_mlp_epochs) if large else MLP
        pairs = [
            ("softmax regression", partial(SoftmaxRegression, **LINEAR),
             partial(LogisticRegression, **LINEAR)),
            (f"MLP (100,), {mlp['max_iter']} epochs max", partial(MLPClassifier, **mlp),
             partial(SkMLPClassifier, **mlp)),
        ]
        shape = f"{data[0].shape[0]:,} x {data[0].shape[1]}, {len(np.unique(y))}"
        for model, ours, theirs in pairs:
            r = compare(ours, theirs, data, repeats)
            o, t = r["ours"], r["theirs"]
            print(f"| {name} | {shape} | {model} | {t['seconds']:.3f} | "
                  f"{o['seconds']:.3f} | {o['seconds'] / t['seconds']:.2f} | "
                  f"{t['accuracy']:.2f} | {o['accuracy']:.2f} | "
                  f"{o['accuracy'] - t['accuracy']:+.2f} | {t['n_iter']} / {o['n_iter']} |",
                  flush=True)


if __name__ == "__main__":
    main()
