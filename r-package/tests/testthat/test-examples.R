# The vignette's workflow script runs in a plain R session (small m here).

test_that("examples/r_workflow.R runs end to end and pools a regression", {
  skip_if_no_core()
  skip_if_not_installed("mice")
  root <- repo_root()
  skip_if(is.na(root), "not inside a surveyfuse checkout")
  script <- file.path(root, "examples", "r_workflow.R")
  out_dir <- tempfile("workflow")
  dir.create(out_dir)
  old <- options(surveyfuse.example_m = 3, surveyfuse.example_out = out_dir)
  on.exit(options(old))
  env <- new.env(parent = globalenv())
  utils::capture.output(source(script, local = env, echo = FALSE))
  expect_s3_class(env$imp, "mids")
  expect_equal(env$imp$m, 3)
  expect_true(all(c("term", "estimate", "std.error") %in% names(env$pooled)))
  expect_true(all(is.finite(env$pooled$estimate)))
  written <- haven::read_dta(file.path(out_dir, "cps_imputed.dta"))
  expect_identical(as.vector(table(written$`_imp`)), rep(nrow(env$recipient), 4L))  # _imp 0..3
})
