# Errors are classed conditions surveyfuse_error_<code>; the table comes from the core.

tiny <- function() {
  donor <- data.frame(age = c(25, 40, 61, 33, 52, 47, 38, 29), w = c(1, 2, 1, 1, 2, 1, 1, 1),
                      wage = c(20, 55, 30, 41, 60, 52, 45, 24), bonus = c(0, 5, 0, 2, 8, 4, 3, 0))
  recipient <- data.frame(age = c(30, 58, 44))
  list(donor = donor, recipient = recipient)
}

test_that("the error table comes from the core", {
  skip_if_no_core()
  codes <- fuse_error_codes()
  expect_s3_class(codes, "tbl_df")
  expect_true(all(c("missing_column", "bad_draws", "bad_weights", "unknown_method") %in% codes$code))
  expect_identical(codes$class, paste0("surveyfuse_error_", codes$code))
})

test_that("user mistakes raise the matching classed condition", {
  skip_if_no_core()
  t <- tiny()
  run <- function(...) {
    args <- utils::modifyList(list(donor = t$donor, recipient = t$recipient, block = quote(c(wage, bonus)),
                                   predictors = quote(age), method = "hotdeck", m = 2, seed = 1), list(...))
    do.call(fuse_impute, args)
  }
  expect_error(run(m = 0), class = "surveyfuse_error_bad_draws")
  expect_error(run(m = 2.5), class = "surveyfuse_error_bad_draws")
  expect_error(run(seed = -1), class = "surveyfuse_error_bad_seed")
  expect_error(run(method = "no_such_method"), class = "surveyfuse_error_unknown_method")
  expect_error(run(block = quote(c(wage, nope))), class = "surveyfuse_error_missing_column")
  expect_error(run(predictors = quote(c(age, nope))), class = "surveyfuse_error_missing_column")
  expect_error(run(constraints = "bonus <= "), class = "surveyfuse_error_constraint_syntax")
  expect_error(run(constraints = "bonus <= salary"), class = "surveyfuse_error_constraint_unknown_column")
  expect_error(run(params = list(no_such_param = 1)), class = "surveyfuse_error_bad_param")
  expect_error(run(donor = "not a frame"), class = "surveyfuse_error_bad_argument")
  bad <- t$donor
  bad$w[3] <- -1
  expect_error(run(donor = bad, weights = quote(w)), class = "surveyfuse_error_bad_weights")
  rec <- t$recipient
  rec$wage <- 1
  expect_error(run(recipient = rec), class = "surveyfuse_error_block_in_recipient")
  # every classed error is also a surveyfuse_error and an rlang error
  e <- tryCatch(run(m = 0), error = identity)
  expect_s3_class(e, c("surveyfuse_error_bad_draws", "surveyfuse_error", "rlang_error", "error"))
  expect_identical(e$surveyfuse_code, "bad_draws")
})

test_that("messages use R terms: m instead of draws, rows counted from 1", {
  skip_if_no_core()
  t <- tiny()
  e <- tryCatch(fuse_impute(t$donor, t$recipient, block = wage, predictors = age, method = "hotdeck", m = 0),
                error = identity)
  expect_match(conditionMessage(e), "`m`", fixed = TRUE)
  expect_false(grepl("draws", conditionMessage(e)))
  bad <- t$donor
  bad$w[3] <- -1
  e <- tryCatch(fuse_impute(bad, t$recipient, block = wage, predictors = age, weights = w, method = "hotdeck", m = 2),
                error = identity)
  expect_s3_class(e, "surveyfuse_error_bad_weights")
  expect_match(conditionMessage(e), "row 3\\b")
  expect_false(grepl("np.float64", conditionMessage(e), fixed = TRUE))
})

test_that("a missing Python gives surveyfuse_error_python_missing, in a fresh R session", {
  rscript <- file.path(R.home("bin"), "Rscript")
  code <- paste(
    "r <- tryCatch(surveyfuse::fuse_methods(), error = function(e) class(e));",
    "cat(paste(r, collapse = ' '))"
  )
  out <- withr_env(c(SURVEYFUSE_PYTHON = "/nonexistent/python"),
                   system2(rscript, c("--vanilla", "-e", shQuote(code)), stdout = TRUE, stderr = FALSE))
  expect_match(paste(out, collapse = " "), "surveyfuse_error_python_missing")
})
