# Numbers that went through single precision keep their donors; real errors warn; NULL means "default".

# x rounded to single precision, as a Stata float or a float32 Parquet column holds it
as_float32 <- function(x) readBin(writeBin(x, raw(), size = 4), "double", size = 4, n = length(x))

wage_donor <- function() {
  set.seed(15)
  n <- 400
  age <- sample(20:70, n, TRUE)
  p <- round(exp(rnorm(n, 11, 0.7)) * 1.0137, 2)
  s <- ifelse(runif(n) < 0.5, 0, round(exp(rnorm(n, 10.5, 0.7)) * 1.0137, 2))
  tibble::tibble(age = age, total = as_float32(p + s), p = as_float32(p), s = as_float32(s), w = runif(n, 0.5, 2))
}

test_that("float-rounded identities keep every donor, repaired and reported", {
  skip_if_no_core()
  donor <- wage_donor()
  expect_gt(sum(abs(donor$total - donor$p - donor$s) > 1e-6 + 1e-9 * donor$total), 20)  # the old rule's losses
  recipient <- tibble::tibble(age = c(25, 40, 66))
  expect_no_warning(
    long <- fuse_impute(donor, recipient, block = c(total, p, s), predictors = age, method = "hotdeck", m = 2,
                        weights = w, constraints = c("total == p + s", "s <= total"), seed = 1)
  )
  report <- attr(long, "surveyfuse")$report
  expect_identical(report$donor_rows_used, nrow(donor))
  expect_identical(report$donor_constraints$dropped_rows, 0L)
  expect_gt(report$donor_constraints$repaired_rows, 20)
  expect_equal(report$donor_constraints$tolerance$rel, 1e-5)
  expect_true(all(abs(long$total - long$p - long$s) <= 1e-6 * long$total))
})

test_that("a real 1% error warns, names the constraint, and is an error with strict = TRUE", {
  skip_if_no_core()
  donor <- wage_donor()
  bad <- seq(1, nrow(donor), by = 20)
  donor$total[bad] <- donor$total[bad] * 1.01
  recipient <- tibble::tibble(age = c(25, 40))
  expect_warning(
    fuse_impute(donor, recipient, block = c(total, p, s), predictors = age, method = "hotdeck", m = 1,
                constraints = "total == p + s", seed = 1),
    "20 donor rows.*total == p \\+ s", class = "surveyfuse_warning"
  )
  expect_error(
    fuse_fit(donor, block = c(total, p, s), predictors = age, method = "hotdeck",
             constraints = "total == p + s", strict = TRUE),
    class = "surveyfuse_error_donors_dropped"
  )
  expect_warning(  # the former fixed tolerance, asked for by name, drops the rounding too
    fuse_fit(donor[-bad, ], block = c(total, p, s), predictors = age, method = "hotdeck",
             constraints = "total == p + s", tolerance = list(abs = 1e-6, rel = 1e-9)),
    class = "surveyfuse_warning"
  )
  expect_error(fuse_fit(donor, block = c(total, p), predictors = age, tolerance = "tight"),
               class = "surveyfuse_error_bad_argument")
  expect_error(fuse_fit(donor, block = c(total, p), predictors = age, tolerance = list(rel = -1)),
               class = "surveyfuse_error_bad_argument")
})

test_that("NULL is the default for optional arguments and for spec fields written as null", {
  skip_if_no_core()
  donor <- wage_donor()
  recipient <- tibble::tibble(age = c(25, 40))
  long <- fuse_impute(donor, recipient, block = c(p, s), predictors = age, method = "hotdeck", m = NULL,
                      weights = NULL, constraints = NULL, seed = NULL, categorical = NULL, params = NULL,
                      tolerance = NULL, strict = NULL)
  expect_identical(max(long$.imp), 20L)
  model <- fuse_fit(donor, block = c(p, s), predictors = age, method = "hotdeck", seed = 2, strict = NULL)
  expect_identical(max(predict(model, recipient, m = NULL)$.imp), 20L)

  dir <- tempfile("nullspec")
  dir.create(dir)
  readr_free_csv <- function(x, path) utils::write.csv(x, path, row.names = FALSE)
  readr_free_csv(donor, file.path(dir, "donor.csv"))
  readr_free_csv(recipient, file.path(dir, "recipient.csv"))
  spec <- list(spec_version = 1, donor = "donor.csv", recipient = "recipient.csv", predictors = list("age"),
               block = list("p", "s"), method = "hotdeck", draws = 2, seed = 4, weights = NULL, categorical = NULL,
               constraints = list("s <= p + s"), tolerance = NULL, strict = NULL, output = NULL, format = NULL)
  jsonlite::write_json(spec, file.path(dir, "spec.json"), auto_unbox = TRUE, null = "null")
  expect_match(paste(readLines(file.path(dir, "spec.json")), collapse = ""), '"weights":null')
  long <- fuse_run(file.path(dir, "spec.json"))
  expect_identical(nrow(long), 4L)
})
