# Two commands do all set-up on a fresh Linux machine with Python 3.11+: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
RUN    := PATH="$(CURDIR)/$(VENV)/bin:$$PATH" TF_CPP_MIN_LOG_LEVEL=3

.PHONY: demo test check bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "rnnkit needs Python 3.11 or newer (found " + sys.version.split()[0] + ")")'
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e .
	rm -f $(VENV)/.installed-* && touch $(STAMP)

demo: $(STAMP)
	$(RUN) $(VENV)/bin/rnnkit demo --course-dir course

# Two pytest workers: most tests wait on sandboxes, servers and browsers, so one worker leaves a core idle.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(RUN) $(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder

# The fast tier for your own loop: no built course, no sandbox, no grading (about 20 s idle).
check: $(STAMP)
	$(RUN) $(VENV)/bin/python -m pytest -m fast -q

bench: $(STAMP)
	$(RUN) $(VENV)/bin/python bench/throughput.py

clean:
	rm -rf course $(VENV) .pytest_cache
