# surveyfuse: `make demo` and `make test` each install everything they need.
SHELL   := /bin/bash
PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
PY_STAMP := $(VENV)/.installed-python
R_STAMP  := $(VENV)/.installed-r
DOCS_STAMP := $(VENV)/.installed-docs
R_DEBS  := r-base-core r-base-dev r-cran-reticulate r-cran-testthat r-cran-tibble r-cran-dplyr \
           r-cran-rlang r-cran-cli r-cran-jsonlite r-cran-tidyselect r-cran-mice r-cran-haven \
           r-cran-vctrs r-cran-pillar r-cran-knitr r-cran-rmarkdown pandoc
OUT     := out

.PHONY: install install-python install-r install-browser install-docs demo demo-r test test-python test-r dist check-r docs bench bench-quick clean help

help:
	@echo "make demo   install everything, then impute the CPS investment block on bundled data"
	@echo "make demo-r the same from R: read, impute, pool a regression with mice, export .dta"
	@echo "make test   install everything, then run the Python and R test suites (with the browser checks)"
	@echo "make docs   build the documentation site into out/docs/html, executing every tutorial"
	@echo "make dist   build the Python wheel and sdist and the R source tarball into dist/"
	@echo "make check-r  R CMD check --no-manual of the R tarball"
	@echo "make bench  benchmarks (slow): accuracy, calibration, consistency and speed tables"
	@echo "make bench-quick  the same tables on small tasks"

install: install-python install-r install-browser

install-python: $(PY_STAMP)

# torch comes as the CPU build (pinned; an unpinned torch pulls a 5 GB CUDA build)
$(PY_STAMP): python/pyproject.toml python/requirements-lock.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c python/requirements-lock.txt \
	    torch==2.13.0 -e 'python[deep,dask,test,notebook]' 2>&1 | grep -v "^WARNING: Location" || true
	@$(PY) -c "import surveyfuse, torch, quantile_forest" || { echo "python setup failed"; exit 1; }
	@touch $@

install-r: $(R_STAMP)

# rpy2 (the `r` extra, for in-process R references) builds against R, so it comes after R does
$(R_STAMP): $(PY_STAMP) $(shell find r-package -type f 2>/dev/null) $(shell find shared-specs -type f 2>/dev/null)
	@bash tools/install_r.sh "$(R_DEBS)"
	$(PY) -m pip install --quiet --disable-pip-version-check -c python/requirements-lock.txt \
	    torch==2.13.0 -e 'python[r]' 2>&1 | grep -v "^WARNING: Location" || true
	@$(PY) -c "import rpy2" || { echo "rpy2 setup failed"; exit 1; }
	@touch $@

# Debian's headless Chromium for the browser tests of the report and the widget (when missing)
install-browser:
	@bash tools/install_browser.sh

install-docs: $(DOCS_STAMP)

$(DOCS_STAMP): $(PY_STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -c python/requirements-lock.txt \
	    torch==2.13.0 -e 'python[deep,dask,test,notebook,docs]' 2>&1 | grep -v "^WARNING: Location" || true
	@$(PY) -c "import sphinx, myst_nb, furo" || { echo "docs setup failed"; exit 1; }
	@touch $@

# the site, warnings as errors, every tutorial executed, internal links checked
docs: install install-docs
	@bash tools/build_docs.sh

demo: install
	$(VENV)/bin/surveyfuse run examples/cps_investment.json

# the release artefacts; tests/test_install.py installs them outside the checkout
dist: install
	SURVEYFUSE_PYTHON="$(CURDIR)/$(PY)" bash tools/build_dist.sh dist

# R CMD check of the tarball (about 2 minutes; its tests run with the checkout's Python)
check-r: dist
	@mkdir -p out/check
	cd out/check && SURVEYFUSE_PYTHON="$(CURDIR)/$(PY)" R CMD check --no-manual "$(CURDIR)/dist/surveyfuse_$$(cat $(CURDIR)/VERSION).tar.gz"

test: install dist
	@SURVEYFUSE_DIST="$(CURDIR)/dist" bash tools/run_tests.sh

test-python: install-python
	$(PY) -m pytest -q python/tests tests

bench: install
	$(PY) python/benchmarks/run_all.py

bench-quick: install
	$(PY) python/benchmarks/run_all.py --quick

clean:
	rm -rf $(VENV) $(OUT) dist .pytest_cache docs/_build docs/jupyter_execute docs/_generated docs/api docs/r docs/benchmarks

# the R workflow of the vignette, in a plain Rscript
demo-r: install
	SURVEYFUSE_PYTHON="$(CURDIR)/$(PY)" Rscript examples/r_workflow.R

test-r: install
	@mkdir -p out/test-results
	SURVEYFUSE_PYTHON="$(CURDIR)/$(PY)" Rscript tools/run_r_tests.R out/test-results/r.xml
