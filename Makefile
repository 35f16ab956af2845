# The two commands: `make demo` (the whole programme once, against the bundled emulators) and
# `make test` (the whole suite). Both bootstrap .venv from uv.lock first.
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export GX_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

# Debian packages the tests need: a headless browser for the report and dashboard pages, and
# Thai fonts so it renders Thai text.
DEBIAN_PACKAGES := chromium chromium-driver fonts-thai-tlwg

.PHONY: demo test lint format clean debian-packages

demo: $(VENV)/.synced
	$(VENV)/bin/smartcity demo

test: $(VENV)/.synced debian-packages
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.synced
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

debian-packages:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		echo "installing Debian packages:" $$missing; \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

clean:
	rm -rf $(TOOLS) $(VENV) data .pytest_cache .ruff_cache
