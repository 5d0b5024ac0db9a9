
pool_fixture <- function() {
  donor <- data.frame(age = rep(20:69, 8), wage = rep(seq(1e4, 8e4, length.out = 50), 8))
  donor$dividends <- round(donor$wage * 0.02 + rep(c(0, 50, 300, 900), 100))
  recipient <- donor[seq(1, 400, by = 4), c("age", "wage")]
  fuse_impute(donor, recipient, dividends, c(age, wage), method = "forest", params = list(mi_groups = 4), m = 8, seed = 1)
}

test_that("fuse_pool gives Rubin's rules as the core computes them", {
  skip_if_no_core()
  fused <- pool_fixture()
  res <- fuse_pool(fused, "mean", "dividends")
  per <- sapply(split(fused$dividends, fused$.imp), mean)
  expect_equal(res$term, "dividends")
  expect_equal(res$estimate, mean(per))
  expect_equal(res$between, stats::var(per))
  expect_equal(res$m, 8)
  reg <- fuse_pool(fused, "regression", y = "dividends", x = c("age", "wage"))
  expect_equal(reg$term, c("(intercept)", "age", "wage"))
})

test_that("the fused rule nests imputations in resamples, by its formula", {
  skip_if_no_core()
  fused <- pool_fixture()
  nested <- fuse_pool(fused, "mean", "dividends", rule = "fused", resamples = 4)
  by_imp <- split(fused$dividends, fused$.imp)
  q <- sapply(by_imp, mean)
  u <- sapply(by_imp, function(y) stats::var(y) / length(y))
  g <- matrix(q, nrow = 2, byrow = TRUE)  # row i, column g: imputation g + 4 * (i - 1)
  w_e <- mean(apply(g, 2, stats::var))
  b_m <- stats::var(colMeans(g))
  total <- max(mean(u) - w_e, 0) + (1 + 1 / 4) * max(b_m - w_e / 2, 0) + w_e / 8
  expect_equal(nested$estimate, mean(q))
  expect_equal(nested$total, total)
  expect_error(fuse_pool(fused, "mean", "dividends", rule = "fused", resamples = 3),
               class = "surveyfuse_error_bad_argument")
  expect_error(fuse_pool(fused[setdiff(names(fused), ".imp")], "mean", "dividends"),
               class = "surveyfuse_error_missing_column")
  expect_error(fuse_pool(fused, "mean", "nosuch"), class = "surveyfuse_error_missing_column")
})

test_that("fuse_pool_fits pools any model by Rubin's rules as mice does, and by the fused rule", {
  skip_if_no_core()
  skip_if_not_installed("mice")
  fused <- pool_fixture()
  fits <- lapply(split(fused, fused$.imp), function(d) stats::lm(dividends ~ wage, data = d))  # age, wage collinear here
  ours <- fuse_pool_fits(fits)
  theirs <- summary(mice::pool(mice::as.mira(fits)))
  expect_equal(ours$term, c("(Intercept)", "wage"))
  expect_equal(ours$estimate, theirs$estimate, tolerance = 1e-10)
  expect_equal(ours$se, theirs$std.error, tolerance = 1e-10)
  expect_equal(ours$df, theirs$df, tolerance = 1e-6)  # Barnard-Rubin with the fits' residual df
  # a mira from with() on a mids gives the same
  mira <- with(as_mids(fused), stats::lm(dividends ~ wage))
  expect_equal(fuse_pool_fits(mira)$estimate, ours$estimate)
  nested <- fuse_pool_fits(fits, rule = "fused", resamples = 4)
  q <- sapply(fits, function(f) stats::coef(f)[["wage"]])
  u <- sapply(fits, function(f) stats::vcov(f)["wage", "wage"])
  g <- matrix(q, nrow = 2, byrow = TRUE)
  w_e <- mean(apply(g, 2, stats::var))
  b_m <- stats::var(colMeans(g))
  total <- max(mean(u) - w_e, 0) + (1 + 1 / 4) * max(b_m - w_e / 2, 0) + w_e / 8
  expect_equal(nested$total[nested$term == "wage"], total)
  expect_error(fuse_pool_fits(fits[1]), class = "surveyfuse_error_bad_argument")
  other <- fits
  other[[3]] <- stats::lm(dividends ~ 1, data = fused[fused$.imp == 3, ])
  expect_error(fuse_pool_fits(other), "Fit 3", class = "surveyfuse_error_bad_argument")
  expect_error(fuse_pool_fits(fits, rule = "fused"), class = "surveyfuse_error_bad_argument")
})

test_that("fuse_pool takes resamples from how an imputed tibble nests, and refuses what does not nest", {
  skip_if_no_core()
  fused <- pool_fixture()
  expect_equal(fuse_pool(fused, "mean", "dividends", rule = "fused"),
               fuse_pool(fused, "mean", "dividends", rule = "fused", resamples = 4))
  expect_error(fuse_pool(fused, "mean", "dividends", rule = "fused", resamples = 2), "4 donor resamples",
               class = "surveyfuse_error_bad_argument")
  donor <- data.frame(age = rep(20:69, 8), wage = rep(seq(1e4, 8e4, length.out = 50), 8))
  donor$dividends <- round(donor$wage * 0.02 + rep(c(0, 50, 300, 900), 100))
  hotdeck <- fuse_impute(donor, donor[seq(1, 400, by = 4), c("age", "wage")], dividends, c(age, wage),
                         method = "hotdeck", m = 8, seed = 1)
  expect_error(fuse_pool(hotdeck, "mean", "dividends", rule = "fused", resamples = 4), "hotdeck",
               class = "surveyfuse_error_bad_argument")
  plain <- as.data.frame(fused)
  attr(plain, "surveyfuse") <- NULL  # a table that lost its run report: the user's resamples is used
  expect_equal(fuse_pool(plain, "mean", "dividends", rule = "fused", resamples = 4)$total,
               fuse_pool(fused, "mean", "dividends", rule = "fused")$total)
})
