"""Chapter 11's checkers: full marks for a correct answer, 0 when not attempted, feedback otherwise."""
import numpy as np

from rnnbook.exercises import ch11

from checker_contract import checker_contract


def masked_mean(x, lengths):
    mask = np.arange(x.shape[1])[None, :] < np.asarray(lengths)[:, None]
    return (x * mask[..., None]).sum(axis=1) / np.asarray(lengths)[:, None]


def last_valid(outputs, lengths):
    return outputs[np.arange(len(lengths)), np.asarray(lengths) - 1]


def tfidf(counts):
    counts = np.asarray(counts, dtype=float)
    idf = np.log((1 + len(counts)) / (1 + (counts > 0).sum(axis=0))) + 1
    w = np.where(counts > 0, 1 + np.log(np.where(counts > 0, counts, 1)), 0) * idf
    norm = np.linalg.norm(w, axis=1, keepdims=True)
    return w / np.where(norm > 0, norm, 1)


def accuracy_by_length(correct, lengths, edges):
    k = np.searchsorted(edges, lengths, side="right") - 1
    out = np.full(len(edges) - 1, np.nan)
    for j in range(len(edges) - 1):
        if (k == j).any():
            out[j] = np.mean(np.asarray(correct)[k == j])
    return out


def tfidf_raw_tf(counts):
    counts = np.asarray(counts, dtype=float)
    w = counts * (np.log((1 + len(counts)) / (1 + (counts > 0).sum(axis=0))) + 1)
    norm = np.linalg.norm(w, axis=1, keepdims=True)
    return w / np.where(norm > 0, norm, 1)


CHECKERS = {
    "masked_mean_pool": (ch11.check_masked_mean_pool, masked_mean, {
        "mean over every step, padding included": lambda x, lengths: x.mean(axis=1),
        "masked sum divided by T": lambda x, lengths: masked_mean(x, lengths) * np.asarray(lengths)[:, None] / x.shape[1],
        "wrong shape": lambda x, lengths: masked_mean(x, lengths)[:, :1],
    }),
    "last_valid": (ch11.check_last_valid, last_valid, {
        "the last padded step": lambda o, lengths: o[:, -1],
        "off by one": lambda o, lengths: o[np.arange(len(lengths)), np.minimum(np.asarray(lengths), o.shape[1] - 1)],
        "the first step": lambda o, lengths: o[:, 0],
    }),
    "tfidf": (ch11.check_tfidf, tfidf, {
        "raw term frequency": tfidf_raw_tf,
        "idf without smoothing": lambda c: (lambda w: w / np.maximum(np.linalg.norm(w, axis=1, keepdims=True), 1e-300))(
            np.where(np.asarray(c) > 0, 1 + np.log(np.maximum(c, 1)), 0)
            * np.log(len(c) / np.maximum((np.asarray(c) > 0).sum(axis=0), 1))),
        "rows not normalised": lambda c: np.where(np.asarray(c) > 0, 1 + np.log(np.maximum(c, 1)), 0)
            * (np.log((1 + len(c)) / (1 + (np.asarray(c) > 0).sum(axis=0))) + 1),
    }),
    "accuracy_by_length": (ch11.check_accuracy_by_length, accuracy_by_length, {
        "edges belong to the bucket below": lambda c, n, e: accuracy_by_length(c, np.asarray(n) - 1e-9, e),
        "zero for empty buckets": lambda c, n, e: np.nan_to_num(accuracy_by_length(c, n, e)),
        "counts instead of accuracy": lambda c, n, e: np.histogram(n, e)[0].astype(float),
    }),
}


def pool_weights(lengths, T, kind):
    lengths = np.asarray(lengths)
    steps = np.arange(T)[None, :]
    if kind == "masked_mean":
        return (steps < lengths[:, None]) / lengths[:, None]
    if kind == "unmasked_mean":
        return np.full((len(lengths), T), 1.0 / T)
    return (steps == lengths[:, None] - 1) * 1.0


def length_experiment(counts_train, y_train, counts_test, y_test, edges, steps=500):
    def features(c):
        return c / np.maximum(c.sum(axis=1, keepdims=True), 1)

    x, y = features(counts_train), y_train.astype(float)
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        w -= 50.0 * x.T @ (p - y) / len(y)
        b -= 50.0 * np.mean(p - y)
    right = (features(counts_test) @ w + b > 0) == y_test
    n = counts_test.sum(axis=1)
    return {"w": w, "b": b, "accuracy": accuracy_by_length(right, n, edges)}


def _overall(*args):
    out = length_experiment(*args)
    return dict(out, accuracy=np.full(len(args[4]) - 1, np.nanmean(out["accuracy"])))


CHECKERS["pool_weights"] = (ch11.check_pool_weights, pool_weights, {
    "masked mean over all steps": lambda n, T, k: pool_weights(n, T, "unmasked_mean" if k == "masked_mean" else k),
    "last step of the padded batch": lambda n, T, k: pool_weights(np.full(len(n), T), T, k) if k == "last"
    else pool_weights(n, T, k),
    "mean counts the padding": lambda n, T, k: pool_weights(n, T, "masked_mean") if k == "unmasked_mean"
    else pool_weights(n, T, k),
})
CHECKERS["length_experiment"] = (ch11.check_length_experiment, length_experiment, {
    "untrained": lambda *a: dict(length_experiment(*a, steps=0), accuracy=np.full(len(a[4]) - 1, 0.5)),
    "labels flipped": lambda *a: (lambda o: dict(o, w=-o["w"], b=-o["b"]))(length_experiment(*a)),
    "overall accuracy in every bucket": _overall,
    "returns only the accuracies": lambda *a: length_experiment(*a)["accuracy"],
})


(test_the_reference_earns_full_marks_on_fresh_inputs,
 test_an_unattempted_exercise_scores_zero_and_says_so,
 test_typical_wrong_answers_earn_less_and_get_feedback) = checker_contract(CHECKERS)


def test_the_package_helpers_earn_full_marks():
    # the chapter's own implementations answer the exercises too
    import torch

    from rnnbook import sentiment

    def torch_mean(x, lengths):
        return sentiment.masked_mean(torch.as_tensor(x), torch.as_tensor(lengths)).numpy()

    def package_buckets(c, n, e):
        return sentiment.accuracy_by_length(c, n, e)[0]

    assert ch11.check_masked_mean_pool(torch_mean) == 1.0
    assert ch11.check_accuracy_by_length(package_buckets) == 1.0


def pack_batch(x, lengths):
    order = np.argsort(-np.asarray(lengths), kind="stable")
    batch_sizes = np.array([(lengths > t).sum() for t in range(lengths.max())])
    data = np.concatenate([x[order[:n], t] for t, n in enumerate(batch_sizes)])
    return data, batch_sizes, order


def _unsorted(x, lengths):
    # the reviews still running at step t, in batch order instead of longest first
    data = np.concatenate([x[lengths > t, t] for t in range(lengths.max())])
    return data, *pack_batch(x, lengths)[1:]


PACK = {"pack_batch": (ch11.check_pack_batch, pack_batch, {
    "batch-major instead of time-major": lambda x, n: (
        np.concatenate([x[b, :n[b]] for b in pack_batch(x, n)[2]]), *pack_batch(x, n)[1:]),
    "ties by reverse index": lambda x, n: pack_batch(x[::-1], n[::-1])[:2]
    + (len(n) - 1 - pack_batch(x[::-1], n[::-1])[2],),
    "keeps the padding": lambda x, n: (np.concatenate([x[pack_batch(x, n)[2], t] for t in range(x.shape[1])]),
                                       np.full(x.shape[1], len(n)), pack_batch(x, n)[2]),
    "data in batch order": _unsorted,
})}

(test_pack_reference_earns_full_marks,
 test_pack_not_attempted_scores_zero,
 test_pack_wrong_answers_lose_credit) = checker_contract(PACK)
