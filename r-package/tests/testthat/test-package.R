# Package-level facts: version, Python discovery, internal errors.

test_that("the package version is the repository's VERSION", {
  root <- repo_root()
  skip_if(is.na(root), "not inside a surveyfuse checkout")
  expect_identical(as.character(utils::packageVersion("surveyfuse")), trimws(readLines(file.path(root, "VERSION"))[1]))
})

test_that("SURVEYFUSE_PYTHON overrides discovery; the recorded path is used otherwise", {
  withr_env(c(SURVEYFUSE_PYTHON = "/some/where/python"), expect_identical(fuse_python(), "/some/where/python"))
  recorded <- system.file("python_path", package = "surveyfuse")
  skip_if(!nzchar(recorded), "no recorded Python path (package not installed by tools/build_r.sh)")
  withr_env(c(SURVEYFUSE_PYTHON = ""), expect_identical(fuse_python(), readLines(recorded)[1]))
})

test_that("a bug in the core surfaces as surveyfuse_error_internal", {
  skip_if_no_core()
  expect_error(surveyfuse:::sf_call("version", "unexpected argument"), class = "surveyfuse_error_internal")
})

test_that("labelled (haven) recipient columns keep their labels through fuse_impute()", {
  skip_if_no_core()
  skip_if_not_installed("haven")
  donor <- data.frame(age = c(25, 40, 61, 33, 52, 47), wage = c(20, 55, 30, 41, 60, 52))
  recipient <- data.frame(age = c(30, 58, 44))
  recipient$sex <- haven::labelled(c(1, 2, 1), c(male = 1, female = 2), label = "Sex")
  long <- fuse_impute(donor, recipient, block = wage, predictors = age, method = "hotdeck", m = 2, seed = 1)
  expect_identical(long$sex[1:3], recipient$sex)
})
