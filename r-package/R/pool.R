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
#' 10 by default; draw a multiple of it, at least twice as many). Its variance
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
#' @param resamples For `rule = "fused"`: the number of donor resamples.
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
  data <- as.data.frame(data)
  data <- data[data[[".imp"]] > 0, intersect(unique(c(".imp", column, y, x, weights)), names(data)), drop = FALSE]
  names(data)[names(data) == ".imp"] <- "_imp"
  res <- sf_call("pool", sf_encode(data, "data", call), statistic, column, y,
                 if (is.null(x)) NULL else as.list(x), weights, q, rule, resamples, .call = call)
  tibble::as_tibble(sf_decode(res))
}
