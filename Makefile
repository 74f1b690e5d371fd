# Everything a fresh machine needs, from the README's two commands: `make demo`, `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: demo test test-pure lint bench chromium services

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[server,test]'
	touch $@

# A concurrency sweep against the embedded server: perf_analyzer's console output, its CSV,
# our JSON results and the HTML report (with the recommendation) in results/. sleep_5ms
# saturates at 3 requests in flight, so 1:6 shows the rise, the knee and the plateau;
# 2 s windows keep the six levels to about a minute.
demo: $(BIN)/.installed
	mkdir -p results
	$(BIN)/triton-locust profile --embedded-server -m sleep_5ms --concurrency-range 1:6 \
		-p 2000 --percentile 95 -f results/perf.csv --json results/perf.json

# The report tests open the HTML in headless Chromium (Debian's package).
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

# The real services the tests talk to (Debian's packages, started by the tests as plain
# processes): PostgreSQL for a shared history, Prometheus's Pushgateway, nginx terminating
# HTTPS in front of Triton.
services:
	@{ ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && command -v prometheus-pushgateway >/dev/null; } || \
		{ apt-get update -qq && apt-get install -y -qq postgresql prometheus-pushgateway >/dev/null; }
	@test -x /usr/sbin/nginx || \
		{ apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null; }

test: $(BIN)/.installed chromium services
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

# The pure tests alone, in seconds: no Triton server, no root, no browser.
test-pure: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -m "not server and not root and not browser"

bench: $(BIN)/.installed
	$(BIN)/python bench/compare_perf_analyzer.py
