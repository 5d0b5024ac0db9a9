# fuse_impute(), fuse_fit() + predict(): types, layout, reproducibility, constraints.

typed_data <- function() {
  set.seed(3)
  n <- 300
  region <- factor(sample(c("north", "south", "east"), n, TRUE), levels = c("north", "south", "east", "west"))
  age <- sample(20:70, n, TRUE)
  wage <- round(exp(rnorm(n, 10, 0.6)))
  bonus <- ifelse(runif(n) < 0.4, 0, round(wage * runif(n, 0, 0.3)))
  donor <- tibble::tibble(
    age = age, region = region, when = as.Date("2021-01-01") + sample(0:364, n, TRUE),
    wage = wage, bonus = bonus, union = runif(n) < 0.3, sector = factor(sample(c("a", "b"), n, TRUE)),
    kids = sample(0:3, n, TRUE), w = runif(n, 0.5, 2)
  )
  m <- 40
  recipient <- tibble::tibble(
    id = sprintf("r%03d", 1:m), age = sample(20:70, m, TRUE),
    region = factor(sample(c("north", "south", "east", NA), m, TRUE), levels = levels(region)),
    when = as.Date("2021-06-01") + c(NA, sample(0:100, m - 1, TRUE)), note = c(NA, rep("x", m - 1)),
    score = c(1.5, NA, rnorm(m - 2)), flag = c(NA, rep(c(TRUE, FALSE), length.out = m - 1))
  )
  list(donor = donor, recipient = recipient)
}

test_that("long output: mice layout, recipient unchanged with its types, block with the donor's types", {
  skip_if_no_core()
  d <- typed_data()
  long <- fuse_impute(d$donor, d$recipient, block = c(wage, bonus, union, sector, kids),
                      predictors = c(age, region, when), method = "hotdeck", m = 3, seed = 11,
                      weights = w, constraints = "bonus <= wage")
  expect_s3_class(long, "tbl_df")
  expect_identical(names(long)[1:2], c(".imp", ".id"))
  expect_identical(nrow(long), 3L * nrow(d$recipient))
  expect_identical(long$.imp, rep(1:3, each = nrow(d$recipient)))
  expect_identical(long$.id, rep(seq_len(nrow(d$recipient)), 3))
  for (k in 1:3) {
    part <- strip(long[long$.imp == k, names(d$recipient)])
    expect_identical(part, d$recipient)
  }
  expect_identical(levels(long$sector), levels(d$donor$sector))
  expect_type(long$kids, "integer")
  expect_type(long$union, "logical")
  expect_type(long$wage, "double")
  expect_true(all(long$bonus <= long$wage))
  expect_false(anyNA(long[c("wage", "bonus", "union", "sector", "kids")]))
  expect_identical(fuse_report(long)$block, c("wage", "bonus", "union", "sector", "kids"))
})

test_that("tidyselect helpers and character vectors select columns", {
  skip_if_no_core()
  d <- typed_data()
  cols <- c("wage", "bonus")
  a <- fuse_impute(d$donor, d$recipient, block = tidyselect::all_of(cols), predictors = c("age", "region"),
                   method = "hotdeck", m = 2, seed = 5)
  b <- fuse_impute(d$donor, d$recipient, block = cols, predictors = c(age, region), method = "hotdeck", m = 2, seed = 5)
  c <- fuse_impute(d$donor, d$recipient, block = tidyselect::starts_with(c("wage", "bonus")),
                   predictors = c(age, region), method = "hotdeck", m = 2, seed = 5)
  expect_identical(strip(a), strip(b))
  expect_identical(a$bonus, c$bonus)
})

test_that("the same seed gives the same draws; another seed other draws", {
  skip_if_no_core()
  d <- typed_data()
  go <- function(seed) fuse_impute(d$donor, d$recipient, block = c(wage, bonus), predictors = c(age, region),
                                   method = "hotdeck", m = 2, seed = seed)
  expect_identical(go(1)$wage, go(1)$wage)
  expect_false(identical(go(1)$wage, go(2)$wage))
})

test_that("fit once, predict many: equals fuse_impute, survives save/load, chunks with row_offset", {
  skip_if_no_core()
  d <- typed_data()
  one <- fuse_impute(d$donor, d$recipient, block = c(wage, bonus, sector), predictors = c(age, region),
                     method = "hotdeck", m = 2, seed = 9)
  model <- fuse_fit(d$donor, block = c(wage, bonus, sector), predictors = c(age, region), method = "hotdeck", seed = 9)
  expect_s3_class(model, "surveyfuse_model")
  expect_output(print(model), "hotdeck")
  two <- predict(model, d$recipient, m = 2, seed = 9)
  expect_identical(strip(two), strip(one))
  file <- fuse_save(model, tempfile(fileext = ".sfmodel"))
  expect_true(file.exists(file))
  again <- fuse_load(file)
  three <- fuse_sample(again, d$recipient, m = 2, seed = 9)
  expect_identical(three$wage, one$wage)
  expect_identical(as.character(three$sector), as.character(one$sector))
  # chunks keyed by row_offset reproduce the whole table's draws
  top <- predict(model, d$recipient[1:15, ], m = 2, seed = 9)
  rest <- predict(model, d$recipient[16:40, ], m = 2, seed = 9, row_offset = 15)
  expect_identical(rest$.id[1], 16L)
  whole <- two[two$.id <= 15, ]
  expect_identical(top$wage, whole$wage)
  expect_identical(rest$wage, two$wage[two$.id > 15])
  expect_error(predict(model, d$recipient[c("id")], m = 2), class = "surveyfuse_error_missing_column")
})

test_that("fuse_methods() lists the core's methods and its default", {
  skip_if_no_core()
  m <- fuse_methods()
  expect_true("hotdeck" %in% m$method)
  expect_identical(sum(m$default), 1L)
})

test_that("fuse_method_parameters() lists a method's parameters with the core's defaults", {
  skip_if_no_core()
  p <- fuse_method_parameters("hotdeck")
  expect_s3_class(p, "tbl_df")
  expect_identical(names(p), c("parameter", "default", "expected", "description"))
  expect_true(all(c("k", "classes", "levels", "mi") %in% p$parameter))
  expect_identical(p$default[[which(p$parameter == "k")]], 10L)
  expect_identical(p$default[[which(p$parameter == "levels")]], "match+ratio")
  expect_null(p$default[[which(p$parameter == "level_columns")]])
  expect_match(p$expected[[which(p$parameter == "k")]], "positive integer")
  # the same declaration validates: a value outside it is refused with bad_param
  expect_error(fuse_impute(data.frame(a = 1:20, x = 1:20), data.frame(x = 1:3), block = a, predictors = x,
                           method = "hotdeck", params = list(k = 0)), class = "surveyfuse_error_bad_param")
  expect_error(fuse_method_parameters("magic"), class = "surveyfuse_error_unknown_method")
})

test_that("fuse_check_constraints() counts violations", {
  skip_if_no_core()
  x <- data.frame(a = c(1, 5, 3, 9), b = c(2, 4, 3, 1))
  res <- fuse_check_constraints(x, c("a <= b", "a >= 0"))
  expect_identical(res$violations, c(2L, 0L))
  expect_identical(attr(res, "rows"), 2L)
})

test_that("R's default method is the one the core marks as its default", {
  skip_if_no_core()
  d <- typed_data()
  long <- fuse_impute(d$donor[1:120, ], d$recipient[1:5, ], block = c(wage, bonus), predictors = c(age, region),
                      m = 2, seed = 1)
  core_default <- fuse_methods()$method[fuse_methods()$default]
  expect_identical(fuse_report(long)$method, core_default)
  expect_null(formals(fuse_impute)$method)
  expect_null(formals(fuse_fit)$method)
  expect_identical(nrow(long), 10L)
})

test_that("a generative model that fails its held-out check warns with its own class", {
  skip_if_no_core()
  set.seed(1)
  n <- 300
  x1 <- rnorm(n); x2 <- rnorm(n); g <- sample(0:2, n, TRUE)
  a <- ifelse(runif(n) < plogis(1.5 * x1), round(exp(8 + 0.8 * x2 + 0.5 * rnorm(n))), 0)
  b <- round(exp(7 + 0.6 * x1 + 0.3 * g + 0.5 * rnorm(n)))
  donor <- data.frame(x1, x2, g, a, b, total = a + b)
  # one epoch cannot fit this block; the check on the held-out donor rows says so (levels = "none": the
  # network's own draws, not rescaled to the donor's levels, which can rescue some of a bad fit)
  expect_warning(
    long <- fuse_impute(donor, donor[1:20, c("x1", "x2", "g")], block = c(total, a, b), predictors = c(x1, x2, g),
                        method = "ctgan", params = list(epochs = 1, levels = "none"), m = 2, seed = 0,
                        constraints = c("total == a + b", "a >= 0", "b >= 0")),
    class = "surveyfuse_warning_fit_check_failed"
  )
  check <- fuse_report(long)$report$method_params$fit_check
  expect_false(check$ok)
  expect_match(check$warning, "method 'ctgan' failed its held-out check")
})
