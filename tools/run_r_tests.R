# Run the R package's testthat suite with a JUnit reporter.
# Usage (from the repository root): Rscript tools/run_r_tests.R OUTFILE.xml
# Exits non-zero when a test fails or errors.
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args)) args[[1]] else "out/test-results/r.xml"
dir.create(dirname(out), recursive = TRUE, showWarnings = FALSE)
out <- file.path(normalizePath(dirname(out)), basename(out))  # test_dir() changes the working directory
suppressPackageStartupMessages(library(testthat))
if (!nzchar(Sys.getenv("SURVEYFUSE_REPO"))) Sys.setenv(SURVEYFUSE_REPO = normalizePath("."))
reporter <- MultiReporter$new(list(
  SummaryReporter$new(show_praise = FALSE),
  JunitReporter$new(file = out)
))
results <- test_dir("r-package/tests/testthat", package = "surveyfuse", load_package = "installed",
                    reporter = reporter, stop_on_failure = FALSE, stop_on_warning = FALSE)
df <- as.data.frame(results)
bad <- sum(df$failed) + sum(df$error)
cat(sprintf("\nR tests: %d expectations passed, %d tests failed or errored, %d skipped\n",
            sum(df$passed), sum(df$failed > 0 | df$error), sum(df$skipped)))
quit(save = "no", status = if (bad > 0) 1L else 0L)
