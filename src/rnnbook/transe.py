"""Knowledge-base embeddings: Hinton's (1986) family trees and TransE (Bordes et al. 2013).

`family_facts()` generates the facts of the two isomorphic family trees (English and Italian,
12 people each) for 12 relations, from the marriages and children alone. TransE embeds each
person as a point e and each relation as a translation r so that e_head + r ~ e_tail; it is
trained with a margin ranking loss against corrupted facts and evaluated by filtered ranks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

RELATIONS = ("father", "mother", "husband", "wife", "son", "daughter",
             "uncle", "aunt", "brother", "sister", "nephew", "niece")

# (husband, wife, children); people are listed in the same order in both families, so that the
# i-th English person plays the same part as the i-th Italian one.
_ENGLISH = ["Christopher", "Penelope", "Andrew", "Christine", "Arthur", "Margaret",
            "Victoria", "James", "Jennifer", "Charles", "Colin", "Charlotte"]
_ITALIAN = ["Roberto", "Maria", "Pierro", "Francesca", "Emilio", "Gina",
            "Lucia", "Marco", "Angela", "Tomaso", "Alfonso", "Sophia"]
_MALE = {0, 2, 4, 7, 9, 10}
# couples as (husband, wife, children) in position indices
_COUPLES = [(0, 1, (4, 6)), (2, 3, (7, 8)), (4, 5, ()), (7, 6, (10, 11)), (9, 8, ())]


def _one_family(names: list[str]) -> set[tuple[str, str, str]]:
    parents: dict[int, tuple[int, int]] = {}
    spouse: dict[int, int] = {}
    for h, w, kids in _COUPLES:
        spouse[h], spouse[w] = w, h
        for k in kids:
            parents[k] = (h, w)
    facts: set[tuple[int, str, int]] = set()
    people = range(len(names))
    for x in people:
        if x in spouse:
            facts.add((x, "husband" if x not in _MALE else "wife", spouse[x]))
        if x in parents:
            father, mother = parents[x]
            facts |= {(x, "father", father), (x, "mother", mother)}
            facts |= {(p, "son" if x in _MALE else "daughter", x) for p in parents[x]}
            for y in people:  # siblings share both parents
                if y != x and parents.get(y) == parents[x]:
                    facts.add((x, "brother" if y in _MALE else "sister", y))
    # uncles and aunts: a parent's siblings and their spouses
    for x in people:
        for p in parents.get(x, ()):
            for (a, rel, s) in list(facts):
                if a == p and rel in ("brother", "sister"):
                    for relative in (s, spouse.get(s)):
                        if relative is not None:
                            facts.add((x, "uncle" if relative in _MALE else "aunt", relative))
    for (x, rel, y) in list(facts):
        if rel in ("uncle", "aunt"):
            facts.add((y, "nephew" if x in _MALE else "niece", x))
    return {(names[a], r, names[b]) for a, r, b in facts}


def family_facts() -> list[tuple[str, str, str]]:
    """All (person, relation, relative) facts of both trees, sorted: (Colin, uncle, Arthur) etc."""
    return sorted(_one_family(_ENGLISH) | _one_family(_ITALIAN))


def people() -> list[str]:
    """The 24 people: the English family, then the Italian one in corresponding order."""
    return _ENGLISH + _ITALIAN


@dataclass
class TransE:
    """Entity points and relation translations; score = -||e_h + r - e_t||."""

    entities: list[str]
    relations: list[str]
    E: torch.Tensor  # (n_entities, D)
    R: torch.Tensor  # (n_relations, D)
    p: int = 1

    def score(self, h: torch.Tensor, r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Plausibility of facts given as index tensors: minus the L_p distance of e_h + r to e_t."""
        return -torch.linalg.vector_norm(self.E[h] + self.R[r] - self.E[t], ord=self.p, dim=-1)

    def encode(self, facts: list[tuple[str, str, str]]) -> torch.Tensor:
        """Facts as an (n, 3) index tensor (head, relation, tail)."""
        ei = {e: i for i, e in enumerate(self.entities)}
        ri = {r: i for i, r in enumerate(self.relations)}
        return torch.tensor([[ei[h], ri[r], ei[t]] for h, r, t in facts], dtype=torch.long)


def train_transe(facts: list[tuple[str, str, str]], entities: list[str], relations: list[str],
                 dim: int = 20, margin: float = 1.0, epochs: int = 500, lr: float = 0.01,
                 p: int = 1, seed: int = 0) -> tuple[TransE, list[float]]:
    """Fit TransE by full-batch Adam on the margin loss; each fact is corrupted at head and tail."""
    if not facts:
        raise ValueError("facts is empty: nothing to train on")
    g = torch.Generator().manual_seed(seed)
    bound = 6 / dim**0.5  # the uniform initialisation of Bordes et al.
    E = (torch.rand(len(entities), dim, generator=g) * 2 - 1) * bound
    R = (torch.rand(len(relations), dim, generator=g) * 2 - 1) * bound
    R = R / R.norm(dim=1, keepdim=True)
    E.requires_grad_(True)
    R.requires_grad_(True)
    model = TransE(entities, relations, E, R, p)
    x = model.encode(facts)
    opt = torch.optim.Adam([E, R], lr=lr)
    losses = []
    for _ in range(epochs):
        with torch.no_grad():  # entities stay on the unit sphere, so distances cannot shrink for free
            E /= E.norm(dim=1, keepdim=True)
        h, r, t = x[:, 0], x[:, 1], x[:, 2]
        fake = torch.randint(len(entities), (2, len(x)), generator=g)
        pos = model.score(h, r, t)
        loss = (torch.relu(margin - pos + model.score(fake[0], r, t)).mean()
                + torch.relu(margin - pos + model.score(h, r, fake[1])).mean())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        E /= E.norm(dim=1, keepdim=True)
    model.E, model.R = E.detach(), R.detach()
    return model, losses


def filtered_ranks(model: TransE, test: list[tuple[str, str, str]],
                   known: list[tuple[str, str, str]]) -> np.ndarray:
    """Rank of the true tail, then of the true head, of each test fact among all entities,
    other known true answers removed ("filtered"); 1 is best."""
    known_set = {tuple(f) for f in model.encode(known).tolist()}
    ranks = []
    n = len(model.entities)
    with torch.no_grad():
        for h, r, t in model.encode(test).tolist():
            every = torch.arange(n)
            for side in ("tail", "head"):
                if side == "tail":
                    s = model.score(torch.full((n,), h), torch.full((n,), r), every)
                    other = [e for e in range(n) if e != t and (h, r, e) in known_set]
                    true = t
                else:
                    s = model.score(every, torch.full((n,), r), torch.full((n,), t))
                    other = [e for e in range(n) if e != h and (e, r, t) in known_set]
                    true = h
                s[other] = -np.inf
                ranks.append(1 + int((s > s[true]).sum()))
    return np.array(ranks)


def link_prediction(ranks: np.ndarray, ks: tuple[int, ...] = (1, 3, 10)) -> dict[str, float]:
    """Mean rank, mean reciprocal rank and hits@k of filtered ranks."""
    ranks = np.asarray(ranks, dtype=float)
    out = {"mean_rank": float(ranks.mean()), "mrr": float((1 / ranks).mean())}
    out.update({f"hits@{k}": float((ranks <= k).mean()) for k in ks})
    return out
