test_that("fuse_evaluate scores methods on the donor and returns tibbles", {
  skip_if_no_core()
  donor <- fuse_read(spec_data("cps_donor.parquet"))[1:1200, ]
  ev <- fuse_evaluate(donor, block = c(e00600, e00650), predictors = c(age_head, MARS, e00200),
                      methods = c("hotdeck", "hotdeck:k=1"), folds = 2, m = 5, categorical = MARS,
                      weights = s006, constraints = "e00650 <= e00600", seed = 1)
  expect_s3_class(ev, "surveyfuse_evaluation")
  expect_s3_class(ev$overall, "tbl_df")
  expect_setequal(ev$overall$method, c("hotdeck", "hotdeck_k1"))
  expect_true(all(c("energy_score", "coverage90") %in% names(ev$overall)))
  expect_setequal(unique(ev$variables$variable), c("e00600", "e00650"))
  # ten neighbours beat one on the joint score: more honest spread
  es <- setNames(ev$overall$energy_score, ev$overall$method)
  expect_lt(es[["hotdeck"]], es[["hotdeck_k1"]])
  expect_identical(ev$best, "hotdeck")
  # one long table of every fold's scores; the summaries are its means over folds
  expect_identical(names(ev$scores), c("method", "fold", "variable", "metric", "value"))
  expect_setequal(unique(ev$scores$fold), c(0, 1))
  energy <- ev$scores[ev$scores$metric == "energy_score" & is.na(ev$scores$variable), ]
  means <- tapply(energy$value, energy$method, mean)
  expect_equal(as.numeric(means[ev$overall$method]), ev$overall$energy_score, tolerance = 1e-12)
  crps <- ev$scores[ev$scores$metric == "crps" & ev$scores$variable %in% "e00600" & ev$scores$method == "hotdeck", ]
  expect_equal(mean(crps$value), ev$variables$crps[ev$variables$method == "hotdeck" & ev$variables$variable == "e00600"])
})

test_that("fuse_evaluate measures skill against predictor-blind draws and warns on a block with no signal", {
  skip_if_no_core()
  set.seed(3)
  donor <- data.frame(age = runif(800, 20, 70))
  donor$wage <- 1000 * donor$age + rnorm(800, 0, 3000)
  donor$noise <- rnorm(800)
  strong <- fuse_evaluate(donor, block = wage, predictors = age, methods = "hotdeck", folds = 2, m = 8)
  weak <- fuse_evaluate(donor, block = noise, predictors = age, methods = "hotdeck", folds = 2, m = 8)
  expect_gt(strong$overall$energy_skill, 0.5)
  expect_false(strong$metrics$low_signal)
  expect_lt(weak$overall$energy_skill, 0.05)
  expect_true(weak$metrics$low_signal)
  expect_message(print(weak), "predictor-blind")
  expect_no_message(print(strong))
})

test_that("fuse_evaluate writes a report and maps errors to classes", {
  skip_if_no_core()
  donor <- fuse_read(spec_data("cps_donor.parquet"))[1:600, ]
  dir <- tempfile()
  ev <- fuse_evaluate(donor, block = e00600, predictors = age_head, methods = "hotdeck", folds = 2, m = 3,
                      report_dir = dir)
  expect_true(file.exists(file.path(dir, "report.html")))
  expect_true(file.exists(file.path(dir, "metrics.json")))
  expect_error(fuse_evaluate(donor, block = e00600, predictors = age_head, methods = "magic", folds = 2, m = 3),
               class = "surveyfuse_error_unknown_method")
  expect_error(fuse_evaluate(donor, block = e00600, predictors = age_head, methods = "hotdeck", folds = 2, m = 0),
               class = "surveyfuse_error_bad_draws")
})

test_that("fuse_diagnose flags rows outside the donor's support", {
  skip_if_no_core()
  donor <- data.frame(age = rep(20:69, 4), region = rep(c("north", "south"), 100))
  recipient <- data.frame(age = c(25, 40, 90, 33), region = c("north", "south", "north", "west"))
  d <- fuse_diagnose(donor, recipient, predictors = c(age, region), categorical = region)
  expect_s3_class(d$numeric, "tbl_df")
  expect_identical(d$flags$out_of_range, c(FALSE, FALSE, TRUE, FALSE))
  expect_identical(d$flags$unseen_category, c(FALSE, FALSE, FALSE, TRUE))
  expect_equal(d$support$share_off_support, 0.5)
  expect_error(fuse_diagnose(donor, recipient[, "age", drop = FALSE], predictors = c(age, region)),
               class = "surveyfuse_error_missing_column")
})

test_that("fuse_evaluate fits and counts broken records under the constraints' tolerance", {
  skip_if_no_core()
  set.seed(2)
  a <- round(exp(rnorm(300, 8, 1)), 2)
  b <- ifelse(runif(300) < 0.5, round(exp(rnorm(300, 7, 1)), 2), 0)
  # parts in whole dollars, the total in cents: the identity holds to a dollar
  donor <- data.frame(x = a + b + rnorm(300, 0, 50), a = round(a), b = round(b), total = a + b)
  ev <- fuse_evaluate(donor, block = c(total, a, b), predictors = x, methods = "hotdeck", folds = 2, m = 3,
                      constraints = "total == a + b", tolerance = list(abs = 1))
  expect_equal(ev$overall$violation_share[ev$overall$method == "hotdeck"], 0)
  classes <- character()  # without it most donors break the identity: each fold's fit says so
  withCallingHandlers(
    fuse_evaluate(donor, block = c(total, a, b), predictors = x, methods = "hotdeck", folds = 2, m = 3,
                  constraints = "total == a + b"),
    warning = function(w) {
      classes <<- c(classes, class(w))
      invokeRestart("muffleWarning")
    }
  )
  expect_true("surveyfuse_warning_donors_dropped" %in% classes)
  expect_error(fuse_evaluate(donor, block = a, predictors = x, methods = "hotdeck", folds = 2, m = 3,
                             tolerance = 1), class = "surveyfuse_error_bad_argument")
})
