# One command to run the app, one to test it. Everything else is a helper for those two.
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := .tools/bin/uv
endif
RUN := $(UV) run --frozen

.PHONY: run test lint fmt typecheck pytest bench-api bench bench-check messages setup clean

$(UV):
	python3 -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

.venv/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen
	touch $@

setup: .venv/.synced

## run: the app on SQLite with demo data at http://127.0.0.1:8000
run: setup
	$(RUN) booking migrate
	$(RUN) booking demo --if-empty
	$(RUN) booking serve --host 127.0.0.1 --port 8000

## test: lint, types and the whole test suite (PostgreSQL too when BOOKING_TEST_POSTGRES_URL is set)
test: setup lint typecheck pytest

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .

fmt: setup
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

typecheck: setup
	$(RUN) mypy booking

pytest: setup
	$(RUN) pytest -n 2 --dist loadgroup

## messages: extract the pages' texts, update the English catalog, compile it (commit all three)
LOCALE := booking/web/locale
messages: setup
	$(RUN) pybabel extract -F babel.cfg --sort-by-file --project booking -o $(LOCALE)/messages.pot .
	$(RUN) pybabel update -i $(LOCALE)/messages.pot -d $(LOCALE) -D messages -l en --no-fuzzy-matching --ignore-obsolete
	$(RUN) pybabel compile -d $(LOCALE) -D messages -l en --statistics

## bench-api: RSS and latency of the API (see bench/README.md)
bench-api: setup
	$(RUN) python bench/api_bench.py

## bench: the production topology under load, report in bench/results/ (root, wrk; BENCH_ARGS=--quick)
bench: setup
	$(RUN) --group bench python bench/harness.py $(BENCH_ARGS)

## bench-check: the newest bench/results/bench-*.json against bench/budgets.toml (fails on a violation)
bench-check: setup
	$(RUN) python bench/check.py

clean:
	rm -rf .venv .tools .pytest_cache .mypy_cache .ruff_cache
