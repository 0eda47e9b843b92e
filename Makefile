# marc8fast: every target sets up what it needs from nothing (a venv in .venv, crates via cargo).
#   make demo   build, then validate the bundled MARC-8 sample, convert it to UTF-8 and print it
#   make test   build, then run every test (Rust and Python)
#   make lint   cargo fmt --check, clippy -D warnings, ruff, mypy, stubtest, generated tables up to date
#   make bench  criterion + peer comparison (needs the benchmark corpus: tools/bench_corpus.py)
#   make fuzz   each cargo-fuzz target in turn, FUZZ_SECONDS each (nightly toolchain; fuzz/README.md)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.deps-stamp
PYDIRS := $(wildcard python tests tools benches)
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: demo test test-rust test-python lint regen regen-check build-dev bench fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	touch $@

build-dev: $(STAMP)
	$(BIN)/maturin develop --release --quiet

demo: build-dev
	$(BIN)/marc8fast validate examples/sample-marc8.mrc
	@mkdir -p target
	$(BIN)/marc8fast convert examples/sample-marc8.mrc target/sample-utf8.mrc --to utf8
	$(BIN)/marc8fast dump target/sample-utf8.mrc

test: test-rust test-python

# --all-targets leaves out the doctests (examples on the public API): they run as a second step.
test-rust:
	cargo test -p marc8 --all-targets
	cargo test -p marc8 --doc
	cargo test -p marc8-gfs

# pytest exits 5 when it collects no test: that is a failure too, said plainly.
test-python: build-dev
	$(BIN)/python -m pytest -q || { rc=$$?; [ $$rc -ne 5 ] || echo "pytest collected no tests" >&2; exit $$rc; }

lint: $(STAMP) regen-check
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
	$(BIN)/ruff check $(PYDIRS)
	$(BIN)/ruff format --check $(PYDIRS)
	$(BIN)/mypy
	$(MAKE) build-dev
	$(BIN)/python -m mypy.stubtest marc8fast._native --allowlist .mypy-stubtest-allowlist

regen:
	$(PYTHON) tools/gen_tables.py
	cargo fmt --all

regen-check:
	$(PYTHON) tools/gen_tables.py --check

# Every benchmark; figures go in benches/RESULTS.md (see benches/README.md). Needs yaz, and for
# the peers MARC::Charset (libmarc-charset-perl) and marc4j (libmarc4j-java); ~25 minutes.
bench: build-dev
	$(BIN)/python tools/bench_corpus.py
	cargo bench -p marc8 --bench decode
	cargo bench -p marc8 --bench encode
	$(BIN)/python benches/bench_peers.py
	$(BIN)/python benches/bench_encode_peers.py
	$(BIN)/python benches/bench_files.py

# The fuzz targets one after the other (one libFuzzer process at a time), each for FUZZ_SECONDS,
# starting from fuzz/corpus/<target> and the saved reproducers in fuzz/regressions/<target>.
# A finding stops the run (exit status 1) and is written to fuzz/artifacts/<target>/.
FUZZ_SECONDS ?= 180
FUZZ_TARGETS ?= decode encode record stream
fuzz:
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
	cd fuzz && for t in $(FUZZ_TARGETS); do \
	  mkdir -p corpus/$$t regressions/$$t && \
	  cargo +nightly fuzz run -O $$t corpus/$$t regressions/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 || exit 1; \
	done

clean:
	rm -rf $(VENV) target
