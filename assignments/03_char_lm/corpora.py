"""Text corpora for the character-level language model.

Four sources, from the most to the least real:

* :func:`load_text` reads any UTF-8 text file, so you can train on a corpus of your own (in any language).
* :func:`load_time_machine` downloads H. G. Wells' *The Time Machine* (public domain) once, checks its SHA-1 and
  keeps it in a cache directory.
* :func:`load_stdlib_docs` reads the English documentation text that ships with CPython (``pydoc_data``), which is
  there even on a machine with no internet.
* :class:`CharSource` generates text from a random finite automaton whose entropy rate is known exactly, so every
  perplexity you measure on it can be compared with the best perplexity any model could reach.

:func:`load_default_corpus` picks the best of these that is available. :func:`ngram_perplexity` gives the unigram,
bigram and trigram baselines a recurrent network has to beat.
"""
import bisect
import collections
import hashlib
import math
import os
import pathlib
import re
import tempfile
import urllib.error
import urllib.request

import numpy as np

TIME_MACHINE_URL = "http://d2l-data.s3-accelerate.amazonaws.com/timemachine.txt"
TIME_MACHINE_SHA1 = "090b5e7e70c295757f55df93cb0a180b9691891a"


class CorpusUnavailable(RuntimeError):
    """A corpus could not be obtained (no network, server error); the message says what to do instead."""


class ChecksumMismatch(RuntimeError):
    """A downloaded file is not the expected one; nothing was cached."""


# --------------------------------------------------------------------------------------------------- plain text

def load_text(path, encoding="utf-8"):
    """Reads a whole text file.

    Args:
        path: path of the file (str or ``pathlib.Path``).
        encoding: its encoding; UTF-8 unless told otherwise.

    Returns:
        The text as one ``str``, line ends normalised to ``"\\n"``.
    """
    with open(path, encoding=encoding, newline=None) as f:
        return f.read()


def letters_only(text):
    """Lower-cases ``text`` and turns every run of characters other than the Latin letters a-z into one space.

    This is the usual preprocessing of The Time Machine: it leaves 27 symbols (26 letters and the space). Do not
    use it on text in other scripts; it would erase everything.
    """
    return re.sub(r"[^a-z]+", " ", text.lower()).strip()


# --------------------------------------------------------------------------------------------------- downloads

def default_cache_dir():
    """Where downloads are kept: ``$RNNKIT_DATA`` if set, else ``~/.cache/rnnkit``."""
    return pathlib.Path(os.environ.get("RNNKIT_DATA") or pathlib.Path.home() / ".cache" / "rnnkit")


def sha1_of(path):
    """SHA-1 hex digest of a file's bytes."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url, sha1, cache_dir=None, filename=None, timeout=10.0):
    """Downloads ``url`` into ``cache_dir`` unless a copy with the right SHA-1 is already there.

    Args:
        url: address of the file.
        sha1: expected SHA-1 hex digest of its bytes; a download that does not match is refused.
        cache_dir: directory of the cache (created if needed); :func:`default_cache_dir` if ``None``.
        filename: name of the cached file; the last part of ``url`` if ``None``.
        timeout: seconds to wait for the server before giving up.

    Returns:
        The ``pathlib.Path`` of the verified cached file.

    Raises:
        CorpusUnavailable: the server could not be reached (offline, wrong address, HTTP error).
        ChecksumMismatch: the server sent bytes with another SHA-1 (nothing is written to the cache).
    """
    cache_dir = pathlib.Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache_dir / (filename or url.rstrip("/").rsplit("/", 1)[-1])
    if target.exists():
        if sha1_of(target) == sha1:
            return target
        print(f"{target} is not the expected file (SHA-1 mismatch); downloading it again.")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data = response.read()
    except urllib.error.HTTPError as err:
        raise CorpusUnavailable(
            f"The server at {url} answered HTTP {err.code} ({err.reason}): the address may be wrong or the file "
            f"gone. Copy the file into {cache_dir} yourself (it must have SHA-1 {sha1}), or use "
            "load_default_corpus(), which works offline.") from None
    except (urllib.error.URLError, OSError) as err:  # no network, no such host, refused connection, timeout
        reason = getattr(err, "reason", None) or err
        raise CorpusUnavailable(
            f"Could not download {url} ({reason}). You may be offline. Either copy the file into {cache_dir} "
            f"(it must have SHA-1 {sha1}), or use load_default_corpus(), which works offline.") from None
    got = hashlib.sha1(data).hexdigest()
    if got != sha1:
        raise ChecksumMismatch(
            f"The file downloaded from {url} has SHA-1 {got}, expected {sha1}: the server sent something else "
            f"(an error page, a changed file). Nothing was cached.")
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Write under a temporary name first so an interrupted run never leaves half a file under the real name.
    fd, partial = tempfile.mkstemp(dir=cache_dir, prefix=target.name, suffix=".part")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(partial, target)
    return target


def load_time_machine(cache_dir=None, url=None, sha1=None, timeout=10.0):
    """The raw text of H. G. Wells' *The Time Machine*, downloaded on first use and cached.

    Args:
        cache_dir: cache directory (see :func:`download`).
        url: where to download it from; ``TIME_MACHINE_URL`` (d2l's copy) if ``None``.
        sha1: its expected SHA-1; ``TIME_MACHINE_SHA1`` if ``None``.
        timeout: seconds to wait for the server.

    Returns:
        The text (about 179,000 characters); apply :func:`letters_only` for the usual 27-symbol version.

    Raises:
        CorpusUnavailable, ChecksumMismatch: see :func:`download`.
    """
    return load_text(download(url or TIME_MACHINE_URL, sha1 or TIME_MACHINE_SHA1, cache_dir, "timemachine.txt",
                              timeout))


def load_stdlib_docs():
    """English documentation text shipped with CPython (``pydoc_data.topics``, about 465,000 characters).

    Returns:
        The text, or ``None`` if this Python installation lacks the ``pydoc_data`` package.
    """
    try:
        from pydoc_data.topics import topics
    except ImportError:
        return None
    return "\n\n".join(topics[key] for key in sorted(topics))


def load_default_corpus(online=True, cache_dir=None, timeout=5.0):
    """The best English corpus available here, and its name.

    The Time Machine if it is cached or can be downloaded (when ``online``), else CPython's documentation text,
    else 200,000 characters from :func:`default_source`. Says which one it chose and why.

    Args:
        online: whether to try downloading The Time Machine.
        cache_dir: cache directory (see :func:`download`).
        timeout: seconds to wait for the server.

    Returns:
        ``(name, text)``.
    """
    cached = (pathlib.Path(cache_dir) if cache_dir is not None else default_cache_dir()) / "timemachine.txt"
    if online or cached.exists():
        try:
            return "The Time Machine", load_time_machine(cache_dir, timeout=timeout)
        except (CorpusUnavailable, ChecksumMismatch) as err:
            where = pathlib.Path(cache_dir) if cache_dir is not None else default_cache_dir()
            reason = str(err).split(". ")[0]   # the first sentence: what went wrong (the rest is advice for callers)
            print(f"The Time Machine is not available ({reason}; perhaps this machine is offline), so another "
                  f"corpus is used. To use it offline, copy timemachine.txt (SHA-1 {TIME_MACHINE_SHA1}) into {where}.")
    text = load_stdlib_docs()
    if text is not None:
        print("Using the Python documentation text (pydoc_data) as the corpus.")
        return "Python documentation", text
    print("Using text generated by corpora.default_source() as the corpus.")
    return "generated", default_source().sample(200_000, seed=0)


# --------------------------------------------------------------------------------------------------- baselines

def _ngram_codes(ids, n, vocab_size):
    """One int64 code per window of ``n`` consecutive ids (base-``vocab_size`` digits)."""
    ids = np.asarray(ids, dtype=np.int64)
    count = len(ids) - n + 1
    codes = np.zeros(max(count, 0), dtype=np.int64)
    for k in range(n):
        codes = codes * vocab_size + ids[k:k + count]
    return codes


def _lookup(table_keys, table_counts, keys):
    """Counts of ``keys`` in a table of sorted unique keys (0 where absent)."""
    pos = np.clip(np.searchsorted(table_keys, keys), 0, max(len(table_keys) - 1, 0))
    found = table_keys[pos] == keys if len(table_keys) else np.zeros(len(keys), bool)
    return np.where(found, table_counts[pos] if len(table_keys) else 0, 0)


def ngram_perplexity(train_ids, test_ids, n, vocab_size, alpha=0.1):
    """Perplexity on ``test_ids`` of an ``n``-gram model counted on ``train_ids``, with add-``alpha`` smoothing.

    ``P(c | context) = (count(context, c) + alpha) / (count(context) + alpha * vocab_size)`` where the context is
    the ``n - 1`` previous ids; the first ``n - 1`` test positions, which lack a full context, are not scored.

    Args:
        train_ids: 1-D sequence of int ids in ``[0, vocab_size)``.
        test_ids: 1-D sequence of int ids, longer than ``n``.
        n: order of the model (1 unigram, 2 bigram, 3 trigram, ...).
        vocab_size: number of distinct ids.
        alpha: pseudo-count added to every (context, next id) pair.

    Returns:
        ``exp(mean negative log-likelihood)`` as a float.
    """
    if n < 1 or vocab_size ** n >= 2 ** 62:
        raise ValueError(f"n={n} with vocab_size={vocab_size} is out of range")
    train = _ngram_codes(train_ids, n, vocab_size)
    test = _ngram_codes(test_ids, n, vocab_size)
    full_keys, full_counts = np.unique(train, return_counts=True)
    ctx_keys, ctx_counts = np.unique(train // vocab_size, return_counts=True)
    joint = _lookup(full_keys, full_counts, test)
    context = _lookup(ctx_keys, ctx_counts, test // vocab_size)
    log_p = np.log(joint + alpha) - np.log(context + alpha * vocab_size)
    return float(np.exp(-np.mean(log_p)))


# --------------------------------------------------------------------------------------------------- generated text

class CharSource:
    """A random source of characters whose entropy rate is known exactly: a unifilar probabilistic automaton.

    In state ``q`` the source emits symbol ``a`` with probability ``emission[q, a]`` and moves to state
    ``transition[q, a]``. Because the next state is a function of the current state and the emitted symbol, the
    history of the text determines the state, and the entropy rate (the uncertainty of the next character given
    the whole past) is ``sum_q pi(q) H(emission[q])`` with ``pi`` the stationary distribution. No model, however
    large, can reach a lower perplexity than ``exp(entropy_rate)`` on long text from this source.

    Args:
        alphabet: string of the distinct symbols.
        emission: float array (num_states, len(alphabet)), each row a probability distribution.
        transition: int array (num_states, len(alphabet)) of next states.
    """

    def __init__(self, alphabet, emission, transition):
        self.alphabet = str(alphabet)
        self.emission = np.asarray(emission, dtype=np.float64)
        self.transition = np.asarray(transition, dtype=np.int64)
        q, a = self.emission.shape
        if len(set(self.alphabet)) != a or self.transition.shape != (q, a):
            raise ValueError("alphabet, emission and transition disagree in shape")
        if not np.allclose(self.emission.sum(axis=1), 1.0) or (self.emission < 0).any():
            raise ValueError("every row of emission must be a probability distribution")
        if not _strongly_connected(self.emission > 0, self.transition):
            raise ValueError("the automaton must be irreducible (every state reachable from every state)")
        self.num_states = q
        self._cumulative = [list(np.cumsum(row)) for row in self.emission]

    def state_matrix(self):
        """(num_states, num_states) matrix of state-to-state transition probabilities."""
        matrix = np.zeros((self.num_states, self.num_states))
        for q in range(self.num_states):
            np.add.at(matrix[q], self.transition[q], self.emission[q])
        return matrix

    def stationary(self):
        """Stationary distribution ``pi`` over states: the solution of ``pi P = pi``, ``sum(pi) = 1``."""
        matrix = self.state_matrix()
        system = np.vstack([matrix.T - np.eye(self.num_states), np.ones(self.num_states)])
        rhs = np.zeros(self.num_states + 1)
        rhs[-1] = 1.0
        pi = np.linalg.lstsq(system, rhs, rcond=None)[0]
        return np.clip(pi, 0.0, None) / np.clip(pi, 0.0, None).sum()

    def entropy_rate(self):
        """Entropy rate in nats per character: ``sum_q pi(q) * H(emission[q])``."""
        p = self.emission
        row_entropy = -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=1)
        return float(self.stationary() @ row_entropy)

    def perplexity_floor(self):
        """``exp(entropy_rate)``: the best perplexity any model can reach on long text from this source."""
        return math.exp(self.entropy_rate())

    def unigram_probabilities(self):
        """Long-run frequency of each symbol (alphabet order): ``pi @ emission``."""
        return self.stationary() @ self.emission

    def unigram_perplexity(self):
        """Perplexity of the best model that ignores context: ``exp(H(symbol frequencies))``."""
        p = self.unigram_probabilities()
        p = p[p > 0]
        return math.exp(-float(np.sum(p * np.log(p))))

    def sample_ids(self, num_chars, seed=None, num_streams=None):
        """Draws symbol indices (positions in ``alphabet``), starting from a state drawn from ``pi``.

        Args:
            num_chars: length of the text.
            seed: int seed or ``np.random.Generator``.
            num_streams: if given, that many independent texts (each from its own random state).

        Returns:
            int32 array (num_chars,), or (num_streams, num_chars) when ``num_streams`` is given.
        """
        rng = np.random.default_rng(seed)
        pi = self.stationary()
        rows = []
        for _ in range(1 if num_streams is None else num_streams):
            state = int(rng.choice(self.num_states, p=pi))
            uniforms = rng.random(num_chars).tolist()
            row = np.empty(num_chars, dtype=np.int32)
            last = len(self.alphabet) - 1
            for i, u in enumerate(uniforms):
                a = min(bisect.bisect_right(self._cumulative[state], u), last)
                row[i] = a
                state = int(self.transition[state, a])
            rows.append(row)
        return rows[0] if num_streams is None else np.stack(rows)

    def sample(self, num_chars, seed=None):
        """Draws ``num_chars`` characters of text (see :meth:`sample_ids`)."""
        return "".join(self.alphabet[i] for i in self.sample_ids(num_chars, seed))

    def __repr__(self):
        return (f"CharSource({self.num_states} states, alphabet {self.alphabet!r}, entropy rate "
                f"{self.entropy_rate():.4f} nats, perplexity floor {self.perplexity_floor():.3f})")


def _strongly_connected(allowed, transition):
    """Whether every state reaches every other along transitions of non-zero probability."""
    num_states = transition.shape[0]
    forward = [set(transition[q][allowed[q]].tolist()) for q in range(num_states)]
    backward = [set() for _ in range(num_states)]
    for q, targets in enumerate(forward):
        for r in targets:
            backward[r].add(q)

    def reach(edges):
        seen, todo = {0}, [0]
        while todo:
            for r in edges[todo.pop()]:
                if r not in seen:
                    seen.add(r)
                    todo.append(r)
        return len(seen)

    return reach(forward) == num_states and reach(backward) == num_states


def _random_emission(rng, required, num_symbols, branching, concentration):
    """Each state q emits ``required[q]`` and up to ``branching - 1`` other symbols, with Dirichlet weights."""
    emission = np.zeros((len(required), num_symbols))
    for q, symbol in enumerate(required):
        others = rng.permutation([a for a in range(num_symbols) if a != symbol])
        support = [symbol, *others[:int(rng.integers(0, branching))]]
        emission[q, support] = rng.dirichlet(np.full(len(support), concentration))
    return emission


def _de_bruijn_symbols(num_symbols, order):
    """For each context code, the symbol that moves along one cycle through all ``num_symbols ** order`` contexts.

    Greedy construction: from the all-zero context, always append the largest symbol that reaches an unvisited
    context; this visits every context and ends next to the start.
    """
    num_states = num_symbols ** order
    symbols = np.zeros(num_states, dtype=np.int64)
    state, seen = 0, {0}
    for _ in range(num_states - 1):
        for a in range(num_symbols - 1, -1, -1):
            if (state * num_symbols + a) % num_states not in seen:
                break
        symbols[state] = a
        state = (state * num_symbols + a) % num_states
        seen.add(state)
    assert len(seen) == num_states and (state * num_symbols) % num_states == 0
    symbols[state] = 0  # closes the cycle: back to the all-zero context
    return symbols


def markov_source(order=2, alphabet="abcdefgh ", seed=0, branching=3, concentration=1.0):
    """A random Markov chain of the given order over ``alphabet``: the next symbol depends on the last ``order``.

    Each context of ``order`` symbols allows between 1 and ``branching`` next symbols with random (Dirichlet)
    probabilities. One allowed symbol per context follows a cycle through every context, so the chain is
    irreducible and its text visits every context.

    Returns:
        A :class:`CharSource` with ``len(alphabet) ** order`` states, a function of the arguments alone.
    """
    rng = np.random.default_rng(seed)
    num_symbols = len(alphabet)
    num_states = num_symbols ** order
    # State code = the context read as base-num_symbols digits; appending symbol a drops the oldest digit.
    transition = (np.arange(num_states)[:, None] * num_symbols + np.arange(num_symbols)[None, :]) % num_states
    emission = _random_emission(rng, _de_bruijn_symbols(num_symbols, order), num_symbols, branching, concentration)
    return CharSource(alphabet, emission, transition)


def random_automaton(num_states=12, alphabet="abcdefgh ", seed=0, branching=3, concentration=1.0):
    """A random unifilar automaton: its state can depend on characters arbitrarily far back, so no n-gram model
    reaches the floor exactly, while a recurrent network can.

    Returns:
        A :class:`CharSource` with ``num_states`` states, a function of the arguments alone.
    """
    rng = np.random.default_rng(seed)
    num_symbols = len(alphabet)
    required = rng.integers(0, num_symbols, size=num_states)
    emission = _random_emission(rng, required, num_symbols, branching, concentration)
    transition = rng.integers(0, num_states, size=(num_states, num_symbols))
    # Irreducible by construction: each state's required symbol leads to its successor on a random cycle.
    cycle = rng.permutation(num_states)
    successor = np.empty(num_states, dtype=np.int64)
    successor[cycle] = np.roll(cycle, -1)
    transition[np.arange(num_states), required] = successor
    return CharSource(alphabet, emission, transition)


def default_source(seed=0):
    """The generated corpus of the assignment: a random 16-state automaton over 8 letters and the space.

    Its text has structure at several distances: a bigram model is far from the floor, a trigram model closer,
    and a recurrent network that tracks the automaton's state can come close to ``perplexity_floor()``.
    """
    return random_automaton(num_states=16, alphabet="abcdefgh ", seed=seed)


def char_counts(text):
    """``collections.Counter`` of the characters of ``text`` (a convenience for exploring a corpus)."""
    return collections.Counter(text)
