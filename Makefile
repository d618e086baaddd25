# Two commands do all set-up on a fresh Linux machine with Python 3.11+: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
EXTRAS ?=
RUN    := PATH="$(CURDIR)/$(VENV)/bin:$$PATH" TF_CPP_MIN_LOG_LEVEL=3

.PHONY: demo test check bench clean install hub hub-env hub-deps

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "rnnkit needs Python 3.11 or newer (found " + sys.version.split()[0] + ")")'
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e ".$(EXTRAS)"
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(RUN) $(VENV)/bin/rnnkit demo --course-dir course

# Two pytest workers: most tests wait on sandboxes, servers and browsers, so one worker leaves a core idle.
TEST_WORKERS ?= 2
test: $(STAMP) hub-deps
	$(RUN) $(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder

# The fast tier for your own loop: no built course, no sandbox, no grading (about 20 s idle).
check: $(STAMP)
	$(RUN) $(VENV)/bin/python -m pytest -m fast -q

bench: $(STAMP)
	$(RUN) $(VENV)/bin/python bench/throughput.py

# The course server (deploy/README.md): JupyterHub on 127.0.0.1:$(HUB_PORT), as root, from the shared Jupyter
# environment $(HUB_ENV) (every account runs it), with configurable-http-proxy from the npm registry.
HUB_ENV   ?= /opt/rnnkit-jupyter
HUB_PORT  ?= 8000
HUB_STAMP := $(HUB_ENV)/.installed-$(shell cksum deploy/requirements.txt deploy/jupyter-env.sh | cksum | cut -d' ' -f1)
HUB_PROXY := deploy/node_modules/.bin/configurable-http-proxy

$(HUB_STAMP): deploy/requirements.txt deploy/jupyter-env.sh
	bash deploy/jupyter-env.sh $(HUB_ENV)
	rm -f $(HUB_ENV)/.installed-* && touch $(HUB_STAMP)

$(HUB_PROXY): deploy/package.json deploy/package-lock.json
	npm ci --prefix deploy --no-audit --no-fund --loglevel=error
	touch $(HUB_PROXY)

hub-env: $(HUB_STAMP) $(HUB_PROXY)

# What tests/test_hub.py needs, made only where it can run (root: it makes Unix accounts; npm on the machine).
hub-deps:
	@if [ "$$(id -u)" = 0 ] && command -v npm >/dev/null; then $(MAKE) --no-print-directory hub-env; \
	 else echo "make test: not root or no npm: tests/test_hub.py will skip"; fi

hub: hub-env
	mkdir -p -m 0700 /var/lib/rnnkit-hub
	cd deploy && RNNKIT_HUB_ENV=$(HUB_ENV) RNNKIT_HUB_PORT=$(HUB_PORT) \
	  RNNKIT_HUB_PROXY=$(CURDIR)/$(HUB_PROXY) $(HUB_ENV)/bin/jupyterhub -f jupyterhub_config.py

clean:
	rm -rf course $(VENV) .pytest_cache deploy/node_modules
