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
