# The verbs: fuse_impute(), fuse_run(), fuse_fit() + predict(), fuse_methods().

# Column names picked with tidyselect; unknown columns become a classed
# surveyfuse_error_missing_column naming the column.
sf_select <- function(quo, data, arg, table, call, allow_null = TRUE) {
  if (rlang::quo_is_null(quo)) {
    if (allow_null) return(NULL)
    sf_abort("bad_argument", paste0("`", arg, "` must name at least one column."), call = call,
             context = list(argument = arg))
  }
  # a variable holding column names (block = my_cols) is taken as all_of(my_cols)
  expr <- rlang::quo_get_expr(quo)
  if (rlang::is_symbol(expr) && !rlang::as_string(expr) %in% names(data)) {
    value <- tryCatch(rlang::eval_tidy(quo), error = function(e) NULL)
    if (is.character(value)) quo <- rlang::quo(tidyselect::all_of(!!value))
  }
  pos <- tryCatch(
    tidyselect::eval_select(quo, data, allow_rename = FALSE),
    vctrs_error_subscript_oob = function(e) {
      missing <- tryCatch(as.character(e$i), error = function(e2) "?")
      missing <- setdiff(missing, names(data))[1] %||% missing[1]
      sf_abort("missing_column",
               paste0("`", arg, "` names column '", missing, "', which is not in `", table, "`."),
               call = call, context = list(column = missing, table = table))
    }
  )
  names(pos)
}

# The donor's column roles, chosen with tidyselect: the same for every verb
# that fits on a donor (fuse_fit, fuse_evaluate).
sf_donor_roles <- function(donor, block, predictors, weights, categorical, call) {
  if (!is.data.frame(donor)) sf_abort("bad_argument", paste0("`donor` must be a data frame, not ", sf_type_name(donor), "."), call = call)
  list(
    block = sf_select(block, donor, "block", "donor", call, allow_null = FALSE),
    predictors = sf_select(predictors, donor, "predictors", "donor", call, allow_null = FALSE),
    weights = sf_select(weights, donor, "weights", "donor", call),
    categorical = sf_select(categorical, donor, "categorical", "donor", call)
  )
}

sf_scalar_int <- function(x) {
  if (is.numeric(x) && length(x) == 1 && !is.na(x) && x == round(x) && abs(x) < .Machine$integer.max) {
    return(as.integer(x))
  }
  if (is.null(x)) return(NULL)
  if (length(x) == 1 && is.na(x)) return("NA")
  if (is.numeric(x) && length(x) == 1) return(x)
  paste(format(x), collapse = ", ")
}

sf_params_json <- function(params, call) {
  if (is.null(params) || length(params) == 0) return("{}")
  if (!is.list(params) || is.null(names(params)) || any(!nzchar(names(params)))) {
    sf_abort("bad_param", "`params` must be a named list, such as `list(k = 5)`.", call = call,
             context = list(argument = "params"))
  }
  as.character(jsonlite::toJSON(params, auto_unbox = TRUE, digits = NA, null = "null"))
}

# `tolerance = list(abs = , rel = )` (either may be left out or NULL) as JSON for the core.
sf_tolerance_json <- function(tolerance, call) {
  if (is.null(tolerance)) return(NULL)
  if (!(is.list(tolerance) || is.numeric(tolerance)) || is.null(names(tolerance)) ||
      !all(names(tolerance) %in% c("abs", "rel"))) {
    sf_abort("bad_argument", "`tolerance` must be a named list such as `list(abs = 1e-6, rel = 1e-5)`.", call = call,
             context = list(argument = "tolerance"))
  }
  as.character(jsonlite::toJSON(as.list(tolerance), auto_unbox = TRUE, digits = NA, null = "null"))
}

sf_flag <- function(x, arg, call) {
  if (is.null(x)) return(FALSE)
  if (!is.logical(x) || length(x) != 1 || is.na(x)) {
    sf_abort("bad_argument", paste0("`", arg, "` must be TRUE or FALSE."), call = call, context = list(argument = arg))
  }
  x
}

# Warnings of the core (donor rows left out, ...) travel in the report; R raises them.
sf_relay_warnings <- function(report) {
  for (w in unlist(report$warnings)) cli::cli_warn("{w}", class = "surveyfuse_warning")
  invisible(report)
}

sf_method <- function(method, call) {
  if (is.null(method)) return(NULL)
  if (!is.character(method) || length(method) != 1 || is.na(method)) {
    sf_abort("unknown_method", "`method` must be one method name, see `fuse_methods()`.", call = call,
             context = list(argument = "method"))
  }
  method
}

# The long result: .imp, .id first (mice's conventions), recipient columns with
# their R types, then the block with the donor's R types.
sf_long <- function(result, recipient_proto, block_proto, info) {
  tbl <- sf_decode(result$table)
  imp <- tbl[["_imp"]]
  id <- tbl[["_row"]] + 1L
  tbl[["_imp"]] <- NULL
  tbl[["_row"]] <- NULL
  tbl <- sf_restore_types(tbl, recipient_proto)
  if (!is.null(block_proto)) tbl <- sf_restore_types(tbl, block_proto)
  out <- tibble::new_tibble(c(list(.imp = as.integer(imp), .id = as.integer(id)), as.list(tbl)), nrow = nrow(tbl))
  report <- tryCatch(jsonlite::fromJSON(result$report, simplifyVector = TRUE), error = function(e) list())
  sf_relay_warnings(report)
  attr(out, "surveyfuse") <- c(info, list(report = report))
  out
}

#' Impute a block of variables from a donor survey onto a recipient survey
#'
#' Learns the joint distribution of the `block` columns given the
#' `predictors` on the `donor`, then draws the whole block jointly `m` times
#' for every row of the `recipient`. The recipient's own data are never
#' changed. Records satisfy the declared `constraints` (identities such as
#' `"e00650 <= e00600"`).
#'
#' The result is a long tibble in the layout of [mice::complete()] with
#' `action = "long"`: `.imp` (1 to `m`) and `.id` (the recipient's row
#' number, from 1), then the recipient's columns with their original types
#' (factors keep their levels, Dates stay Dates, integers stay integers),
#' then the block with the donor's types. [as_mids()] turns it into a `mids`
#' object for [mice::pool()].
#'
#' @param donor A data frame that observes `predictors` and `block`.
#' @param recipient A data frame that observes `predictors` but not `block`.
#' @param block <[`tidy-select`][tidyselect::language]> Columns of `donor`
#'   to impute jointly.
#' @param predictors <[`tidy-select`][tidyselect::language]> Columns of
#'   `recipient` (also in `donor`) to condition on.
#' @param method Imputation method, see [fuse_methods()]: `"forest"` (the
#'   default), `"hotdeck"`, `"qrf"`, ... `NULL` uses whatever the core's
#'   default method is.
#' @param m Number of imputations (draws per recipient row); `NULL` for the
#'   default, 20.
#' @param weights <[`tidy-select`][tidyselect::language]> Optional donor
#'   column of sampling weights.
#' @param constraints Character vector of identities every imputed record must
#'   satisfy, e.g. `c("e00650 <= e00600", "e00300 >= 0")`.
#' @param seed A non-negative whole number; the same seed gives the same draws.
#'   `NULL` draws a random seed.
#' @param categorical <[`tidy-select`][tidyselect::language]> Columns to treat
#'   as categorical whatever their type (factors and text always are).
#' @param params A named list of method parameters, e.g. `list(k = 10)`.
#' @param tolerance How far the two sides of a constraint may differ and still
#'   hold: `list(abs = , rel = )`, `|lhs - rhs| <= abs + rel * sum(|terms|)`.
#'   `NULL` (the default) is `abs = 1e-6, rel = 1e-5`, which covers numbers
#'   stored in single precision (Stata `float`); integer columns are exact.
#'   Donor rows off by no more than that are repaired, rows off by more are
#'   left out with a warning when they exceed 1% of the donor weight.
#' @param strict If `TRUE`, that warning is an error (`surveyfuse_error_donors_dropped`).
#' @return A tibble with `nrow(recipient) * m` rows; its attribute
#'   `"surveyfuse"` holds the block, predictors and the run report.
#' @seealso [fuse_fit()] to fit once and impute many recipients,
#'   [fuse_run()] for JSON task specs, [as_mids()] to pool analyses.
#'   Evaluation helpers (`fuse_evaluate()`) will follow once the core has them.
#' @examples
#' if (fuse_python_available()) {
#'   donor <- data.frame(age = c(25, 40, 61, 33, 52, 47),
#'                       region = factor(c("n", "s", "n", "s", "n", "s")),
#'                       wage = c(20, 55, 30, 41, 60, 52),
#'                       bonus = c(0, 5, 0, 2, 8, 4))
#'   recipient <- data.frame(age = c(30, 58), region = factor(c("s", "n")))
#'   long <- fuse_impute(donor, recipient, block = c(wage, bonus),
#'                       predictors = c(age, region), method = "hotdeck",
#'                       m = 3, constraints = "bonus <= wage", seed = 1)
#'   long
#' }
#' @export
fuse_impute <- function(donor, recipient, block, predictors, method = "forest", m = 20, weights = NULL,
                        constraints = NULL, seed = NULL, categorical = NULL, params = list(), tolerance = NULL,
                        strict = FALSE) {
  call <- rlang::current_env()
  if (!is.data.frame(donor)) sf_abort("bad_argument", paste0("`donor` must be a data frame, not ", sf_type_name(donor), "."), call = call)
  if (!is.data.frame(recipient)) sf_abort("bad_argument", paste0("`recipient` must be a data frame, not ", sf_type_name(recipient), "."), call = call)
  block <- sf_select(rlang::enquo(block), donor, "block", "donor", call, allow_null = FALSE)
  predictors <- sf_select(rlang::enquo(predictors), recipient, "predictors", "recipient", call, allow_null = FALSE)
  weights <- sf_select(rlang::enquo(weights), donor, "weights", "donor", call)
  categorical <- sf_select(rlang::enquo(categorical), donor, "categorical", "donor", call)
  if (length(weights) > 1) sf_abort("bad_weights", "`weights` must name one column.", call = call)
  if (!is.null(constraints) && !is.character(constraints)) {
    sf_abort("constraint_syntax", "`constraints` must be a character vector such as \"a <= b\".", call = call)
  }
  donor_cols <- unique(c(intersect(predictors, names(donor)), block, weights, setdiff(categorical, names(recipient))))
  donor_cols <- intersect(donor_cols, names(donor))
  missing_pred <- setdiff(predictors, names(donor))
  if (length(missing_pred)) {
    sf_abort("missing_column", paste0("predictor column '", missing_pred[1], "' is in `recipient` but not in `donor`."),
             call = call, context = list(column = missing_pred[1], table = "donor"))
  }
  result <- sf_call(
    "impute", sf_encode(donor[donor_cols], "donor", call), sf_encode(recipient, "recipient", call),
    block = as.list(block), predictors = as.list(predictors), method = sf_method(method, call),
    params = sf_params_json(params, call), draws = sf_scalar_int(m %||% 20L),
    constraints = if (length(constraints)) as.list(constraints) else NULL,
    categorical = if (length(categorical)) as.list(categorical) else NULL,
    weights = weights, seed = sf_scalar_int(seed), tolerance = sf_tolerance_json(tolerance, call),
    strict = sf_flag(strict, "strict", call),
    .call = call, .rename = c(draws = "m", random_state = "seed")
  )
  sf_long(result, recipient, donor[0, block, drop = FALSE],
          list(block = block, predictors = predictors, method = method))
}

#' Run a JSON task spec
#'
#' Runs a surveyfuse task spec (the same file the command line
#' `surveyfuse run` takes): reads the donor and recipient it names, imputes its
#' block and returns the long tibble of [fuse_impute()]. The result is the
#' same as the command line's output for the same seed.
#'
#' @param spec Path to the JSON spec.
#' @param m,seed,method Optional overrides of the spec's `draws`, `seed` and
#'   `method`.
#' @param write If `TRUE`, also write the spec's `output` file (or `output`)
#'   as the command line does. By default nothing is written; the run still
#'   fails where the command line would (e.g. names Stata cannot hold when the
#'   spec's output is `.dta`).
#' @param output Optional output path overriding the spec's (with `write = TRUE`).
#' @return A long tibble with `.imp` and `.id`, as [fuse_impute()].
#' @examples
#' spec <- system.file("specs", "tasks", "hotdeck_investment.json", package = "surveyfuse")
#' if (fuse_python_available() && nzchar(spec)) {
#'   long <- fuse_run(spec, m = 2)
#'   dim(long)
#' }
#' @export
fuse_run <- function(spec, m = NULL, seed = NULL, method = NULL, write = FALSE, output = NULL) {
  call <- rlang::current_env()
  if (!is.character(spec) || length(spec) != 1 || is.na(spec)) {
    sf_abort("bad_argument", "`spec` must be the path of a JSON task spec.", call = call)
  }
  result <- sf_call("run_spec", normalizePath(spec, mustWork = FALSE), write = isTRUE(write),
                    draws = sf_scalar_int(m), seed = sf_scalar_int(seed), method = sf_method(method, call),
                    output = if (is.null(output)) NULL else normalizePath(output, mustWork = FALSE),
                    .call = call, .rename = if (is.null(m)) character() else c(draws = "m"))
  info <- jsonlite::fromJSON(sf_call("spec_info", normalizePath(spec, mustWork = FALSE), .call = call)$json)
  sf_long(result, NULL, NULL, list(block = info$block, predictors = info$predictors, method = info$method))
}

#' The imputation methods of the core
#'
#' @return A tibble with `method` and `default` (`TRUE` for the method used when
#'   `method = NULL`).
#' @examples
#' if (fuse_python_available()) fuse_methods()
#' @export
fuse_methods <- function() {
  res <- sf_call("methods")
  methods <- as.character(unlist(res$methods))
  tibble::tibble(method = methods, default = methods == res$default)
}

#' Check declared constraints on a table
#'
#' Counts, for each constraint, the rows of `data` that break it (for example
#' on a long result of [fuse_impute()], or on a donor before imputing).
#'
#' @param data A data frame.
#' @param constraints Character vector of constraints, e.g. `"e00650 <= e00600"`.
#' @return A tibble with `constraint` and `violations`; its attribute
#'   `"rows"` is the number of rows that break at least one constraint.
#' @examples
#' if (fuse_python_available()) {
#'   x <- data.frame(a = c(1, 5, 3), b = c(2, 4, 3))
#'   fuse_check_constraints(x, c("a <= b", "a + b == 6"))
#' }
#' @export
fuse_check_constraints <- function(data, constraints) {
  call <- rlang::current_env()
  if (!is.character(constraints)) {
    sf_abort("constraint_syntax", "`constraints` must be a character vector such as \"a <= b\".", call = call)
  }
  res <- sf_call("check_constraints", sf_encode(data, "data", call), as.list(constraints), .call = call)
  out <- tibble::tibble(constraint = as.character(unlist(res$constraints)),
                        violations = as.integer(unlist(res$violations)))
  attr(out, "rows") <- as.integer(res$rows)
  out
}
