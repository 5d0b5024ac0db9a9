# as_mids(): the long result becomes a mids object that with() and pool() use.

test_that("as_mids() gives a mids object; pooling a regression works", {
  skip_if_no_core()
  skip_if_not_installed("mice")
  set.seed(2)
  n <- 400
  donor <- data.frame(age = runif(n, 20, 70), region = factor(sample(c("a", "b"), n, TRUE)))
  donor$wage <- 10 + 0.5 * donor$age + rnorm(n, 0, 3)
  recipient <- data.frame(age = runif(150, 20, 70), region = factor(sample(c("a", "b"), 150, TRUE)))
  long <- fuse_impute(donor, recipient, block = wage, predictors = c(age, region), method = "hotdeck", m = 5, seed = 1)
  imp <- as_mids(long)
  expect_s3_class(imp, "mids")
  expect_equal(imp$m, 5)
  expect_identical(nrow(imp$data), 150L)
  expect_true(all(is.na(imp$data$wage)))
  first <- mice::complete(imp, 1)
  expect_equal(first$wage, long$wage[long$.imp == 1])
  pooled <- summary(mice::pool(with(imp, lm(wage ~ age))))
  slope <- pooled$estimate[pooled$term == "age"]
  expect_gt(slope, 0.3)
  expect_lt(slope, 0.7)
  expect_error(as_mids(recipient), class = "surveyfuse_error_bad_argument")
})
