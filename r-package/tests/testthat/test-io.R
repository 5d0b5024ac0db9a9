# fuse_read() / fuse_write(): Parquet exact, Stata with value labels.

test_that("Parquet written and read back through the core is identical", {
  skip_if_no_core()
  x <- tibble::tibble(id = 1:4, f = factor(c("u", NA, "v", "u")), s = c("a", NA, "", "d"),
                      d = c(1.25, NA, -3, 0), l = c(TRUE, NA, FALSE, TRUE),
                      day = as.Date(c("2020-02-29", NA, "1970-01-01", "1900-06-01")))
  file <- tempfile(fileext = ".parquet")
  expect_identical(fuse_write(x, file), file)
  expect_identical(fuse_read(file), x)
})

test_that("a .dta file carries factor levels as value labels", {
  skip_if_no_core()
  x <- tibble::tibble(id = 1:3, region = factor(c("north", "south", "north")), income = c(10.5, NA, 3))
  file <- tempfile(fileext = ".dta")
  fuse_write(x, file)
  back <- fuse_read(file)
  expect_identical(as.character(back$region), as.character(x$region))
  expect_equal(back$income, x$income, ignore_attr = TRUE)
  if (requireNamespace("haven", quietly = TRUE)) {
    h <- haven::read_dta(file)
    expect_identical(sort(unname(as.character(names(attr(h$region, "labels"))))), c("north", "south"))
    expect_identical(as.character(haven::as_factor(h$region)), as.character(x$region))
  }
})

test_that("the shared CPS sample reads with its columns", {
  skip_if_no_core()
  d <- fuse_read(spec_data("cps_donor.parquet"))
  expect_s3_class(d, "tbl_df")
  expect_identical(nrow(d), 8000L)
  expect_true(all(c("e00600", "e00650", "s006") %in% names(d)))
  expect_error(fuse_read(tempfile(fileext = ".parquet")), class = "surveyfuse_error_file_not_found")
  expect_error(fuse_read(tempfile(fileext = ".xyz")), class = "surveyfuse_error_unsupported_format")
})

test_that("a long imputation tibble can be written to Stata", {
  skip_if_no_core()
  long <- tibble::tibble(.imp = rep(1:2, each = 2), .id = rep(1:2, 2), x = c(1, 2, 3, 4))
  path <- tempfile(fileext = ".dta")
  expect_message(fuse_write(long, path), "Stata names")
  back <- haven::read_dta(path)
  expect_equal(names(back), c("_imp", "_id", "x"))
  expect_equal(as.numeric(back$`_imp`), c(1, 1, 2, 2))
  expect_true(all(c(".imp", ".id") %in% names(long)))
})
