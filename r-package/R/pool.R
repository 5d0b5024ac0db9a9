#' Pool a statistic over the imputations of a fused file
#'
#' Computes the statistic on each completed data set (the rows of one `.imp`
#' value; `.imp == 0`, the original rows, is left out) and combines them, by Rubin's rules (as [mice::pool()] does) or by the
#' fused-file rule. On a fused file no recipient observed the block, so Rubin's
#' rules count the draws' own noise twice and their intervals are conservative
#' unless the donor is much smaller than the recipient file. The fused-file
#' rule (`rule = "fused"`) separates that noise with nested imputations: `m`
#' draws from `resamples` donor resamples, imputation `l` from resample
#' `(l - 1)` modulo `resamples` (the `mi_groups` of the `forest` and `qrf` methods,
#' 10 by default; the fits of a generative method, 5 by default on a donor of up to
#' 2,000 rows, 10,000 for `tvae`; draw a multiple of it, at least twice as many). Its variance
#' is a difference of spreads, noisy with few draws per resample: its degrees
#' of freedom say so, and ten draws per resample (`m = 100` for the default)
#' give intervals about a tenth narrower than two. The formulas are in the
#' Python documentation of `surveyfuse.evaluate.pooling`.
#'
#' @param data The long result of [fuse_impute()] (an `.imp` column).
#' @param statistic `"mean"`, `"total"`, `"quantile"` (of `column`, level `q`)
#'   or `"regression"` (weighted least squares of `y` on `x` with an intercept,
#'   sandwich variance).
#' @param column,y,x Column names: what to estimate.
#' @param ... Must be empty.
#' @param weights Name of the survey-weight column, or `NULL`.
#' @param q Quantile level.
#' @param rule `"rubin"` or `"fused"`.
#' @param resamples For `rule = "fused"`: the number of donor resamples. A
#'   result of [fuse_impute()] or [fuse_sample()] knows how its imputations
#'   nest: `resamples` may then be left out, and a wrong one, or a method whose
#'   imputations do not nest (`hotdeck`), is an error.
#' @return A tibble, one row per quantity (`term`), with `estimate`, `within`,
#'   `between`, `total`, `se`, `df`, `riv`, `fmi`, `ci_low`, `ci_high`, `m`
#'   (95\% intervals).
#' @examples
#' if (fuse_python_available()) {
#'   donor <- data.frame(age = rep(20:69, 8), wage = rep(seq(1e4, 8e4, length.out = 50), 8))
#'   donor$dividends <- round(donor$wage * 0.02 + rep(c(0, 50, 300, 900), 100))
#'   recipient <- donor[seq(1, 400, by = 4), c("age", "wage")]
#'   fused <- fuse_impute(donor, recipient, dividends, c(age, wage), method = "forest",
#'                        params = list(mi_groups = 4), m = 8, seed = 1)
#'   fuse_pool(fused, "mean", "dividends")
#'   fuse_pool(fused, "mean", "dividends", rule = "fused", resamples = 4)
#' }
#' @export
fuse_pool <- function(data, statistic, column = NULL, ..., y = NULL, x = NULL, weights = NULL, q = 0.5,
                      rule = c("rubin", "fused"), resamples = NULL) {
  rlang::check_dots_empty()
  call <- rlang::current_env()
  sf_check_frame(data, "data", call)
  rule <- rlang::arg_match(rule)
  statistic <- rlang::arg_match(statistic, c("mean", "total", "quantile", "regression"))
  if (!".imp" %in% names(data)) {
    sf_abort("missing_column", "`data` has no `.imp` column; pass the long result of {.fn fuse_impute}.",
             call = call, context = list(column = ".imp"))
  }
  nesting <- sf_nesting(data)
  data <- as.data.frame(data)
  data <- data[data[[".imp"]] > 0, intersect(unique(c(".imp", column, y, x, weights)), names(data)), drop = FALSE]
  names(data)[names(data) == ".imp"] <- "_imp"
  res <- sf_call("pool", sf_encode(data, "data", call), statistic, column, y,
                 if (is.null(x)) NULL else as.list(x), weights, q, rule, resamples, nesting = nesting, .call = call)
  tibble::as_tibble(sf_decode(res))
}

#' Pool any model fitted on each imputation
#'
#' [fuse_pool()] computes a few statistics itself. For any other analysis (a
#' logit, a quantile regression, a model from `with()` on [as_mids()]'s
#' result), fit it on each completed data set and pool the fits here, by
#' Rubin's rules (as [mice::pool()] does) or by the fused-file rule, which
#' takes out the double count of the draws' noise that makes Rubin's rules
#' conservative on a fused file (see [fuse_pool()]). Coefficients come from
#' [stats::coef()] and their variances from the diagonal of [stats::vcov()],
#' so any model with those methods will do; pass robust variances by giving
#' `vcov` a function.
#'
#' @param fits A `mira` object (the result of `with()` on a `mids`), or a list
#'   of fitted models, one per imputation, in imputation order (`.imp` 1, 2, ...).
#' @param ... Must be empty.
#' @param rule `"rubin"` or `"fused"`.
#' @param resamples For `rule = "fused"`: the number of donor resamples (the
#'   `mi_groups` of the `forest` and `qrf` methods, 10 by default; a generative
#'   method's `mi_resamples`, 5 under `mi = "auto"` on a donor of up to 2,000 rows (`tvae`: 10,000);
#'   the run report's `nested_resamples`).
#' @param vcov A function returning a fit's variance matrix; [stats::vcov()] by default.
#' @param df_complete The complete-data degrees of freedom; by default the
#'   fits' residual df where [stats::df.residual()] gives them.
#' @return A tibble, one row per coefficient (`term`), with `estimate`,
#'   `within`, `between`, `total`, `se`, `df`, `riv`, `fmi`, `ci_low`,
#'   `ci_high`, `m` (95\% intervals).
#' @examples
#' if (fuse_python_available()) {
#'   donor <- data.frame(age = rep(20:69, 8), wage = rep(seq(1e4, 8e4, length.out = 50), 8))
#'   donor$dividends <- round(donor$wage * 0.02 + rep(c(0, 50, 300, 900), 100))
#'   recipient <- donor[seq(1, 400, by = 4), c("age", "wage")]
#'   fused <- fuse_impute(donor, recipient, dividends, c(age, wage), method = "forest",
#'                        params = list(mi_groups = 4), m = 20, seed = 1)
#'   fits <- lapply(split(fused, fused$.imp), function(d) lm(dividends ~ wage, data = d))
#'   fuse_pool_fits(fits, rule = "fused", resamples = 4)
#' }
#' @export
fuse_pool_fits <- function(fits, ..., rule = c("rubin", "fused"), resamples = NULL, vcov = stats::vcov,
                           df_complete = NULL) {
  rlang::check_dots_empty()
  call <- rlang::current_env()
  rule <- rlang::arg_match(rule)
  if (inherits(fits, "mira")) fits <- fits$analyses
  if (!is.list(fits) || inherits(fits, "data.frame") || length(fits) < 2) {
    sf_abort("bad_argument", "{.arg fits} must be a {.cls mira} object or a list of at least 2 fitted models.",
             call = call, context = list(argument = "fits"))
  }
  coefs <- lapply(seq_along(fits), function(i) {
    est <- tryCatch(stats::coef(fits[[i]]), error = function(e) NULL)
    v <- tryCatch(vcov(fits[[i]]), error = function(e) NULL)
    if (is.null(est) || is.null(v) || !is.numeric(est) || is.null(names(est))) {
      sf_abort("bad_argument", "Fit {i} has no named coefficients and variance matrix ({.fn coef}, {.arg vcov}).",
               call = call, context = list(argument = "fits", fit = i))
    }
    list(est = est, var = diag(as.matrix(v)))
  })
  terms <- names(coefs[[1]]$est)
  for (i in seq_along(coefs)) {
    if (!identical(names(coefs[[i]]$est), terms) || length(coefs[[i]]$var) != length(terms)) {
      sf_abort("bad_argument", "Fit {i} has other coefficients than fit 1; fit the same model on every imputation.",
               call = call, context = list(argument = "fits", fit = i))
    }
  }
  table <- function(part) {
    rows <- lapply(coefs, function(x) unname(x[[part]]))
    out <- as.data.frame(do.call(rbind, rows))
    names(out) <- terms
    out
  }
  if (is.null(df_complete)) {
    df <- tryCatch(stats::df.residual(fits[[1]]), error = function(e) NULL)
    df_complete <- if (is.numeric(df) && length(df) == 1 && is.finite(df)) df else NULL
  }
  res <- sf_call("pool_estimates", sf_encode(table("est"), "fits", call), sf_encode(table("var"), "fits", call),
                 rule, resamples, df_complete, .call = call)
  tibble::as_tibble(sf_decode(res))
}

# How the imputations of an imputed tibble nest in donor resamples (its run report's method and
# nested_resamples), as JSON for the core; NULL when the table no longer carries its report.
sf_nesting <- function(data) {
  info <- attr(data, "surveyfuse")
  report <- info$report
  if (is.null(report) || !("nested_resamples" %in% names(report))) return(NULL)
  as.character(jsonlite::toJSON(list(method = info$method %||% report$method, nested_resamples = report$nested_resamples),
                                auto_unbox = TRUE, null = "null"))
}
