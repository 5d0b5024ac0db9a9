#' Turn a long imputation tibble into a mice `mids` object
#'
#' Builds a `mids` object with [mice::as.mids()] from the long result of
#' [fuse_impute()], [fuse_run()] or `predict()`, adding the original recipient
#' (the block missing) as `.imp = 0` unless the result already has it
#' (`include = TRUE`). Then `with()` fits an analysis on every completed data
#' set and [mice::pool()] combines them with Rubin's rules.
#'
#' @param data A long tibble with `.imp` and `.id`.
#' @param ... Not used; the arguments after it must be named.
#' @param block <[`tidy-select`][tidyselect::language]> The imputed columns.
#'   By default, those recorded on `data` by the function that made it.
#' @return A `mids` object.
#' @examples
#' if (fuse_python_available() && requireNamespace("mice", quietly = TRUE)) {
#'   donor <- data.frame(age = c(25, 40, 61, 33, 52, 47, 38, 29),
#'                       wage = c(20, 55, 30, 41, 60, 52, 45, 24))
#'   recipient <- data.frame(age = c(30, 58, 44, 36, 50))
#'   long <- fuse_impute(donor, recipient, block = wage, predictors = age,
#'                       method = "hotdeck", m = 3, seed = 1)
#'   imp <- as_mids(long)
#'   fits <- with(imp, lm(wage ~ age))
#'   summary(mice::pool(fits))
#' }
#' @export
as_mids <- function(data, ..., block = NULL) {
  rlang::check_dots_empty()
  call <- rlang::current_env()
  if (!requireNamespace("mice", quietly = TRUE)) {
    sf_abort("missing_dependency", "{.fn as_mids} needs the {.pkg mice} package.", call = call)
  }
  if (!is.data.frame(data) || !all(c(".imp", ".id") %in% names(data))) {
    sf_abort("bad_argument", "{.arg data} must be a long table with columns {.field .imp} and {.field .id}.", call = call)
  }
  quo <- rlang::enquo(block)
  block <- if (rlang::quo_is_null(quo)) attr(data, "surveyfuse")$block else
    sf_select(quo, data, "block", "data", call)
  if (is.null(block)) {
    sf_abort("bad_argument", "{.arg data} does not record its block; give {.arg block}.", call = call)
  }
  data <- as.data.frame(sf_ungroup(data), stringsAsFactors = FALSE)
  class(data) <- "data.frame"
  if (any(data$.imp == 0)) {
    long <- data
  } else {
    ori <- data[data$.imp == min(data$.imp), , drop = FALSE]
    for (b in block) ori[[b]][] <- NA
    ori$.imp <- 0L
    long <- rbind(ori, data)
  }
  rownames(long) <- NULL
  # mice logs (as a warning) the columns its own set-up would not impute; here nothing is imputed by mice
  withCallingHandlers(
    mice::as.mids(long, .imp = ".imp", .id = ".id"),
    warning = function(w) if (grepl("logged events", conditionMessage(w))) invokeRestart("muffleWarning")
  )
}
