"""Golden values for disttrain's offline linear probe: scikit-learn's logistic regression.

Writes Tests/DistTrainTests/Fixtures/probe.json. See scripts/README.md.

disttrain's probe minimises, on standardised features (StandardScaler: population std),

    (1/N) sum_i loss(W x_i + b, y_i) + (lambda/2) ||W||^2        (bias not decayed)

with loss the softmax cross-entropy (single-label) or the sum over labels of the binary cross-entropy
(multi-label). That is sklearn's LogisticRegression(C = 1/(N lambda)) with lbfgs: multinomial for
single-label data, one binary model per label for multi-label data. The script checks that claim
itself: the gradient of the objective above, computed here in numpy, is ~0 at sklearn's solution.

Stored per case: raw features (float32 values) and labels for fitting and for testing, lambda, and
sklearn's coefficients, intercepts and test probabilities. The multinomial intercepts are defined only
up to a common shift, so tests compare W and probabilities.
"""

import json
import os
import sys

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "DistTrainTests", "Fixtures", "probe.json")


def objective_gradient(x, y, w, b, lam, multilabel):
    z = x @ w.T + b
    n = x.shape[0]
    if multilabel:
        d = 1 / (1 + np.exp(-z)) - y
    else:
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        d = p - np.eye(w.shape[0])[y]
    return d.T @ x / n + lam * w, d.sum(axis=0) / n


def features(rng, n, f):
    # Columns on different scales and offsets, one constant column (std 0: only centred).
    x = rng.normal(size=(n, f)) * np.linspace(0.5, 20, f) + np.linspace(-3, 50, f)
    x[:, 1] = 7.0
    return x.astype(np.float32).astype(np.float64)


def case(name, rng, n, f, k, multilabel, lam):
    centers = rng.normal(size=(k, f)) * 2
    x_train, x_test = features(rng, n, f), features(rng, 40, f)
    if multilabel:
        score = lambda x: (x - x.mean(0)) / (x.std(0) + 1e-9) @ centers.T
        y_train = (score(x_train) + rng.normal(size=(n, k)) * 2 > 0).astype(int)
        y_test = (score(x_test) > 0).astype(int)
    else:
        y_train = rng.integers(0, k, n)
        x_train += centers[y_train] * np.linspace(0.5, 20, f) * 0.4
        y_test = rng.integers(0, k, 40)
        x_test += centers[y_test] * np.linspace(0.5, 20, f) * 0.4
    x_train = x_train.astype(np.float32).astype(np.float64)
    x_test = x_test.astype(np.float32).astype(np.float64)
    scaler = StandardScaler().fit(x_train)
    s_train, s_test = scaler.transform(x_train), scaler.transform(x_test)
    c = 1.0 / (n * lam)
    if multilabel:
        models = [LogisticRegression(C=c, tol=1e-12, max_iter=100000).fit(s_train, y_train[:, l]) for l in range(k)]
        w = np.concatenate([m.coef_ for m in models])
        b = np.concatenate([m.intercept_ for m in models])
        prob = np.stack([m.predict_proba(s_test)[:, 1] for m in models], axis=1)
    else:
        m = LogisticRegression(C=c, tol=1e-12, max_iter=100000).fit(s_train, y_train)
        w, b = m.coef_, m.intercept_
        prob = m.predict_proba(s_test)
    gw, gb = objective_gradient(s_train, y_train, w, b, lam, multilabel)
    worst = max(np.abs(gw).max(), np.abs(gb).max())
    assert worst < 1e-7, f"{name}: sklearn's solution is not the optimum of disttrain's objective ({worst})"
    return {"name": name, "multilabel": multilabel, "classes": k, "features": f, "weight_decay": lam,
            "train_x": x_train.reshape(-1).tolist(), "train_y": y_train.reshape(-1).tolist(),
            "test_x": x_test.reshape(-1).tolist(), "test_y": y_test.reshape(-1).tolist(),
            "weight": w.reshape(-1).tolist(), "bias": b.tolist(), "test_prob": prob.reshape(-1).tolist(),
            "max_gradient_at_solution": float(worst)}


def main():
    rng = np.random.default_rng(7)
    cases = [case("multinomial", rng, 150, 6, 3, False, 1e-2),
             case("multinomial_weak_decay", rng, 150, 6, 4, False, 1e-4),
             case("multilabel", rng, 120, 5, 3, True, 1e-2)]
    fixture = {"generator": "scripts/make_golden_probe.py", "sklearn": sklearn.__version__, "cases": cases}
    with open(OUT, "w") as fh:
        json.dump(fixture, fh, separators=(",", ":"))
        fh.write("\n")
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes); max gradient at sklearn's solutions "
          + ", ".join(f"{c['max_gradient_at_solution']:.1e}" for c in cases))


if __name__ == "__main__":
    sys.dont_write_bytecode = True
    main()
