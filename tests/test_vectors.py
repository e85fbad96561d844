"""rnnbook.vectors: the word vectors and evaluation that word2vec, GloVe and sentiment share."""
import subprocess
import sys

import numpy as np
import pytest

from rnnbook import vectors


def test_word2vec_glove_and_sentiment_share_one_embeddings_type():
    from rnnbook import glove, word2vec
    assert word2vec.Embeddings is vectors.Embeddings and glove.Embeddings is vectors.Embeddings
    for name in ("analogy_accuracy", "wordsim_spearman", "evaluate", "read_analogies",
                 "gensim_test_file"):
        assert getattr(word2vec, name) is getattr(vectors, name)


def test_glove_does_not_import_the_word2vec_trainer():
    code = "import sys, rnnbook.glove; print('rnnbook.word2vec' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("method", ["add", "mul"])
def test_batched_analogy_accuracy_equals_one_question_at_a_time(tmp_path, method):
    rng = np.random.default_rng()
    words = [f"w{i}" for i in range(60)]
    emb = vectors.Embeddings(words, rng.normal(size=(60, 8)))
    lines, right = [": section one"], 0
    for k in range(40):
        if k == 20:
            lines.append(": section two")
        a, b, c = rng.choice(50, size=3, replace=False)  # w50.. are outside restrict_vocab=50
        d = rng.integers(0, 50) if k % 3 else int(np.argmax(rng.random(60)))
        # the file's order a b c d asks for b - a + c, which is Embeddings.analogy(b, a, c)
        q = [words[i] for i in (a, b, c, d)]
        lines.append(" ".join(q).upper())  # read_analogies lower-cases
        if all(int(w[1:]) < 50 for w in q):
            right += emb.restrict(50).analogy(q[1], q[0], q[2], method=method) == q[3]
    path = tmp_path / "questions.txt"
    path.write_text("\n".join(lines) + "\n")
    got = vectors.analogy_accuracy(emb, restrict_vocab=50, method=method, path=str(path), batch=7)
    answered = sum(all(int(w[1:]) < 50 for w in line.lower().split()) for line in lines[1:]
                   if not line.startswith(":"))
    assert got["questions"] == 40 and got["answered"] == answered
    assert got["accuracy"] == pytest.approx(right / answered)
    assert [name for name, _ in vectors.read_analogies(str(path))] == ["section one", "section two"]
