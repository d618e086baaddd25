"""The corpora of Assignment 3 (assignments/03_char_lm/corpora.py): the generated source and its exact entropy rate,
the n-gram baselines, the character vocabulary on any script, and the download path, tested against a server on
127.0.0.1 that the test starts (no test needs the internet)."""
import hashlib
import math

import numpy as np
import pytest

from autograder import project
from tests.http_server import Server, closed_port_url

corpora = project.public_module("03_char_lm", "corpora")


# ---------------------------------------------------------------------------------------------------- generated text
def test_sources_are_functions_of_their_seed():
    a, b, c = corpora.default_source(5), corpora.default_source(5), corpora.default_source(6)
    assert np.array_equal(a.emission, b.emission) and np.array_equal(a.transition, b.transition)
    assert not np.array_equal(a.emission, c.emission)
    assert np.array_equal(a.sample_ids(500, seed=1), b.sample_ids(500, seed=1))
    assert not np.array_equal(a.sample_ids(500, seed=1), a.sample_ids(500, seed=2))
    assert a.sample(40, seed=3) == b.sample(40, seed=3) and set(a.sample(400, seed=3)) <= set(a.alphabet)
    streams = a.sample_ids(30, seed=4, num_streams=5)
    assert streams.shape == (5, 30) and streams.dtype == np.int32


def test_sources_from_a_keyed_generator():
    """The grader keys its hidden source with a generator of its own (a SeedSequence of a secret): the public
    generators accept one, and what they make from it is not what any small integer seed makes."""
    key = np.random.SeedSequence([987654321, 42])
    a = corpora.random_automaton(seed=np.random.default_rng(key), num_states=16)
    b = corpora.random_automaton(seed=np.random.default_rng(key), num_states=16)
    assert np.array_equal(a.emission, b.emission) and np.array_equal(a.transition, b.transition)
    for seed in range(50):
        other = corpora.random_automaton(seed=seed, num_states=16)
        assert not (np.allclose(other.emission, a.emission) and np.array_equal(other.transition, a.transition))
    ids = a.sample_ids(200, seed=np.random.default_rng(key.spawn(1)[0]), num_streams=3)
    assert ids.shape == (3, 200) and set(np.unique(ids).tolist()) <= set(range(len(a.alphabet)))


def test_entropy_rate_of_a_source_worked_out_by_hand():
    # State 0 emits 'a' (stay) or 'b' (go to 1) with probability 1/2 each; state 1 always emits 'a' and goes back.
    # Stationary distribution (2/3, 1/3), so the entropy rate is 2/3 * ln 2.
    source = corpora.CharSource("ab", [[0.5, 0.5], [1.0, 0.0]], [[0, 1], [0, 0]])
    assert np.allclose(source.stationary(), [2 / 3, 1 / 3])
    assert source.entropy_rate() == pytest.approx(2 / 3 * math.log(2), rel=1e-12)
    assert source.perplexity_floor() == pytest.approx(2 ** (2 / 3), rel=1e-12)
    # symbol frequencies: 'a' 2/3 * 1/2 + 1/3 = 2/3, 'b' 1/3
    assert source.unigram_perplexity() == pytest.approx(math.exp(-(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))))


def test_entropy_rate_matches_a_long_sample():
    """The mean surprise of each next character given all the text before it (the exact predictive probability,
    by filtering the automaton's state) converges to the entropy rate."""
    source = corpora.default_source(0)
    ids = source.sample_ids(100_000, seed=7)
    belief, total = source.stationary(), 0.0
    states = np.arange(source.num_states)
    for a in ids.tolist():
        joint = belief * source.emission[:, a]
        p = joint.sum()
        total -= math.log(p)
        belief = np.zeros(source.num_states)
        np.add.at(belief, source.transition[states, a], joint / p)
    assert total / len(ids) == pytest.approx(source.entropy_rate(), rel=0.02)
    frequencies = np.bincount(ids, minlength=len(source.alphabet)) / len(ids)
    assert np.allclose(frequencies, source.unigram_probabilities(), atol=0.01)


def test_ngram_baselines_approach_but_never_beat_the_floor():
    source = corpora.default_source(1)
    train, test = source.sample_ids(60_000, seed=1), source.sample_ids(30_000, seed=2)
    V = len(source.alphabet)
    ppl = [corpora.ngram_perplexity(train, test, n, V) for n in (1, 2, 3, 4)]
    assert ppl[0] == pytest.approx(source.unigram_perplexity(), rel=0.02)
    assert ppl[0] > ppl[1] > ppl[2] > source.perplexity_floor() * 0.98
    assert min(ppl) > source.perplexity_floor() * 0.98


def test_ngram_perplexity_by_hand():
    # bigram on train "abab", add-1 smoothing over 2 symbols: P(b|a) = (2+1)/(2+2), P(a|b) = (1+1)/(1+2)
    got = corpora.ngram_perplexity([0, 1, 0, 1], [0, 1, 0], 2, 2, alpha=1.0)
    assert got == pytest.approx(math.exp(-(math.log(3 / 4) + math.log(2 / 3)) / 2))
    # unseen contexts fall back to uniform
    assert corpora.ngram_perplexity([0, 0, 0], [1, 1, 1], 2, 3, alpha=0.5) == pytest.approx(3.0)


def test_every_kind_of_source_is_irreducible():
    for seed in range(20):
        corpora.markov_source(order=3, alphabet="abcde ", seed=seed, branching=2)
        corpora.random_automaton(num_states=30, seed=seed, branching=1)
    with pytest.raises(ValueError, match="irreducible"):
        corpora.CharSource("ab", [[1.0, 0.0], [1.0, 0.0]], [[0, 1], [1, 1]])


# ---------------------------------------------------------------------------------------------------- text and vocab
def test_letters_only_and_load_text(tmp_path):
    assert corpora.letters_only("Hello, World!\n42 Times...") == "hello world times"
    path = tmp_path / "poem.txt"
    path.write_text("Ærø — 東京\r\nline two\n", encoding="utf-8")
    assert corpora.load_text(path) == "Ærø — 東京\nline two\n"


def test_vocab_orders_a_large_non_latin_text(tmp_path):
    from solutions.char_lm import build_char_vocab
    rng = np.random.default_rng(0)
    pool = [chr(c) for c in rng.choice(np.arange(0x4E00, 0x9FFF), size=1500, replace=False)]
    weights = 1.0 / np.arange(1, len(pool) + 1)
    text = "".join(rng.choice(pool, size=30_000, p=weights / weights.sum())) + "".join(pool) + "\n"
    path = tmp_path / "lyrics.txt"
    path.write_text(text, encoding="utf-8")
    char_to_idx, idx_to_char = build_char_vocab(corpora.load_text(path))
    assert len(idx_to_char) == len(set(text)) > 1000
    counts = corpora.char_counts(text)
    keys = [(-counts[c], ord(c)) for c in idx_to_char]
    assert keys == sorted(keys)
    assert all(idx_to_char[i] == c for c, i in char_to_idx.items())


def test_stdlib_docs_are_there_and_used_offline(capsys):
    docs = corpora.load_stdlib_docs()
    assert docs is not None and len(docs) > 100_000
    name, text = corpora.load_default_corpus(online=False, cache_dir="/nonexistent/rnnkit-cache")
    assert name == "Python documentation" and text == docs


def test_generated_fallback_without_pydoc_data(monkeypatch):
    monkeypatch.setattr(corpora, "load_stdlib_docs", lambda: None)
    name, text = corpora.load_default_corpus(online=False, cache_dir="/nonexistent/rnnkit-cache")
    assert name == "generated" and len(text) == 200_000 and set(text) <= set(corpora.default_source().alphabet)


# ---------------------------------------------------------------------------------------------------- downloads
@pytest.fixture
def server():
    content = ("a stand-in corpus served by the test, line after line\n" * 50).encode("utf-8")
    s = Server({"/data/timemachine.txt": content, "/data/other.txt": b"something else\n"})
    s.content, s.sha1 = content, hashlib.sha1(content).hexdigest()
    yield s
    s.close()


def test_download_verifies_and_caches(server, tmp_path):
    cache = tmp_path / "cache"
    text = corpora.load_time_machine(cache, url=server.url + "/data/timemachine.txt", sha1=server.sha1)
    assert text == server.content.decode("utf-8")
    assert corpora.sha1_of(cache / "timemachine.txt") == server.sha1
    assert server.requests == ["/data/timemachine.txt"]
    again = corpora.load_time_machine(cache, url=server.url + "/data/timemachine.txt", sha1=server.sha1)
    assert again == text and len(server.requests) == 1, "a cached, verified file must not be downloaded again"
    assert [p.name for p in cache.iterdir()] == ["timemachine.txt"], "no partial files may be left behind"


def test_wrong_checksum_fails_clearly_and_caches_nothing(server, tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(corpora.ChecksumMismatch) as err:
        corpora.load_time_machine(cache, url=server.url + "/data/other.txt", sha1=server.sha1)
    message = str(err.value)
    assert server.sha1 in message and hashlib.sha1(b"something else\n").hexdigest() in message
    assert "Nothing was cached" in message
    assert not (cache / "timemachine.txt").exists()


def test_corrupted_cache_is_downloaded_again(server, tmp_path, capsys):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "timemachine.txt").write_text("truncated")
    text = corpora.load_time_machine(cache, url=server.url + "/data/timemachine.txt", sha1=server.sha1)
    assert text == server.content.decode("utf-8") and len(server.requests) == 1
    assert "downloading it again" in capsys.readouterr().out


def test_http_error_and_offline_give_a_clear_message(server, tmp_path):
    with pytest.raises(corpora.CorpusUnavailable, match="404"):
        corpora.load_time_machine(tmp_path, url=server.url + "/data/missing.txt", sha1=server.sha1)
    with pytest.raises(corpora.CorpusUnavailable) as err:
        corpora.load_time_machine(tmp_path / "cache", url=closed_port_url(), sha1=server.sha1, timeout=5)
    message = str(err.value)
    assert "offline" in message and str(tmp_path / "cache") in message and server.sha1 in message
    assert "load_default_corpus()" in message
    assert not (tmp_path / "cache").exists()


def test_default_corpus_falls_back_when_the_download_fails(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(corpora, "TIME_MACHINE_URL", closed_port_url())
    name, text = corpora.load_default_corpus(cache_dir=tmp_path, timeout=5)
    out = capsys.readouterr().out
    assert name == "Python documentation" and text == corpora.load_stdlib_docs()
    assert "The Time Machine is not available" in out and "offline" in out
    assert "load_default_corpus" not in out   # it is what printed this: no advice to call it


def test_default_corpus_prefers_a_verified_cached_copy(server, monkeypatch, tmp_path):
    monkeypatch.setattr(corpora, "TIME_MACHINE_SHA1", server.sha1)
    corpora.load_time_machine(tmp_path, url=server.url + "/data/timemachine.txt")
    name, text = corpora.load_default_corpus(online=False, cache_dir=tmp_path)
    assert name == "The Time Machine" and text == server.content.decode("utf-8")
    assert len(server.requests) == 1
