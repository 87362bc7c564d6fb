# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8050

.PHONY: demo test install install-test browser haproxy clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e .

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'

# Debian's chromium for the browser tests, installed when missing and we are root.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "browser tests need /usr/bin/chromium: run 'sudo apt-get install chromium'"; \
	  fi; \
	fi

# Debian's haproxy for the scale-out tests (issue 10, tests/e2e/test_scale_out.py), installed
# when missing and we are root. Only the binary is used: the package's own service is
# stopped and disabled (the tests run their own haproxy with deploy/haproxy.cfg.in).
haproxy:
	@if [ ! -x /usr/sbin/haproxy ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; \
	    (systemctl disable --now haproxy || service haproxy stop || true) >/dev/null 2>&1; \
	  else \
	    echo "scale-out tests need /usr/sbin/haproxy: run 'sudo apt-get install haproxy'"; \
	  fi; \
	fi

demo: install
	$(BIN)/crisis demo --port $(PORT)

test: install-test browser haproxy
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) var .pytest_cache
