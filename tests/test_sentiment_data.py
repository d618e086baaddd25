"""The public data module of Assignment 2: the generator, its labels, the baseline and the loaders. No network: the
IMDB loader is pointed at files and at a 127.0.0.1 server that the tests make."""
import collections
import json
import os

import numpy as np
import pytest

from autograder import project
from tests.http_server import Server, closed_port_url

data = project.public_module("02_sentiment", "sentiment_data")


# ---------------------------------------------------------------------------------------------------- generator
def test_tokenize_lowercases_and_drops_punctuation():
    assert data.tokenize("The plot was NOT good, but I didn't care.") == \
        ["the", "plot", "was", "not", "good", "but", "i", "didn't", "care"]
    assert data.tokenize("  ") == []


def test_generate_is_deterministic_and_seed_dependent():
    a, b = data.generate(300, seed=5), data.generate(300, seed=5)
    assert a.sentences == b.sentences and np.array_equal(a.labels, b.labels) and a.kinds == b.kinds
    assert data.generate(300, seed=6).sentences != a.sentences
    assert a.labels.dtype == np.int32 and len(set(a.sentences)) == 300


def test_generate_balances_labels_within_every_kind():
    examples = data.generate(1000, seed=1)
    kinds = np.array(examples.kinds)
    for kind, share in data.KIND_SHARES.items():
        count = int(np.sum(kinds == kind))
        assert count == round(1000 * share)
        assert abs(int(examples.labels[kinds == kind].sum()) * 2 - count) <= 1


def test_splits_are_disjoint_and_sized():
    splits = data.make_splits(3, {"train": 400, "validation": 100, "test": 200})
    assert {k: len(v.sentences) for k, v in splits.items()} == {"train": 400, "validation": 100, "test": 200}
    seen = [set(v.sentences) for v in splits.values()]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])


def _composed_label(sentence):
    """An independent reading of the grammar: a negation flips the adjective after it, 'and' joins clauses that
    agree, and after 'but' the second clause decides."""
    def clause_polarity(words):
        adjectives = [w for w in words if w in data.POSITIVE or w in data.NEGATIVE]
        assert len(adjectives) == 1, words
        polarity = 1 if adjectives[0] in data.POSITIVE else -1
        negations = [w for w in words if w in data.NEGATIONS]
        assert len(negations) <= 1 and (not negations or words.index(negations[0]) < words.index(adjectives[0]))
        return -polarity if negations else polarity

    words = data.tokenize(sentence)
    if "but" in words:
        first, second = words[:words.index("but")], words[words.index("but") + 1:]
        assert clause_polarity(first) == -clause_polarity(second), sentence
        return int(clause_polarity(second) > 0)
    clauses, current = [], []
    for w in words + ["and"]:
        if w == "and":
            clauses.append(current)
            current = []
        else:
            current.append(w)
    polarities = {clause_polarity(c) for c in clauses}
    assert len(polarities) == 1, f"clauses joined by 'and' disagree: {sentence}"
    return int(polarities.pop() > 0)


def test_labels_follow_the_composition_rules():
    examples = data.generate(3000, seed=7)
    for sentence, label, kind in zip(*examples):
        assert _composed_label(sentence) == label, sentence
        assert data.sentence_kind(sentence) == kind, sentence


def test_a_negation_never_takes_an_intensifier():
    """'not very weak' is a hedge, not a compliment: the grammar never makes it, so every label is right."""
    examples = data.generate(5000, seed=12)
    for sentence in examples.sentences:
        words = data.tokenize(sentence)
        for i, word in enumerate(words[:-1]):
            if word in data.NEGATIONS:
                assert words[i + 1] not in data.INTENSIFIERS, sentence


def test_long_sentences_put_many_words_between_negation_and_adjective():
    examples = data.generate(4000, seed=13)
    rows = [(data.tokenize(s), y) for s, y, k in zip(*examples) if k == "long"]
    assert len(rows) == round(4000 * data.KIND_SHARES["long"])
    negated = 0
    for words, label in rows:
        assert len(words) <= 20, words  # fits the notebook's max_len: the adjective is never cut
        adjective = [i for i, w in enumerate(words) if w in data.POSITIVE or w in data.NEGATIVE]
        assert adjective == [len(words) - 1], words
        verb = next(i for i, w in enumerate(words) if w in data.VERBS)
        assert len(words) - 1 - verb >= data.LONG_ASIDE_WORDS + 1, words  # verb [negation] asides adjective
        negated += any(w in data.NEGATIONS for w in words)
    assert abs(negated / len(rows) - 0.5) < 0.06
    # the negation is as frequent in positive as in negative long sentences: only the order tells
    with_negation = [y for words, y in rows if any(w in data.NEGATIONS for w in words)]
    assert abs(np.mean(with_negation) - 0.5) < 0.08


def test_grading_shares_leave_out_the_long_slice():
    examples = data.generate(400, seed=3, shares=data.SHORT_KIND_SHARES)
    assert "long" not in examples.kinds and set(examples.kinds) == {"plain", "negated", "contrast"}


def test_bag_of_words_carries_no_label_information_in_hard_pairs():
    """In contrasted sentences and negated pairs, every word is as frequent in positive as in negative ones."""
    examples = data.generate(12000, seed=11)
    for kind in ("contrast", "negated"):
        rows = [(set(data.tokenize(s)), y) for s, y, k in zip(*examples) if k == kind]
        if kind == "negated":
            rows = [(bag, y) for bag, y in rows if "and" in bag]  # the pairs; a lone negated clause misleads
        for word in {w for bag, _ in rows for w in bag}:
            with_word = [y for bag, y in rows if word in bag]
            if len(with_word) >= 200:
                assert abs(np.mean(with_word) - 0.5) < 0.08, (kind, word, np.mean(with_word), len(with_word))


def test_bag_of_words_baseline_is_at_or_below_chance_on_hard_sentences():
    splits = data.make_splits(2, {"train": 2000, "test": 1000})
    train, test = splits["train"], splits["test"]
    bow = data.BagOfWords().fit([data.tokenize(s) for s in train.sentences], train.labels)
    right = bow.predict([data.tokenize(s) for s in test.sentences]) == test.labels
    kinds = np.array(test.kinds)
    assert right[kinds == "plain"].mean() > 0.85
    assert right[kinds == "negated"].mean() < 0.5
    assert 0.4 < right[kinds == "contrast"].mean() < 0.6
    assert 0.4 < right[kinds == "long"].mean() < 0.6
    again = data.BagOfWords().fit([data.tokenize(s) for s in train.sentences], train.labels)
    assert np.array_equal(again.W, bow.W)  # deterministic


def test_committed_data_is_the_generators_output(tmp_path):
    data.main([str(tmp_path)])
    committed = os.path.join(project.DATA, "02_sentiment")
    for name in ("train", "validation", "test"):
        with open(tmp_path / f"{name}.tsv", "rb") as a, open(os.path.join(committed, f"{name}.tsv"), "rb") as b:
            assert a.read() == b.read(), f"data/02_sentiment/{name}.tsv differs from `sentiment_data.py` output"
    size = sum(os.path.getsize(os.path.join(committed, n)) for n in os.listdir(committed))
    assert size < 1_000_000


# ---------------------------------------------------------------------------------------------------- load_tsv
def test_load_tsv_reads_sentences_and_labels(tmp_path):
    path = tmp_path / "corpus.tsv"
    path.write_bytes(b"sentence\tlabel\r\nA fine film.\t1\r\n\r\nTabs\tinside\tthe sentence\t0\r\nMeh.\t 0 \n")
    sentences, labels = data.load_tsv(str(path))
    assert sentences == ["A fine film.", "Tabs\tinside\tthe sentence", "Meh."]
    assert labels.dtype == np.int32 and labels.tolist() == [1, 0, 0]


def test_load_tsv_round_trips_write_tsv(tmp_path):
    examples = data.generate(50, seed=0)
    data.write_tsv(tmp_path / "x.tsv", examples.sentences, examples.labels)
    sentences, labels = data.load_tsv(tmp_path / "x.tsv")
    assert sentences == examples.sentences and np.array_equal(labels, examples.labels)


def test_load_tsv_named_labels(tmp_path):
    path = tmp_path / "named.tsv"
    path.write_text("good stuff\tpos\nbad stuff\tneg\n", encoding="utf-8")
    assert data.load_tsv(str(path), label_names=["neg", "pos"])[1].tolist() == [1, 0]
    with pytest.raises(ValueError, match=r"named.tsv:2: label 'neg' is not one of \['pos'\]"):
        data.load_tsv(str(path), label_names=["pos"])


@pytest.mark.parametrize("text, message", [
    ("ok\t1\nno tab here\n", r"bad.tsv:2: expected 'sentence<TAB>label'"),
    ("ok\t1\nodd\tpositive\n", r"bad.tsv:2: label 'positive' is not a class number"),
])
def test_load_tsv_names_the_bad_line(tmp_path, text, message):
    path = tmp_path / "bad.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        data.load_tsv(str(path))


# ---------------------------------------------------------------------------------------------------- load_imdb
WORDS = {"the": 1, "movie": 2, "was": 3, "good": 4, "bad": 5, "plot": 6}


def _fake_imdb(folder):
    """A tiny archive in the layout of keras.datasets' imdb.npz: ragged lists of word ranks, sorted by label."""
    folder.mkdir(parents=True, exist_ok=True)
    def ragged(rows):
        array = np.empty(len(rows), dtype=object)
        for i, row in enumerate(rows):
            array[i] = list(row)
        return array
    np.savez(folder / "imdb.npz",
             x_train=ragged([[1, 2, 3, 4], [1, 6, 3, 5, 5], [2, 4]]), y_train=np.array([1, 0, 1]),
             x_test=ragged([[1, 6, 3, 4], [5]]), y_test=np.array([1, 0]))
    (folder / "imdb_word_index.json").write_text(json.dumps(WORDS), encoding="utf-8")


def _check_reviews(splits):
    (train_texts, train_labels), (test_texts, test_labels) = splits
    assert sorted(zip(train_texts, train_labels.tolist())) == \
        [("movie good", 1), ("the movie was good", 1), ("the plot was bad bad", 0)]
    assert sorted(test_texts) == ["bad", "the plot was good"]
    assert train_labels.dtype == np.int32


def test_imdb_offline_and_uncached_names_the_alternatives(tmp_path):
    origin = closed_port_url().rsplit("/", 1)[0] + "/"
    with pytest.raises(data.DatasetUnavailable) as error:
        data.load_imdb(origin=origin, cache_dir=str(tmp_path), timeout=5)
    message = str(error.value)
    assert "\n" not in message
    assert "imdb.npz" in message and origin in message and str(tmp_path) in message
    assert "load_tsv" in message and "generated" in message


def test_imdb_uses_the_cache_without_network(tmp_path):
    _fake_imdb(tmp_path / "datasets")
    splits = data.load_imdb(origin=closed_port_url().rsplit("/", 1)[0] + "/", cache_dir=str(tmp_path), timeout=5)
    _check_reviews(splits)
    (train_texts, _), _ = data.load_imdb(max_words=2, limit=2, origin=closed_port_url().rsplit("/", 1)[0] + "/",
                                         cache_dir=str(tmp_path))
    assert len(train_texts) == 2 and all(len(t.split()) <= 2 for t in train_texts)


def test_imdb_downloads_once_into_the_cache(tmp_path):
    _fake_imdb(tmp_path / "server")
    server = Server({f"/{name}": (tmp_path / "server" / name).read_bytes()
                     for name in ("imdb.npz", "imdb_word_index.json")})
    origin = server.url + "/"
    try:
        _check_reviews(data.load_imdb(origin=origin, cache_dir=str(tmp_path / "cache"), timeout=5))
    finally:
        server.close()
    assert sorted(server.requests) == ["/imdb.npz", "/imdb_word_index.json"]   # each fetched once
    assert sorted(os.listdir(tmp_path / "cache" / "datasets")) == ["imdb.npz", "imdb_word_index.json"]
    _check_reviews(data.load_imdb(origin=origin, cache_dir=str(tmp_path / "cache"), timeout=5))  # server gone


def test_imdb_archive_cannot_smuggle_objects(tmp_path):
    folder = tmp_path / "datasets"
    _fake_imdb(folder)
    np.savez(folder / "imdb.npz", x_train=np.array([collections.OrderedDict()], dtype=object),
             y_train=np.array([1]), x_test=np.array([[1]], dtype=object), y_test=np.array([0]))
    with pytest.raises(Exception, match="refusing collections.OrderedDict"):
        data.load_imdb(origin=closed_port_url().rsplit("/", 1)[0] + "/", cache_dir=str(tmp_path))


def test_imdb_default_source_is_keras_datasets():
    assert data.IMDB_ORIGIN == "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
    assert set(data.IMDB_FILES) == {"imdb.npz", "imdb_word_index.json"}
