# MIS Bridge. `make run` serves the bridge with its sandbox peers; `make test` runs every test.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: run test test-unit lint bench install install-prod system-deps run-deps bench-deps interop-deps wsdl-freeze demo check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# What the Docker image installs: the package and its runtime dependencies only.
install-prod:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet .

system-deps:
	bash scripts/install-system-deps.sh test

run-deps:
	bash scripts/install-system-deps.sh run

bench-deps:
	bash scripts/install-system-deps.sh bench

interop-deps: tests/interop/node/node_modules/.package-lock.json

tests/interop/node/node_modules/.package-lock.json: tests/interop/node/package-lock.json
	npm ci --prefix tests/interop/node --no-audit --no-fund --loglevel=error

# PORT=8081 beside another bridge; the sandbox peers take free ports (logged as sandbox.peer).
PORT ?= 8080

run: run-deps install
	$(BIN)/bridge serve --sandbox --port $(PORT)

demo: install
	$(BIN)/bridge demo --url http://127.0.0.1:$(PORT)

check: install
	BRIDGE_SANDBOX=true $(BIN)/bridge check

# Two pytest processes (xdist, a module's tests in one of them), then the scan that reads every log they
# left (tests/integration/test_pii_suite.py) once both have finished.
TEST_TMP ?= .pytest-tmp

test: system-deps install interop-deps
	$(BIN)/pytest -n 2 --dist loadfile --no-loadscope-reorder --basetemp=$(TEST_TMP) -m "not session_last"
	BRIDGE_TEST_LOGS=$(TEST_TMP) $(BIN)/pytest -m session_last tests/integration/test_pii_suite.py

test-unit: install
	$(BIN)/pytest tests/unit

lint: install
	$(BIN)/ruff check bridge adapters tests bench
	$(BIN)/mypy
	$(BIN)/bridge wsdl lint   # the contracts in wsdl/ stay consumable by 1C, .NET and Java (docs/soap-contracts.md)
	$(BIN)/python scripts/audit_dependencies.py   # pip-audit; says so and passes when its service is unreachable

bench: bench-deps install   # PostgreSQL for the outbox and intake: BRIDGE_TEST_PG_URL (default postgres@127.0.0.1:5432)
	$(BIN)/python bench/bench_mapping.py --write
	$(BIN)/python bench/bench_outbox.py --write
	$(BIN)/python bench/bench_intake.py --write
	$(BIN)/python bench/bench_start.py --write --baseline 8e38a56   # the last commit whose workers were spawned
	$(BIN)/python bench/bench_check_patient.py --write --repeat 5 --duration 20 --profile 10   # over the sandbox СМЭВ, with the ceiling (bench/_ceiling.py)
	$(BIN)/python bench/bench_slow_upstream.py --write --levels 256,1000 --workers 1,2 --hold 180   # over the sandbox СМЭВ: answers held until every SendRequest is sent
	$(BIN)/python bench/bench_work_scale.py --write
	$(BIN)/python bench/bench_store_scale.py --write
	$(BIN)/python bench/bench_smev_sign.py --write

wsdl-freeze: install
	$(BIN)/bridge wsdl freeze

clean:
	rm -rf $(VENV) var .pytest_cache .pytest-tmp .mypy_cache .ruff_cache tests/interop/node/node_modules
