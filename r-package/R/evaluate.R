# Donor-only validation and common-support diagnostics: the core computes,
# R returns tibbles.

#' Which method to trust: donor-only cross-validation of imputation methods
#'
#' Hides the block on held-out donor rows (K folds), imputes it with each
#' method, and scores the draws against the hidden truth: energy score of the
#' standardised block (joint accuracy, lower is better), CRPS and quantile
#' loss per variable, coverage of the central 50% and 90% of the draws
#' (randomised PIT), correlation and marginal fidelity, and constraint
#' violations. All weighted by `weights` when given.
#'
#' @inheritParams fuse_impute
#' @param methods Method names (see [fuse_methods()]); `"hotdeck:k=50"` passes a parameter.
#' @param folds Number of folds.
#' @param max_rows Score on a seeded random sample of at most this many donor rows.
#' @param report_dir Optional folder for `metrics.json` and a self-contained `report.html`.
#' @return A `surveyfuse_evaluation`: a list with `overall` (a tibble, one row
#'   per method, best first), `variables` (a tibble, one row per method and
#'   variable), `best` (the method with the lowest energy score) and `metrics`
#'   (everything, as a nested list). `overall$energy_skill` is the share of the
#'   energy score of predictor-blind draws (donor records drawn by weight alone)
#'   that a method removes: near 0 means the predictors say little about the block.
#' @examples
#' if (fuse_python_available()) {
#'   set.seed(1)
#'   donor <- data.frame(age = runif(300, 20, 70))
#'   donor$wage <- round(1000 * donor$age + rnorm(300, 0, 5000))
#'   donor$bonus <- pmax(0, round(donor$wage / 10 + rnorm(300, 0, 500)))
#'   ev <- fuse_evaluate(donor, block = c(wage, bonus), predictors = age,
#'                       methods = c("hotdeck", "forest"), folds = 2, m = 5)
#'   ev$overall
#'   ev$best
#' }
#' @export
fuse_evaluate <- function(donor, block, predictors, methods = c("forest", "qrf", "hotdeck"), folds = 5, m = 20,
                          weights = NULL, constraints = NULL, categorical = NULL, seed = 0, max_rows = NULL,
                          report_dir = NULL) {
  call <- rlang::current_env()
  roles <- sf_donor_roles(donor, rlang::enquo(block), rlang::enquo(predictors), rlang::enquo(weights),
                          rlang::enquo(categorical), call)
  block <- roles$block
  predictors <- roles$predictors
  weights <- roles$weights
  categorical <- roles$categorical
  if (!is.character(methods) || length(methods) == 0) {
    sf_abort("unknown_method", "`methods` must be a character vector of method names, see `fuse_methods()`.", call = call)
  }
  cols <- unique(c(block, predictors, weights, categorical))
  res <- sf_call("evaluate", sf_encode(donor[cols], "donor", call), as.list(block), as.list(predictors),
                 methods = as.list(methods), folds = sf_scalar_int(folds), draws = sf_scalar_int(m %||% 20L),
                 weights = weights, constraints = if (is.null(constraints)) NULL else as.list(constraints),
                 categorical = if (is.null(categorical)) NULL else as.list(categorical),
                 seed = sf_scalar_int(seed), max_rows = sf_scalar_int(max_rows),
                 out = if (is.null(report_dir)) NULL else normalizePath(report_dir, mustWork = FALSE),
                 .call = call, .rename = c(draws = "m"))
  out <- list(
    overall = tibble::as_tibble(sf_decode(res$overall)),
    variables = tibble::as_tibble(sf_decode(res$variables)),
    best = res$best,
    metrics = jsonlite::fromJSON(res$metrics, simplifyVector = FALSE),
    files = unlist(res$files)
  )
  structure(out, class = "surveyfuse_evaluation")
}

#' @export
print.surveyfuse_evaluation <- function(x, ...) {
  cli::cli_text("Donor-only validation of {nrow(x$overall)} method{?s}; best by energy score: {.strong {x$best}}")
  print(x$overall, ...)
  if (isTRUE(x$metrics$low_signal)) {
    cli::cli_alert_warning(paste(
      "{.strong {x$best}} removes under {100 * x$metrics$baseline$low_skill}% of the energy score of",
      "predictor-blind draws:",
      "the predictors say little about this block, so methods differ little."))
  }
  invisible(x)
}

#' Common support: does the donor cover the recipient?
#'
#' Compares each predictor's weighted distribution in the two surveys
#' (means, spread, quantiles, standardised mean difference; level shares and
#' total-variation distance for categoricals) and flags recipient rows off
#' the donor's support: a number outside the donor's range, a category the
#' donor never has, or too few donors nearby.
#'
#' @inheritParams fuse_impute
#' @param recipient_weights Recipient column of sampling weights.
#' @return A `surveyfuse_diagnostics` list: `numeric` and `categorical`
#'   (tibbles), `support` (shares of recipient rows off support, by reason),
#'   `flags` (a tibble with one row per recipient row) and `warnings`.
#' @examples
#' if (fuse_python_available()) {
#'   donor <- data.frame(age = 20:69, region = rep(c("north", "south"), 25))
#'   recipient <- data.frame(age = c(25, 40, 90), region = c("north", "south", "west"))
#'   d <- fuse_diagnose(donor, recipient, predictors = c(age, region), categorical = region)
#'   d$support
#'   d$flags
#' }
#' @export
fuse_diagnose <- function(donor, recipient, predictors, categorical = NULL, weights = NULL, recipient_weights = NULL) {
  call <- rlang::current_env()
  for (arg in c("donor", "recipient")) {
    value <- get(arg)
    if (!is.data.frame(value)) sf_abort("bad_argument", paste0("`", arg, "` must be a data frame, not ", sf_type_name(value), "."), call = call)
  }
  predictors <- sf_select(rlang::enquo(predictors), donor, "predictors", "donor", call, allow_null = FALSE)
  missing <- setdiff(predictors, names(recipient))
  if (length(missing) > 0) {
    sf_abort("missing_column", paste0("`predictors` names column '", missing[1], "', which is not in `recipient`."),
             call = call, context = list(column = missing[1], table = "recipient"))
  }
  categorical <- sf_select(rlang::enquo(categorical), donor, "categorical", "donor", call)
  weights <- sf_select(rlang::enquo(weights), donor, "weights", "donor", call)
  recipient_weights <- sf_select(rlang::enquo(recipient_weights), recipient, "recipient_weights", "recipient", call)
  res <- sf_call("diagnose", sf_encode(donor[unique(c(predictors, weights))], "donor", call),
                 sf_encode(recipient[unique(c(predictors, recipient_weights))], "recipient", call),
                 as.list(predictors), categorical = if (is.null(categorical)) NULL else as.list(categorical),
                 weights = weights, recipient_weights = recipient_weights, .call = call)
  structure(list(
    numeric = tibble::as_tibble(sf_decode(res$numeric)),
    categorical = tibble::as_tibble(sf_decode(res$categorical)),
    support = jsonlite::fromJSON(res$support),
    flags = tibble::as_tibble(sf_decode(res$flags)),
    warnings = unlist(res$warnings)
  ), class = "surveyfuse_diagnostics")
}

#' @export
print.surveyfuse_diagnostics <- function(x, ...) {
  s <- x$support
  cli::cli_text("Recipient rows off the donor's support: {round(100 * s$share_off_support, 1)}%")
  for (w in x$warnings) cli::cli_alert_warning(w)
  print(x$numeric[, intersect(c("predictor", "donor_mean", "recipient_mean", "smd", "share_outside_range"), names(x$numeric))], ...)
  invisible(x)
}
