# credgate: two commands do all the set-up from a fresh clone:
#   make demo   creates .venv, installs, runs the main job on embedded SQLite
#   make test   installs the test extras and runs the whole suite
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PROTO_OUT := gateway/_proto
PROTOS := $(wildcard proto/credgate/v1/*.proto)
STAMP_INSTALL := $(VENV)/.installed
STAMP_TEST := $(VENV)/.installed-test

.PHONY: demo test test-unit lint fuzz bench bench-instructions proto keys clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP_INSTALL): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[proto]'
	touch $@

$(STAMP_TEST): pyproject.toml $(STAMP_INSTALL)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# Generated gRPC code is produced by the build, never edited by hand.
$(PROTO_OUT)/credgate/v1/credgate_pb2.py: $(PROTOS) $(STAMP_INSTALL)
	$(PY) -m gateway._proto.build

proto: $(PROTO_OUT)/credgate/v1/credgate_pb2.py

demo: proto
	$(PY) -m gateway demo

# The Node.js client's dependencies (clients/node, from its package-lock.json) for its
# tests; without npm those tests are skipped and say so.
NODE_DEPS := clients/node/node_modules/.package-lock.json
$(NODE_DEPS): clients/node/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  cd clients/node && npm ci --no-audit --no-fund; \
	else echo "npm not found: the Node.js client tests (tests/clients) will be skipped"; fi

# Two workers (the machines have two cores), a test file to one worker: a file's
# module-scoped gateways start once, and tests that share a database or a process's
# state stay in one file. Every test makes its own databases, roles, ports and folders.
test: $(STAMP_TEST) proto $(NODE_DEPS)
	$(PY) -m ruff check gateway tests bench
	$(PY) -m mypy gateway
	$(PY) -m pytest -q -n 2 --dist loadfile

# The unit tests alone (no servers, processes, browsers or databases): seconds, not minutes.
test-unit: $(STAMP_TEST) proto
	$(PY) -m pytest -q -m "not e2e"

lint: $(STAMP_TEST) proto
	$(PY) -m ruff check gateway tests bench
	$(PY) -m mypy gateway

# Every figure of the request-path goals beside its same-run baseline (bench/README.md).
# A long hypothesis campaign on what reads caller bytes (request decoders, CSV/JSON
# intake, consent parser); the suite runs the same targets briefly.
fuzz: $(STAMP_TEST) proto
	CREDGATE_FUZZ_EXAMPLES=$${CREDGATE_FUZZ_EXAMPLES:-20000} $(PY) -m pytest -q tests/fuzz

bench: proto
	$(PY) -m bench.query_throughput
	$(PY) -m bench.masking --records 100000
	$(PY) -m bench.instructions

# Server instructions per call under callgrind (needs Debian's valgrind).
bench-instructions: proto
	$(PY) -m bench.instructions

keys: $(STAMP_INSTALL)
	$(PY) -m gateway keys init keys_example --force

clean:
	rm -rf $(VENV) $(PROTO_OUT)/credgate .pytest_cache clients/node/node_modules
