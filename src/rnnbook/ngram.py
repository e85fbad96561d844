"""Interpolated Kneser–Ney n-gram language models, fast enough for millions of tokens.

`KneserNey(order).fit(tokens)` works on characters (`tokens` a `str`) or on words (a list of
strings). The model is the interpolated, *modified* Kneser–Ney of Chen & Goodman (1998), with
three discounts per order (or one, `modified=False`):

    p_k(w | h) = [max(c_k(h w) - D_k(c_k(h w)), 0) + g_k(h) p_{k-1}(w | h')] / c_k(h)
    g_k(h)     = D_k1 N1(h .) + D_k2 N2(h .) + D_k3 N3+(h .)

where h is the last k-1 tokens, h' drops its first token, c_k(h) = sum_w c_k(h w), and N_r(h .)
counts the words w with c_k(h w) = r (r >= 3 for N3+). At the top order c_k are the raw counts;
at every lower order they are continuation counts: the number of distinct tokens seen just
before the k-gram, the start of the training text counting as one more such token (so every
token seen in training has a positive count). A context never seen (c_k(h) = 0) backs off
entirely: p_k(w | h) = p_{k-1}(w | h'). The discounts of order k come from the count-of-counts
n_r of the counts used at that order: Y = n1/(n1+2 n2), D_k1 = 1 - 2Y n2/n1, D_k2 = 2 - 3Y n3/n2,
D_k3 = 3 - 4Y n4/n3 (one discount: D = Y); if some n_r is zero (tiny corpora) every discount is
0.5, and each D_kr is clipped to [0.1, r] so that g_k(h) > 0 always. `discount=D` instead fixes
one discount D in (0, 1] for every order and count (no estimate from the counts), the variant of
NLTK's `KneserNeyInterpolated`, which the tests compare this model with.

The recursion ends at the unigram level, which is NOT discounted: p_1(w) = (1 - u) c_1(w) / c_1,
with c_1 the raw counts for an order-1 model (so order 1 is the maximum-likelihood unigram model)
and continuation counts otherwise. The remaining mass u (`unk_mass`, default 1e-6) belongs to
one reserved unknown outcome, `UNKNOWN`, which every token never seen in training is scored as;
with `unk_mass=0` such a token raises ValueError instead. (Penn Treebank text already writes rare
words as the ordinary token `<unk>`, which is modelled like any other word.)

Scoring convention: `nll(tokens)` averages -log p over tokens[1:]; token i is predicted from
tokens[max(0, i-order+1):i]. No start symbol is added: the first tokens of a text simply use the
shorter contexts they have (the lower-order distributions), as a recurrent model starting from a
zero state does.

Implementation: every k-gram gets an integer id, `id(context) * V + w`, where id(context) is the
row of the (k-1)-gram in the order-(k-1) table; `np.unique` counts them and `np.searchsorted`
finds them, so fitting and scoring are a few NumPy passes per order (no Python loop over tokens).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

UNKNOWN = "<unknown>"  # the reserved outcome of tokens never seen in training (not a token)

__all__ = ["KneserNey", "UNKNOWN", "kn_discounts"]


def kn_discounts(counts: np.ndarray, modified: bool = True) -> np.ndarray:
    """Discounts (D1, D2, D3+) of one order from its counts (Chen & Goodman's estimates)."""
    counts = np.asarray(counts)
    n = [int(np.count_nonzero(counts == r)) for r in (1, 2, 3, 4)]
    need = n if modified else n[:2]
    if min(need) == 0:
        d = np.array([0.5, 0.5, 0.5])
    else:
        y = n[0] / (n[0] + 2 * n[1])
        if modified:
            d = np.array([1 - 2 * y * n[1] / n[0], 2 - 3 * y * n[2] / n[1],
                          3 - 4 * y * n[3] / n[2]])
        else:
            d = np.array([y, y, y])
    return np.clip(d, 0.1, [1.0, 2.0, 3.0])


@dataclass
class _Order:
    """Tables of one order k: sorted k-gram keys and their per-context statistics."""

    keys: np.ndarray    # (G,) int64 sorted ids ctx * V + w of the k-grams seen in training
    counts: np.ndarray  # (G,) float64 count used at this order (raw at the top, continuation below)
    disc: np.ndarray    # (G,) float64 discount subtracted from each count
    total: np.ndarray   # (C,) float64 c_k(h) for every context row h of the order k-1 table
    gamma: np.ndarray   # (C,) float64 g_k(h), the mass handed down to order k-1
    d: np.ndarray       # (3,) the discounts D1, D2, D3+


class KneserNey:
    """Interpolated (modified) Kneser–Ney n-gram model over characters or words."""

    def __init__(self, order: int, modified: bool = True, unk_mass: float = 1e-6,
                 discount: float | None = None) -> None:
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
            raise ValueError(f"order must be an integer >= 1, got {order!r}")
        if not 0.0 <= float(unk_mass) < 1.0:
            raise ValueError(f"unk_mass must be in [0, 1), got {unk_mass!r}")
        if discount is not None and not 0.0 < float(discount) <= 1.0:
            raise ValueError(f"discount must be None (estimated from the counts) or in (0, 1], "
                             f"got {discount!r}")
        self.order = int(order)
        self.modified = bool(modified)
        # one fixed discount for every order and count; None: Chen & Goodman's estimates
        self.discount = None if discount is None else float(discount)
        self.unk_mass = float(unk_mass)
        self.vocab: list[str] | None = None
        self._chars: bool | None = None

    def __repr__(self) -> str:
        fitted = "unfitted" if self.vocab is None else f"{len(self.vocab):,} types"
        kind = "" if self._chars is None else (", characters" if self._chars else ", words")
        how = f"modified={self.modified}" if self.discount is None else \
            f"discount={self.discount}"
        return f"KneserNey(order={self.order}, {how}{kind}, {fitted})"

    # ------------------------------------------------------------ encoding

    def _check_kind(self, tokens) -> bool:
        if isinstance(tokens, str):
            return True
        if isinstance(tokens, (list, tuple)) and all(isinstance(t, str) for t in tokens):
            return False
        raise TypeError("tokens must be a str (characters) or a list of str (words), got "
                        f"{type(tokens).__name__}")

    def encode(self, tokens: str | Sequence[str]) -> np.ndarray:
        """Token ids (int64); tokens never seen in training get id V (the unknown outcome)."""
        self._require_fit()
        chars = self._check_kind(tokens)
        if chars != self._chars:
            what = "a str of characters" if self._chars else "a list of word strings"
            raise TypeError(f"this model was fitted on {what}; score the same kind of tokens")
        V = len(self.vocab)
        if chars:
            cps = np.frombuffer(tokens.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
            pos = np.searchsorted(self._codepoints, cps)
            pos = np.minimum(pos, V - 1)
            ids = np.where(self._codepoints[pos] == cps, pos, V)
        else:
            idx = self._index
            ids = np.fromiter((idx.get(t, V) for t in tokens), dtype=np.int64, count=len(tokens))
        if self.unk_mass == 0 and ids.size and ids.max() == V:
            bad = next(t for t, i in zip(tokens, ids) if i == V)
            raise ValueError(f"token {bad!r} was never seen in training and unk_mass=0; fit on "
                             "text that contains it, map it to a known token, or use unk_mass > 0")
        return ids

    # ------------------------------------------------------------ fitting

    def fit(self, tokens: str | Sequence[str]) -> "KneserNey":
        """Count the n-grams of `tokens` (a str: characters; a list of str: words)."""
        chars = self._check_kind(tokens)
        if len(tokens) < 2:
            raise ValueError(f"need at least 2 training tokens, got {len(tokens)}")
        if chars:
            cps = np.frombuffer(tokens.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
            self._codepoints, ids = np.unique(cps, return_inverse=True)
            self.vocab = [chr(c) for c in self._codepoints]
        else:
            self.vocab = sorted(set(tokens))
            self._index = {t: i for i, t in enumerate(self.vocab)}
            ids = np.fromiter((self._index[t] for t in tokens), dtype=np.int64, count=len(tokens))
        self._chars = chars
        self._fit_ids(ids.astype(np.int64))
        return self

    def _fit_ids(self, ids: np.ndarray) -> None:
        V, N, n = len(self.vocab), ids.size, self.order
        self._orders: list[_Order] = []
        ctx_row = np.zeros(N, dtype=np.int64)  # row of the (k-1)-gram ending at i-1 (k=1: row 0)
        pending = None  # the order k-1 table, waiting for its continuation counts
        for k in range(1, n + 1):
            pos = np.arange(k - 1, N)  # a k-gram ends at each of these positions
            keys, inverse, raw = np.unique(ctx_row[pos] * V + ids[pos], return_inverse=True,
                                           return_counts=True)
            end_row = np.full(N, -1, dtype=np.int64)
            end_row[pos] = inverse.reshape(-1)
            if pending is not None:
                # Continuation count of a (k-1)-gram = number of distinct k-grams it ends
                # (= distinct tokens seen before it), plus one for the occurrence that starts the
                # text (its left neighbour is the start). The suffix of the k-gram ending at i
                # is the (k-1)-gram ending at i.
                p_keys, p_end = pending
                first = np.empty(keys.size, dtype=np.int64)
                first[inverse.reshape(-1)] = pos  # any occurrence of each k-gram will do
                cont = np.bincount(p_end[first], minlength=p_keys.size)
                if k - 2 < N:
                    cont[p_end[k - 2]] += 1
                self._add_order(k - 1, p_keys, cont.astype(np.float64))
            pending = (keys, end_row)
            ctx_row = np.full(N, -1, dtype=np.int64)
            ctx_row[1:] = end_row[:-1]
        self._add_order(n, keys, raw.astype(np.float64))
        self.n_tokens = N

    def _add_order(self, k: int, keys: np.ndarray, counts: np.ndarray) -> None:
        """Store the order-k table with its discounts and per-context totals."""
        V = len(self.vocab)
        n_ctx = 1 if k == 1 else self._orders[k - 2].keys.size
        ctx = keys // V
        total = np.bincount(ctx, weights=counts, minlength=n_ctx)
        if k == 1:  # the unigram level is not discounted
            d, disc, gamma = np.zeros(3), np.zeros_like(counts), np.zeros(1)
        else:
            d = kn_discounts(counts, self.modified) if self.discount is None else \
                np.full(3, self.discount)
            disc = d[np.minimum(counts, 3).astype(np.int64) - 1]
            gamma = np.bincount(ctx, weights=disc, minlength=n_ctx)
        self._orders.append(_Order(keys, counts, disc, total, gamma, d))

    def _require_fit(self) -> None:
        if self.vocab is None:
            raise RuntimeError("call fit(tokens) before scoring")

    @property
    def discounts(self) -> list[np.ndarray]:
        """(D1, D2, D3+) of orders 2..order (order 1 is not discounted)."""
        self._require_fit()
        return [o.d for o in self._orders[1:]]

    # ------------------------------------------------------------ scoring

    def _probs_ids(self, ids: np.ndarray) -> np.ndarray:
        """p(ids[i] | up to order-1 previous ids) for every i >= 1, as float64 (len(ids)-1,)."""
        V, T = len(self.vocab), ids.size
        o1 = self._orders[0]
        known = ids < V
        safe = np.where(known, ids, 0)
        p = np.where(known, (1 - self.unk_mass) * o1.counts[safe] / o1.total[0], self.unk_mass)
        # row of the order-1 gram (the token itself) at each position; -1 if unknown
        row = np.where(known, ids, -1)  # order-1 keys are 0*V + w = w, all present if known
        for k in range(2, self.order + 1):
            o = self._orders[k - 1]
            if o.keys.size == 0:  # training text shorter than k tokens
                break
            ctx = np.full(T, -1, dtype=np.int64)
            ctx[1:] = row[:-1]      # (k-1)-gram ending at i-1
            ctx[: k - 1] = -1       # not enough history: keep the lower-order estimate
            has = ctx >= 0
            key = np.where(has & known, ctx * V + safe, -1)
            j = np.searchsorted(o.keys, key)
            j = np.minimum(j, o.keys.size - 1)
            hit = (key >= 0) & (o.keys[j] == key)
            c = np.where(hit, o.counts[j], 0.0)
            dsc = np.where(hit, o.disc[j], 0.0)
            cs = np.where(has, ctx, 0)
            tot = np.where(has, o.total[cs], 0.0)
            gam = np.where(has, o.gamma[cs], 0.0)
            seen = tot > 0
            p = np.where(seen, (np.maximum(c - dsc, 0.0) + gam * p) / np.where(seen, tot, 1.0), p)
            row = np.where(hit, j, -1)
        return p[1:]

    def token_log_probs(self, tokens: str | Sequence[str]) -> np.ndarray:
        """log p (nats) of tokens[1:], each given up to order-1 tokens before it."""
        ids = self.encode(tokens)
        if ids.size < 2:
            raise ValueError(f"need at least 2 tokens to score, got {ids.size}")
        return np.log(self._probs_ids(ids))

    def nll(self, tokens: str | Sequence[str]) -> float:
        """Mean negative log-likelihood in nats per token of tokens[1:]."""
        return float(-self.token_log_probs(tokens).mean())

    def perplexity(self, tokens: str | Sequence[str]) -> float:
        """exp(nll(tokens))."""
        return float(np.exp(self.nll(tokens)))

    def log_prob(self, context: str | Sequence[str], token: str) -> float:
        """log p(token | last order-1 tokens of context), in nats."""
        if not isinstance(token, str) or (self._chars and len(token) != 1):
            raise ValueError(f"token must be one {'character' if self._chars else 'word'}, "
                             f"got {token!r}")
        keep = self.order - 1
        ctx = context[max(0, len(context) - keep):] if keep else context[:0]
        seq = ctx + token if isinstance(ctx, str) else list(ctx) + [token]
        if len(seq) == 1:  # no context: the order-1 distribution
            ids = self.encode(seq)
            o1 = self._orders[0]
            p = self.unk_mass if ids[0] == len(self.vocab) else \
                (1 - self.unk_mass) * o1.counts[ids[0]] / o1.total[0]
            return float(np.log(p))
        # score the last token with its full (truncated) context
        return float(np.log(self._probs_ids(self.encode(seq))[-1]))

    def next_distribution(self, context: str | Sequence[str]) -> np.ndarray:
        """p(w | context) for every vocabulary entry, then the unknown outcome: (V+1,), sums to 1."""
        self._require_fit()
        V = len(self.vocab)
        keep = self.order - 1
        ctx = self.encode(context[max(0, len(context) - keep):] if keep else context[:0])
        o1 = self._orders[0]
        p = np.append((1 - self.unk_mass) * o1.counts / o1.total[0], self.unk_mass)
        # rows of the suffixes of the context in each order's table
        for k in range(2, self.order + 1):
            if ctx.size < k - 1:
                break
            h = ctx[ctx.size - (k - 1):]
            r = self._row(h)
            if r < 0:
                break
            o = self._orders[k - 1]
            if o.total[r] <= 0:
                continue
            lo, hi = np.searchsorted(o.keys, [r * V, (r + 1) * V])
            w = o.keys[lo:hi] - r * V
            q = o.gamma[r] * p
            q[w] += np.maximum(o.counts[lo:hi] - o.disc[lo:hi], 0.0)
            p = q / o.total[r]
        return p

    def _row(self, h: np.ndarray) -> int:
        """Row of the gram `h` (token ids) in the order-len(h) table, or -1 if never seen."""
        V = len(self.vocab)
        r = 0
        for k, w in enumerate(h, start=1):
            if w >= V:
                return -1
            key = r * V + int(w) if k > 1 else int(w)
            keys = self._orders[k - 1].keys
            j = int(np.searchsorted(keys, key))
            if j >= keys.size or keys[j] != key:
                return -1
            r = j
        return r

    def sample(self, prompt: str | Sequence[str], length: int, seed: int = 0,
               temperature: float = 1.0) -> str | list[str]:
        """`length` tokens drawn after `prompt` (same seed, same output); never the unknown one."""
        self._require_fit()
        if length < 0:
            raise ValueError(f"length must be >= 0, got {length}")
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        rng = np.random.default_rng(seed)
        out = list(prompt)
        for _ in range(length):
            ctx = out[max(0, len(out) - self.order + 1):] if self.order > 1 else []
            p = self.next_distribution("".join(ctx) if self._chars else ctx)[:-1]
            p = p ** (1.0 / temperature)
            out.append(self.vocab[rng.choice(p.size, p=p / p.sum())])
        gen = out[len(prompt):]
        return "".join(gen) if self._chars else gen
