"""Golden values for disttrain's evaluation metrics, computed as MedMNIST's evaluator does.

Writes Tests/DistTrainTests/Fixtures/metrics.json. See scripts/README.md.

MedMNIST's `medmnist/evaluator.py` (v2 and v3) defines the metrics every MedMNIST paper reports:

    getAUC  multi-class: mean over classes c of roc_auc_score(y == c, score[:, c])   (one-vs-rest)
            binary:      roc_auc_score(y, score[:, -1])
            multi-label: mean over labels l of roc_auc_score(y[:, l], score[:, l])
    getACC  multi-class: accuracy_score(y, argmax(score))       (np.argmax: the first maximum wins)
            binary:      accuracy_score(y, score[:, -1] > 0.5)  (strictly greater)
            multi-label: mean over labels l of accuracy_score(y[:, l], score[:, l] > 0.5)

with scores = softmax(logits) for single-label tasks and sigmoid(logits) for multi-label ones.
roc_auc_score ranks tied scores by their average rank (a tied positive/negative pair counts 1/2).
A label (or one-vs-rest class) with only one class present in y has no AUC: scikit-learn >= 1.6
warns and returns NaN (older versions raised ValueError), so MedMNIST's mean becomes NaN. disttrain
averages over the labels whose AUC is defined and names the others; this fixture stores NaN as null
per label, and `auc_defined_mean` is the mean over the non-null ones.

Scores are drawn as float32 and widened, so the stored numbers are exactly the ones sklearn saw.
"""

import json
import math
import os
import sys
import warnings

import numpy as np
import sklearn
from sklearn.metrics import accuracy_score, roc_auc_score

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "DistTrainTests", "Fixtures", "metrics.json")


def auc_or_nan(y, s):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return float(roc_auc_score(y, s))
        except ValueError:  # scikit-learn < 1.6
            return float("nan")


def medmnist_metrics(task, y, score):
    """getACC / getAUC of medmnist/evaluator.py, per label kept (NaN where undefined)."""
    if task == "multi-label":
        per_label = [auc_or_nan(y[:, l], score[:, l]) for l in range(score.shape[1])]
        acc = np.mean([accuracy_score(y[:, l], score[:, l] > 0.5) for l in range(y.shape[1])])
    elif task == "binary":
        per_label = [auc_or_nan(y, score[:, -1])]
        acc = accuracy_score(y, score[:, -1] > 0.5)
    else:
        per_label = [auc_or_nan((y == c).astype(float), score[:, c]) for c in range(score.shape[1])]
        acc = accuracy_score(y, np.argmax(score, axis=-1))
    defined = [a for a in per_label if not math.isnan(a)]
    return {
        "accuracy": float(acc),
        "auc_medmnist": None if len(defined) < len(per_label) else float(np.mean(per_label)),
        "auc_defined_mean": float(np.mean(defined)) if defined else None,
        "per_label_auc": [None if math.isnan(a) else a for a in per_label],
    }


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def case(name, task, y, score, note):
    score = score.astype(np.float32).astype(np.float64)
    out = {"name": name, "task": task, "note": note, "count": int(score.shape[0]),
           "classes": int(score.shape[1]), "scores": score.reshape(-1).tolist(),
           "labels": np.asarray(y).reshape(-1).astype(int).tolist()}
    out.update(medmnist_metrics(task, np.asarray(y), score))
    return out


def main():
    rng = np.random.default_rng(20261123)
    cases = []

    # Multi-class: softmax scores, 5 classes, 40 samples.
    y = rng.integers(0, 5, 40)
    logits = rng.normal(size=(40, 5)) + 1.5 * np.eye(5)[y]
    cases.append(case("multiclass", "multi-class", y, softmax(logits), "softmax of random logits"))

    # Multi-class with ties: scores rounded to one decimal (many tied values per column) and a row
    # whose two largest scores tie (argmax takes the first).
    s = np.round(softmax(rng.normal(size=(30, 4)) * 2), 1)
    s[3] = [0.4, 0.4, 0.1, 0.1]
    y = rng.integers(0, 4, 30)
    y[3] = 1
    cases.append(case("multiclass_ties", "multi-class", y, s, "rounded scores: tied ranks; row 3 ties 0.4/0.4"))

    # Multi-class where class 3 never occurs among the labels: its one-vs-rest AUC is undefined.
    y = rng.integers(0, 3, 25)
    cases.append(case("multiclass_absent_class", "multi-class", y, softmax(rng.normal(size=(25, 4))),
                      "class 3 absent from the labels"))

    # Binary: score of the positive class; exact 0.5 scores (not > 0.5: predicted negative) and ties.
    y = rng.integers(0, 2, 50)
    p = np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(scale=0.25, size=50), 0.01, 0.99)
    p = np.round(p, 2)
    p[:4] = 0.5
    cases.append(case("binary", "binary", y, np.stack([1 - p, p], axis=1),
                      "positive-class scores rounded to 0.01; four exactly 0.5"))

    # Multi-label: sigmoid scores, 6 labels; label 4 all negative, label 5 all positive (AUC undefined);
    # scores rounded so that labels have ties; some exactly 0.5.
    y = (rng.random((36, 6)) < 0.35).astype(int)
    y[:, 4] = 0
    y[:, 5] = 1
    z = rng.normal(size=(36, 6)) + 1.2 * (y - 0.5)
    s = np.round(1 / (1 + np.exp(-z)), 2)
    s[0, :] = 0.5
    cases.append(case("multilabel", "multi-label", y, s,
                      "labels 4 (all 0) and 5 (all 1) have no AUC; scores rounded to 0.01; row 0 exactly 0.5"))

    # Larger multi-label case without undefined labels (what a real ChestMNIST test set gives).
    y = (rng.random((200, 3)) < np.array([0.05, 0.3, 0.6])).astype(int)
    y[0, 0] = 1
    s = 1 / (1 + np.exp(-(rng.normal(size=(200, 3)) + 1.0 * (y - 0.5))))
    cases.append(case("multilabel_defined", "multi-label", y, s, "every label has both classes"))

    fixture = {"generator": "scripts/make_golden_metrics.py", "sklearn": sklearn.__version__,
               "numpy": np.__version__, "cases": cases}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(fixture, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes, {len(cases)} cases)")


if __name__ == "__main__":
    sys.dont_write_bytecode = True
    main()
