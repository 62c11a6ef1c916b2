.PHONY: run test bench setup serve

# Set up (idempotent) and start the app.
run:
	bash scripts/setup.sh
	.venv/bin/streamlit run app.py

# Set up with the test extras and run the whole suite, browser tests included.
test:
	bash scripts/setup.sh --test
	.venv/bin/python -m pytest

bench:
	bash scripts/setup.sh
	.venv/bin/python -m cvdemo bench

# The models behind Ray Serve on this machine (127.0.0.1); point apps at it with CVDEMO_SERVE.
serve:
	bash scripts/setup.sh --serve
	.venv/bin/python -m cvdemo serve
