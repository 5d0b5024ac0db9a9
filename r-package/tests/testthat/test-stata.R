# Data as Stata users hold it, end to end: a .dta with value labels, variable
# labels, formats and extended missing values, read with haven or fuse_read(),
# imputed, written for Stata's mi commands and read back.

stata_file <- function() {
  skip_if_not_installed("haven")
  set.seed(7)
  n <- 300
  mars <- sample(c(1, 2, 4), n, TRUE)
  age <- sample(20:80, n, TRUE)
  wage <- round(exp(rnorm(n, 10, 0.5)) * (1 + (mars == 2)))
  div <- round(pmax(0, rnorm(n, wage / 50, 100)))
  wage[1:4] <- haven::tagged_na(c("a", "b", "a", "b"))  # refused / not asked
  x <- tibble::tibble(
    id = seq_len(n),
    age = haven::labelled(age, label = "Age of head"),
    MARS = haven::labelled(mars, c(single = 1, joint = 2, head = 4), label = "Filing status"),
    wage = haven::labelled(wage, c(refused = -1), label = "Wages and salaries"),
    div = div
  )
  attr(x$age, "format.stata") <- "%8.0g"
  path <- tempfile(fileext = ".dta")
  haven::write_dta(x, path)
  path
}

test_that("finding 1: columns read by haven (labels, formats) go through the bridge, fuse_impute and fuse_write", {
  skip_if_no_core()
  path <- stata_file()
  d <- haven::read_dta(path)
  expect_identical(attr(d$age, "format.stata"), "%8.0g")
  donor <- d[d$id > 100, c("age", "MARS", "wage", "div")]
  recipient <- d[d$id <= 100, c("id", "age", "MARS", "wage")]
  long <- fuse_impute(donor, recipient, block = div, predictors = c(age, MARS, wage), method = "hotdeck", m = 2, seed = 1)
  expect_identical(nrow(long), 200L)
  expect_identical(strip(long[long$.imp == 1, names(recipient)]), recipient)  # labels, formats, tagged NAs kept
  expect_identical(haven::na_tag(long$wage[1:4]), c("a", "b", "a", "b"))
  plain <- data.frame(income = c(10, 20, 30, 40, 50, 60), y = c(1, 3, 2, 5, 4, 6))
  attr(plain$income, "label") <- "Income"
  out <- fuse_impute(plain, vctrs::vec_slice(plain["income"], 1:2), block = y, predictors = income,
                     method = "hotdeck", m = 2, seed = 1)
  expect_identical(attr(out$income, "label"), "Income")
  file <- tempfile(fileext = ".dta")
  fuse_write(d, file)
  expect_identical(fuse_roundtrip(d), d)
})

test_that("finding 2: fuse_read() gives unordered factors for value labels, keeps variable labels and tagged NAs", {
  skip_if_no_core()
  path <- stata_file()
  d <- fuse_read(path)
  expect_s3_class(d$MARS, "factor")
  expect_false(is.ordered(d$MARS))
  expect_identical(levels(d$MARS), c("single", "joint", "head"))
  expect_identical(attr(d$MARS, "label"), "Filing status")
  expect_identical(attr(d$age, "label"), "Age of head")
  fit <- stats::lm(div ~ MARS, data = d)
  expect_true(all(c("MARSjoint", "MARShead") %in% names(stats::coef(fit))))  # dummies, not MARS.L / MARS.Q
  expect_true(is.ordered(fuse_read(path, ordered = TRUE)$MARS))
  # partly labelled: stays numeric, a haven-labelled vector with its tagged NAs
  expect_s3_class(d$wage, "haven_labelled")
  expect_identical(attr(d$wage, "labels"), c(refused = -1))
  expect_identical(haven::na_tag(d$wage[1:5]), c("a", "b", "a", "b", NA))
  # written back: the same codes, labels and missing codes, as haven reads them
  out <- tempfile(fileext = ".dta")
  fuse_write(d, out)
  h <- haven::read_dta(out)
  expect_identical(as.numeric(h$MARS), as.numeric(haven::read_dta(path)$MARS))
  expect_identical(attr(h$MARS, "labels"), c(single = 1, joint = 2, head = 4))
  expect_identical(attr(h$MARS, "label"), "Filing status")
  expect_identical(attr(h$wage, "label"), "Wages and salaries")
  expect_identical(haven::na_tag(h$wage[1:5]), c("a", "b", "a", "b", NA))
})

test_that("finding 3: include = TRUE gives the mi import flong layout, in R and in the written .dta", {
  skip_if_no_core()
  path <- stata_file()
  d <- fuse_read(path)
  donor <- d[d$id > 100, ]
  recipient <- d[d$id <= 100, c("id", "age", "MARS")]
  m <- 3
  long <- fuse_impute(donor, recipient, block = c(wage, div), predictors = c(age, MARS), method = "hotdeck",
                      m = m, seed = 2, include = TRUE)
  expect_identical(long$.imp, rep(0:m, each = 100L))
  expect_true(all(is.na(long$div[long$.imp == 0])))
  expect_false(anyNA(long$div[long$.imp > 0]))
  imp <- as_mids(long)
  expect_equal(imp$m, m)
  file <- tempfile(fileext = ".dta")
  expect_message(fuse_write(long, file), "_imp")
  h <- haven::read_dta(file)
  # Stata's rules for mi import flong, m(_imp) id(_id) imputed(wage div) (mi_import.ado):
  counts <- table(h$`_imp`)
  expect_identical(names(counts), as.character(0:m))                 # m = 0 holds the original data
  expect_true(all(counts == 100))                                    # every id in every m
  expect_false(anyDuplicated(paste(h$`_imp`, h$`_id`)) > 0)          # (m, id) identify the rows
  expect_setequal(h$`_id`[h$`_imp` == 0], h$`_id`[h$`_imp` == 3])     # no id only in m > 0
  expect_true(all(is.na(h$div[h$`_imp` == 0])) && !anyNA(h$div[h$`_imp` > 0]))
  expect_true(is.numeric(h$wage) && is.numeric(h$div) && is.numeric(h$MARS))  # imputed() must be numeric
  expect_false(any(c("_mi_m", "_mi_id", "_mi_miss") %in% names(h)))  # mi import makes these itself
  regular <- h[h$`_imp` > 0, c("_id", "age")]
  expect_identical(as.vector(tapply(as.numeric(regular$age), regular$`_id`, function(v) length(unique(v)))),
                   rep(1L, 100))                                     # unimputed columns equal across m
  # a long table without its original rows gets them from fuse_write(include = TRUE)
  plain <- fuse_impute(donor, recipient, block = c(wage, div), predictors = c(age, MARS), method = "hotdeck",
                       m = m, seed = 2)
  file2 <- tempfile(fileext = ".dta")
  suppressMessages(fuse_write(plain, file2, include = TRUE))
  expect_identical(haven::read_dta(file2), h)
})

test_that("finding 4: predictors coded differently in donor and recipient are caught before fitting", {
  skip_if_no_core()
  path <- stata_file()
  d <- fuse_read(path)
  donor <- d[d$id > 100, ]
  codes <- haven::zap_labels(haven::read_dta(path))[1:50, c("id", "age", "MARS")]
  e <- tryCatch(fuse_impute(donor, codes, block = div, predictors = c(age, MARS), method = "hotdeck", m = 2, seed = 1),
                error = identity)
  expect_s3_class(e, "surveyfuse_error_predictor_coding")
  expect_match(conditionMessage(e), "'MARS'", fixed = TRUE)
  expect_match(conditionMessage(e), "'single'", fixed = TRUE)
  expect_identical(e$surveyfuse_context$column, "MARS")
  # wages as text with thousands separators
  donor_text <- data.frame(age = 20:59, wage = format(seq(21900, by = 1000, length.out = 40), big.mark = ","),
                           y = 1:40)
  e <- tryCatch(fuse_impute(donor_text, donor_text[1:3, c("age", "wage")], block = y, predictors = c(age, wage),
                            method = "hotdeck", m = 2, seed = 1), error = identity)
  expect_s3_class(e, "surveyfuse_error_non_numeric")
  expect_match(conditionMessage(e), "'21,900'", fixed = TRUE)
  donor_num <- transform(donor_text, wage = seq(21900, by = 1000, length.out = 40))
  e <- tryCatch(fuse_impute(donor_num, donor_text[1:3, c("age", "wage")], block = y, predictors = c(age, wage),
                            method = "hotdeck", m = 2, seed = 1), error = identity)
  expect_s3_class(e, "surveyfuse_error_predictor_coding")
  expect_match(conditionMessage(e), "thousands separators")
  # another level set: a warning that names the column and the values; the run goes on
  other <- d[1:20, c("id", "age", "MARS")]
  other$MARS <- factor(ifelse(seq_len(20) <= 5, "widowed", as.character(other$MARS)))
  expect_warning(
    long <- fuse_impute(donor, other, block = div, predictors = c(age, MARS), method = "hotdeck", m = 2, seed = 1),
    class = "surveyfuse_warning_predictor_coding", regexp = "'MARS'.*'widowed'"
  )
  expect_identical(nrow(long), 40L)
  expect_match(fuse_report(long)$report$warnings, "widowed")
})

test_that("finding 5: empty recipients, unused list columns and grouped tibbles", {
  skip_if_no_core()
  donor <- data.frame(g = rep(c("a", "b"), 20), age = 21:60, wage = seq(100, 4000, by = 100))
  recipient <- tibble::tibble(g = c("a", "b", "a"), age = c(30, 40, 50), notes = list(1, "x", NULL))
  expect_error(fuse_impute(donor, recipient[0, ], block = wage, predictors = age, method = "hotdeck", m = 2),
               class = "surveyfuse_error_empty_recipient")
  long <- fuse_impute(donor, recipient, block = wage, predictors = age, method = "hotdeck", m = 2, seed = 1)
  expect_identical(long$notes, rep(recipient$notes, 2))
  e <- tryCatch(fuse_impute(donor, recipient, block = wage, predictors = c(age, notes), method = "hotdeck", m = 2),
                error = identity)
  expect_s3_class(e, "surveyfuse_error")
  expect_false(inherits(e, "surveyfuse_error_internal"))
  skip_if_not_installed("dplyr")
  grouped <- dplyr::group_by(recipient, g)
  long <- fuse_impute(donor, grouped, block = wage, predictors = age, method = "hotdeck", m = 2, seed = 1)
  expect_identical(dplyr::group_vars(long), "g")
  expect_identical(fuse_report(long)$block, "wage")
  expect_warning(fuse_impute(dplyr::group_by(donor, g), recipient, block = wage, predictors = age, method = "hotdeck",
                             m = 2, seed = 1), class = "surveyfuse_warning_grouped")
})

test_that("finding 6: fuse_evaluate() prints full metric names, directions, the verdict with its uncertainty", {
  skip_if_no_core()
  set.seed(3)
  donor <- data.frame(age = runif(600, 20, 70))
  donor$wage <- 1000 * donor$age + rnorm(600, 0, 3000)
  donor$noise <- rnorm(600)
  ev <- fuse_evaluate(donor, block = wage, predictors = age, methods = c("hotdeck", "hotdeck:k=1"),
                      folds = 3, m = 8, seed = 1)
  printed <- function(x) {
    table <- utils::capture.output(lines <- cli::cli_fmt(print(x)))
    gsub("\\s+", " ", paste(c(table, lines), collapse = " "))
  }
  text <- printed(ev)
  expect_match(text, "energy score of the standardised block")
  expect_match(text, "lower is better")
  expect_match(text, "target 0.9")
  expect_match(text, "hotdeck is better than hotdeck_k1 in [0-9] of 3 folds; gap [0-9.]+ \\+- [0-9.]+")
  expect_match(text, "3 folds of about 200 held-out rows")
  expect_true(ev$verdict$comparisons$clear)
  # two labels for one method tie exactly: no method is clearly better
  tie <- fuse_evaluate(donor, block = wage, predictors = age, methods = c("hotdeck", "hotdeck:k=10"),
                       folds = 3, m = 4, seed = 1)
  expect_match(printed(tie), "no method is clearly better")
  weak <- fuse_evaluate(donor, block = noise, predictors = age, methods = "hotdeck", folds = 2, m = 8, seed = 1)
  expect_match(printed(weak), "Low signal")
})

test_that("print() of an imputed tibble shows its run report; dplyr verbs keep it", {
  skip_if_no_core()
  donor <- data.frame(age = 21:60, wage = seq(100, 4000, by = 100), bonus = rep(c(0, 5), 20))
  long <- fuse_impute(donor, data.frame(age = c(30, 40)), block = c(wage, bonus), predictors = age,
                      method = "hotdeck", m = 2, seed = 4, constraints = "bonus <= wage")
  out <- paste(utils::capture.output(print(long)), collapse = "\n")
  expect_match(out, "surveyfuse: method hotdeck, m = 2, seed 4")
  expect_match(out, "donor rows: 40 \\(40 used")
  expect_match(out, "constraints: 4 records checked, 0 broken")
  skip_if_not_installed("dplyr")
  for (kept in list(dplyr::filter(long, .imp == 1), dplyr::mutate(long, z = wage * 2), dplyr::arrange(long, wage),
                    dplyr::select(long, .imp, .id, wage))) {
    expect_identical(fuse_report(kept)$report$seed, 4L)
  }
})
