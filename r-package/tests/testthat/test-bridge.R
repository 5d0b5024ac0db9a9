# The columnar bridge: exact round trips, NAs included (its speed is a benchmark, not a test).

all_types <- function(n = 12) {
  set.seed(42)
  na <- function(v, k = 3) { v[sample(length(v), k)] <- NA; v }
  tibble::tibble(
    dbl = na(c(rnorm(n - 3), Inf, -Inf, 1e-300)),
    int = na(c(sample.int(100L, n - 2), .Machine$integer.max, -.Machine$integer.max)),
    lgl = na(rep(c(TRUE, FALSE), length.out = n)),
    chr = na(rep(c("a", "", "NA", "caf\u00e9", "\u65e5\u672c", "x y"), length.out = n)),
    fct = na(factor(rep(c("lo", "hi", "mid"), length.out = n), levels = c("lo", "mid", "hi", "unused"))),
    ord = na(factor(rep(c("s", "m", "l"), length.out = n), levels = c("s", "m", "l"), ordered = TRUE)),
    date = na(as.Date("1999-12-31") + seq(-5000L, by = 977L, length.out = n))
  )
}

test_that("every column type round-trips identically, NAs included", {
  skip_if_no_core()
  x <- all_types()
  y <- fuse_roundtrip(x)
  for (nm in names(x)) expect_identical(y[[nm]], x[[nm]], label = nm)
  expect_identical(y, x)
})

test_that("the pandas side sees proper dtypes", {
  skip_if_no_core()
  dt <- fuse_roundtrip(all_types(), dtypes = TRUE)
  expect_equal(unname(dt[c("dbl", "int", "lgl", "fct", "ord")]), c("float64", "Int64", "boolean", "category", "category"))
  expect_match(dt[["date"]], "^datetime64")
  expect_true(dt[["chr"]] %in% c("object", "str", "string"))
})

test_that("edge cases: zero rows, all-missing columns, one level, a data.frame in", {
  skip_if_no_core()
  x <- all_types()
  expect_identical(fuse_roundtrip(x[0, ]), x[0, ])
  allna <- tibble::tibble(d = rep(NA_real_, 4), i = rep(NA_integer_, 4), l = rep(NA, 4),
                          s = rep(NA_character_, 4), f = factor(rep(NA, 4), levels = "only"))
  expect_identical(fuse_roundtrip(allna), allna)
  df <- data.frame(a = 1:3, b = c("x", NA, "z"))
  expect_identical(fuse_roundtrip(df), tibble::as_tibble(df))
})

test_that("NaN comes back as NA (pandas has one missing value for numbers)", {
  skip_if_no_core()
  y <- fuse_roundtrip(tibble::tibble(x = c(1, NaN, NA)))
  expect_identical(y$x, c(1, NA, NA))
})

test_that("unsupported columns give a classed error naming the column", {
  skip_if_no_core()
  x <- tibble::tibble(ok = 1:2, bad = list(1, 2))
  expect_error(fuse_roundtrip(x), class = "surveyfuse_error_bad_data")
  expect_error(fuse_roundtrip(1:3), class = "surveyfuse_error_bad_argument")
})

test_that("a 200k x 20 table round-trips exactly", {
  skip_if_no_core()
  n <- 200000
  set.seed(1)
  make <- function(j) {
    v <- switch(j %% 6 + 1,
      rnorm(n), sample.int(1000L, n, TRUE), sample(c(TRUE, FALSE), n, TRUE),
      sample(c("alpha", "beta", "gamma \u00e9", ""), n, TRUE), factor(sample(letters, n, TRUE), levels = letters),
      as.Date("2000-01-01") + sample.int(9000L, n, TRUE))
    v[sample(n, 1000)] <- NA
    v
  }
  x <- tibble::as_tibble(stats::setNames(lapply(1:20, make), paste0("c", 1:20)))
  expect_identical(fuse_roundtrip(x), x)
})

test_that("columns with attributes cross as plain values: label, difftime, units, integer64", {
  skip_if_no_core()
  x <- tibble::tibble(secs = as.difftime(c(1.5, NA, 3), units = "secs"), n = c(1, 2, 3))
  attr(x$n, "label") <- "a count"
  attr(x$n, "comment") <- "from the codebook"
  y <- fuse_roundtrip(x)
  expect_identical(as.numeric(y$secs), c(1.5, NA, 3))
  expect_identical(attr(y$n, "label"), "a count")
  expect_identical(unname(fuse_roundtrip(x, dtypes = TRUE)), c("float64", "float64"))
  if (requireNamespace("bit64", quietly = TRUE)) {
    big <- tibble::tibble(id = bit64::as.integer64(c(1, 2, 2^40)))
    expect_identical(fuse_roundtrip(big)$id, c(1, 2, 2^40))
  }
  if (requireNamespace("units", quietly = TRUE)) {
    km <- tibble::tibble(d = units::set_units(c(1.25, 2), "km"))
    expect_identical(fuse_roundtrip(km)$d, c(1.25, 2))
  }
})
