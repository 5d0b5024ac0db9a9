# Package-level facts: version, Python discovery, internal errors.

test_that("the package version is the repository's VERSION", {
  root <- repo_root()
  skip_if(is.na(root), "not inside a surveyfuse checkout")
  expect_identical(as.character(utils::packageVersion("surveyfuse")), trimws(readLines(file.path(root, "VERSION"))[1]))
})

test_that("Python is SURVEYFUSE_PYTHON, else the environment install_surveyfuse() manages; no path is recorded", {
  withr_env(c(SURVEYFUSE_PYTHON = "/some/where/python"), expect_identical(fuse_python(), "/some/where/python"))
  expect_identical(system.file("python_path", package = "surveyfuse"), "")
  env <- tempfile("sfenv")
  withr_env(c(SURVEYFUSE_PYTHON = "", SURVEYFUSE_ENV = env), {
    expect_identical(fuse_python_env(), env)
    expect_identical(fuse_python(), NA_character_)  # not made yet
    dir.create(file.path(env, "bin"), recursive = TRUE)
    file.create(file.path(env, "bin", "python"))
    expect_identical(fuse_python(), file.path(env, "bin", "python"))
  })
  withr_env(c(SURVEYFUSE_PYTHON = "", SURVEYFUSE_ENV = ""),
            expect_identical(fuse_python_env(), file.path(tools::R_user_dir("surveyfuse", "data"), "python")))
})

test_that("the verbs take data and required arguments, then ..., then optional details", {
  verbs <- list(fuse_impute = fuse_impute, fuse_fit = fuse_fit, fuse_evaluate = fuse_evaluate,
                fuse_diagnose = fuse_diagnose, fuse_run = fuse_run, fuse_read = fuse_read, fuse_write = fuse_write,
                fuse_sample = fuse_sample, as_mids = as_mids, fuse_roundtrip = fuse_roundtrip,
                predict = surveyfuse:::predict.surveyfuse_model)
  for (name in names(verbs)) {
    f <- formals(verbs[[name]])
    dots <- match("...", names(f))
    expect_false(is.na(dots), label = paste(name, "has ..."))
    optional <- which(!vapply(f, function(a) identical(a, quote(expr = )), logical(1)))
    expect_true(all(optional > dots), label = paste(name, ": every argument with a default comes after ..."))
  }
  expect_error(fuse_read("x.parquet", TRUE), class = "rlib_error_dots_nonempty")
})

test_that("fuse_impute and fuse_evaluate have the same seed default", {
  expect_identical(formals(fuse_impute)$seed, formals(fuse_evaluate)$seed)
  expect_identical(formals(fuse_impute)$seed, formals(fuse_fit)$seed)
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

test_that("no help page loses text to an unescaped % (Rd reads the rest of the line as a comment)", {
  db <- tools::Rd_db("surveyfuse")
  comments <- function(x) {
    here <- identical(attr(x, "Rd_tag"), "COMMENT")
    inner <- if (is.list(x)) unlist(lapply(x, comments)) else character()
    c(if (here) paste(unlist(x), collapse = ""), inner)
  }
  lost <- unlist(lapply(names(db), function(page) {
    found <- comments(db[[page]])
    if (length(found)) paste0(page, ": ", found)
  }))
  expect_identical(lost, NULL)
})
