.PHONY: run test test-fast lint bench setup serve

PYTEST = .venv/bin/python -m pytest
# One tier of the suite by marker. pytest exits 5 when a tier selects no test: not a failure.
tier = $(PYTEST) -m "$(1)" || [ $$? -eq 5 ]

# Set up (idempotent) and start the app.
run:
	bash scripts/setup.sh
	.venv/bin/streamlit run app.py

# What a developer runs while working: everything except page (AppTest) and browser tests.
test-fast:
	bash scripts/setup.sh --test
	$(call tier,not page and not browser)

# The whole suite, as CI runs it: lint, the fast tier, then page tests, then browser tests.
test:
	bash scripts/setup.sh --test
	$(MAKE) --no-print-directory lint
	$(call tier,not page and not browser)
	$(call tier,page)
	$(call tier,browser)

# ruff's checks and mypy over cvdemo/, both configured in pyproject.toml.
lint:
	.venv/bin/ruff check .
	.venv/bin/mypy

bench:
	bash scripts/setup.sh
	.venv/bin/python -m cvdemo bench

# The models behind Ray Serve on this machine (127.0.0.1); point apps at it with CVDEMO_SERVE.
serve:
	bash scripts/setup.sh --serve
	.venv/bin/python -m cvdemo serve
