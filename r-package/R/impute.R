# The verbs: fuse_impute(), fuse_run(), fuse_methods(), fuse_check_constraints().

# Column names picked with tidyselect; unknown columns become a classed
# surveyfuse_error_missing_column naming the column.
sf_select <- function(quo, data, arg, table, call, allow_null = TRUE) {
  if (rlang::quo_is_null(quo)) {
    if (allow_null) return(NULL)
    sf_abort("bad_argument", "{.arg {arg}} must name at least one column.", call = call,
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
      sf_abort("missing_column", "{.arg {arg}} names column {.field {missing}}, which is not in {.arg {table}}.",
               call = call, context = list(column = missing, table = table))
    }
  )
  names(pos)
}

sf_check_frame <- function(x, arg, call) {
  if (!is.data.frame(x)) sf_abort("bad_argument", "{.arg {arg}} must be a data frame, not {.obj_type_friendly {x}}.", call = call)
  if (inherits(x, "grouped_df") && arg == "donor") {
    groups <- dplyr::group_vars(x)
    cli::cli_warn(c("{.arg donor} is grouped by {.field {groups}}; surveyfuse fits one model on all its rows.",
                    i = "For a model per group, impute each group on its own (e.g. with {.fn dplyr::group_modify})."),
                  class = c("surveyfuse_warning_grouped", "surveyfuse_warning"), call = call)
  }
  invisible(x)
}

# The donor's column roles, chosen with tidyselect: the same for every verb
# that fits on a donor (fuse_impute, fuse_fit, fuse_evaluate).
sf_donor_roles <- function(donor, block, predictors, weights, categorical, call) {
  sf_check_frame(donor, "donor", call)
  roles <- list(
    block = sf_select(block, donor, "block", "donor", call, allow_null = FALSE),
    predictors = sf_select(predictors, donor, "predictors", "donor", call, allow_null = FALSE),
    weights = sf_select(weights, donor, "weights", "donor", call),
    categorical = sf_select(categorical, donor, "categorical", "donor", call)
  )
  if (length(roles$weights) > 1) sf_abort("bad_weights", "{.arg weights} must name one column.", call = call)
  roles
}

sf_constraints <- function(constraints, call) {
  if (!is.null(constraints) && !is.character(constraints)) {
    sf_abort("constraint_syntax", "{.arg constraints} must be a character vector such as {.val a <= b}.", call = call)
  }
  if (length(constraints)) as.list(constraints) else NULL
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
    sf_abort("bad_param", "{.arg params} must be a named list, such as {.code list(k = 5)}.", call = call,
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

sf_method <- function(method, call) {
  if (is.null(method)) return(NULL)
  if (!is.character(method) || length(method) != 1 || is.na(method)) {
    sf_abort("unknown_method", "{.arg method} must be one method name, see {.fn fuse_methods}.", call = call,
             context = list(argument = "method"))
  }
  method
}

# Only the predictors cross to the core, so R itself refuses a recipient that
# already has a block column (the core's block_in_recipient).
sf_check_no_block <- function(recipient, block, arg, call) {
  present <- intersect(block, names(recipient))
  if (length(present)) {
    column <- present[1]
    sf_abort("block_in_recipient", c("{.arg {arg}} already has block column {.field {column}}.",
                                     i = "Drop it first: surveyfuse never overwrites the recipient's data."),
             call = call, context = list(column = column))
  }
}

sf_flag <- function(x, arg, call) {
  if (is.null(x)) return(FALSE)  # NULL is the default, as for every optional argument
  if (!is.logical(x) || length(x) != 1 || is.na(x)) {
    sf_abort("bad_argument", "{.arg {arg}} must be {.code TRUE} or {.code FALSE}, not {.obj_type_friendly {x}}.", call = call)
  }
  x
}

# The imputed tibble: .imp, .id first (mice's conventions), the recipient's
# own rows with every R type and attribute (R repeats them itself; only the
# drawn columns crossed from Python), then the block with the donor's types.
sf_long <- function(result, recipient, block_proto, info, offset = 0L, drawn = sf_decode(result$table)) {
  imp <- as.integer(drawn[["_imp"]])
  id <- as.integer(drawn[["_row"]]) + 1L
  drawn[["_imp"]] <- NULL
  drawn[["_row"]] <- NULL
  if (!is.null(block_proto)) drawn <- sf_restore_types(drawn, block_proto)
  groups <- if (inherits(recipient, "grouped_df")) dplyr::group_vars(recipient) else character()
  rows <- vctrs::vec_slice(sf_ungroup(recipient), id - as.integer(offset))
  out <- tibble::new_tibble(c(list(.imp = imp, .id = id), as.list(rows), as.list(drawn)), nrow = length(imp))
  report <- tryCatch(jsonlite::fromJSON(result$report, simplifyVector = TRUE), error = function(e) list())
  info$method <- info$method %||% report$method
  out <- new_imputed(out, c(info, list(report = report)))
  if (length(groups)) out <- dplyr::group_by(out, !!!rlang::syms(groups))
  out
}

# A grouped tibble as a plain one (grouping is handled by the caller).
sf_ungroup <- function(x) {
  if (inherits(x, "grouped_df")) x <- dplyr::ungroup(x)
  x
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
#' number, from 1), then the recipient's columns exactly as they were
#' (factors, Dates, haven labels and any other attributes), then the block
#' with the donor's types. With `include = TRUE` the original recipient rows
#' come first as `.imp == 0` with the block missing, as mice's
#' `complete(include = TRUE)` and Stata's `mi import flong` expect.
#' [as_mids()] turns the result into a `mids` object for [mice::pool()];
#' [fuse_write()] writes it for Stata. Its run report (donor rows used and
#' dropped, constraint checks, warnings) is printed below the rows and
#' returned by [fuse_report()].
#'
#' Predictors must be coded the same way in both surveys: a predictor whose
#' donor values are labels and whose recipient values are codes (or text
#' against numbers) is an error of class `surveyfuse_error_predictor_coding`;
#' recipient categories the donor never has give a warning of class
#' `surveyfuse_warning_predictor_coding` naming the column and the values.
#' A grouped recipient gives a result grouped the same way; a grouped donor
#' is fitted as one (with a warning).
#'
#' @param donor A data frame that observes `predictors` and `block`.
#' @param recipient A data frame that observes `predictors` but not `block`.
#' @param block <[`tidy-select`][tidyselect::language]> Columns of `donor`
#'   to impute jointly.
#' @param predictors <[`tidy-select`][tidyselect::language]> Columns of
#'   `recipient` (also in `donor`) to condition on.
#' @param ... Not used; the arguments after it must be named.
#' @param method Imputation method, see [fuse_methods()]: `"forest"`,
#'   `"hotdeck"`, `"qrf"`, ... `NULL` (the default) uses the core's default
#'   method, the one [fuse_methods()] marks.
#' @param m Number of imputations (draws per recipient row); `NULL` for the
#'   default, 20.
#' @param weights <[`tidy-select`][tidyselect::language]> Optional donor
#'   column of sampling weights.
#' @param constraints Character vector of identities every imputed record must
#'   satisfy, e.g. `c("e00650 <= e00600", "e00300 >= 0")`.
#' @param seed A non-negative whole number; the same seed gives the same draws.
#'   `NULL` (the default) draws a random seed, which the run report shows.
#' @param categorical <[`tidy-select`][tidyselect::language]> Columns to treat
#'   as categorical whatever their type (factors and text always are).
#' @param params A named list of method parameters, e.g. `list(k = 10)`.
#' @param include If `TRUE`, the original recipient rows come first as
#'   `.imp == 0`, with the block missing.
#' @param tolerance How far the two sides of a constraint may differ and still
#'   hold: `list(abs = , rel = )`, `|lhs - rhs| <= abs + rel * sum(|terms|)`.
#'   `NULL` (the default) is `abs = 1e-6, rel = 1e-5`, which covers numbers
#'   stored in single precision (Stata `float`); integer columns are exact.
#'   Donor rows off by no more than that are repaired, rows off by more are
#'   left out with a warning when they exceed 1\% of the donor weight.
#' @param strict If `TRUE`, that warning is an error (`surveyfuse_error_donors_dropped`).
#' @return A `surveyfuse_imputed` tibble with `nrow(recipient) * m` rows
#'   (`* (m + 1)` with `include = TRUE`).
#' @seealso [fuse_fit()] to fit once and impute many recipients,
#'   [fuse_evaluate()] to choose a method, [fuse_run()] for JSON task specs,
#'   [as_mids()] to pool analyses, [fuse_write()] for Stata.
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
fuse_impute <- function(donor, recipient, block, predictors, ..., method = NULL, m = 20, weights = NULL,
                        constraints = NULL, seed = NULL, categorical = NULL, params = list(), include = FALSE,
                        tolerance = NULL, strict = FALSE) {
  rlang::check_dots_empty()
  call <- rlang::current_env()
  sf_check_frame(recipient, "recipient", call)
  roles <- sf_donor_roles(donor, rlang::enquo(block), rlang::enquo(predictors), rlang::enquo(weights),
                          rlang::enquo(categorical), call)
  predictors <- roles$predictors
  missing_pred <- setdiff(predictors, names(recipient))
  if (length(missing_pred)) {
    column <- missing_pred[1]
    sf_abort("missing_column", "Predictor {.field {column}} is in {.arg donor} but not in {.arg recipient}.",
             call = call, context = list(column = column, table = "recipient"))
  }
  sf_check_no_block(recipient, roles$block, "recipient", call)
  donor_cols <- unique(c(predictors, roles$block, roles$weights, roles$categorical))
  sent <- intersect(unique(c(predictors, roles$categorical)), names(recipient))
  result <- sf_call(
    "impute", sf_encode(sf_ungroup(donor)[donor_cols], "donor", call),
    sf_encode(sf_ungroup(recipient)[sent], "recipient", call),
    block = as.list(roles$block), predictors = as.list(predictors), method = sf_method(method, call),
    params = sf_params_json(params, call), draws = sf_scalar_int(m %||% 20L), constraints = sf_constraints(constraints, call),
    categorical = if (length(roles$categorical)) as.list(roles$categorical) else NULL,
    weights = roles$weights, seed = sf_scalar_int(seed), include = sf_flag(include, "include", call),
    tolerance = sf_tolerance_json(tolerance, call), strict = sf_flag(strict, "strict", call),
    .call = call
  )
  sf_long(result, recipient, donor[0, roles$block, drop = FALSE],
          list(block = roles$block, predictors = predictors, method = NULL))
}

#' Run a JSON task spec
#'
#' Runs a surveyfuse task spec (the same file the command line
#' `surveyfuse run` takes): reads the donor and recipient it names, imputes its
#' block and returns the long tibble of [fuse_impute()]. The result is the
#' same as the command line's output for the same seed.
#'
#' @param spec Path to the JSON spec.
#' @param ... Not used; the arguments after it must be named.
#' @param m,seed,method Optional overrides of the spec's `draws`, `seed` and
#'   `method`.
#' @param include Optional override of the spec's `include_original`: the
#'   original recipient rows as `.imp == 0`.
#' @param write If `TRUE`, also write the spec's `output` file (or `output`)
#'   as the command line does. By default nothing is written; the run still
#'   fails where the command line would (e.g. names Stata cannot hold when the
#'   spec's output is `.dta`).
#' @param output Optional output path overriding the spec's (with `write = TRUE`).
#' @return A `surveyfuse_imputed` tibble with `.imp` and `.id`, as [fuse_impute()].
#' @examples
#' spec <- system.file("specs", "tasks", "ok_hotdeck_investment.json", package = "surveyfuse")
#' if (fuse_python_available()) {
#'   long <- fuse_run(spec, m = 2)
#'   dim(long)
#' }
#' @export
fuse_run <- function(spec, ..., m = NULL, seed = NULL, method = NULL, include = NULL, write = FALSE, output = NULL) {
  rlang::check_dots_empty()
  call <- rlang::current_env()
  if (!is.character(spec) || length(spec) != 1 || is.na(spec)) {
    sf_abort("bad_argument", "{.arg spec} must be the path of a JSON task spec.", call = call)
  }
  path <- normalizePath(spec, mustWork = FALSE)
  result <- sf_call("run_spec", path, write = sf_flag(write, "write", call),
                    draws = sf_scalar_int(m), seed = sf_scalar_int(seed), method = sf_method(method, call),
                    output = if (is.null(output)) NULL else normalizePath(output, mustWork = FALSE),
                    include = if (is.null(include)) NULL else sf_flag(include, "include", call), .call = call)
  info <- jsonlite::fromJSON(sf_call("spec_info", path, .call = call)$json)
  # the core read the recipient: its rows are those of the first draw
  table <- sf_decode(result$table)
  drawn_cols <- intersect(c(info$block, "_off_support", "_imp", "_row"), names(table))
  recipient <- table[table[["_imp"]] == min(table[["_imp"]]), setdiff(names(table), drawn_cols), drop = FALSE]
  sf_long(result, recipient, NULL, list(block = info$block, predictors = info$predictors, method = info$method),
          drawn = table[drawn_cols])
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

#' The parameters of one imputation method
#'
#' What `params` accepts for `method`, read from the core's declaration of the
#' method's parameters (the one that validates them), so it never drifts from
#' the core.
#'
#' @param method A method name, see [fuse_methods()].
#' @return A tibble with one row per parameter: `parameter`, `default` (a list
#'   column: defaults mix numbers, strings, `NULL` and vectors), `expected` (the
#'   allowed values, as the `bad_param` error words them) and `description`.
#' @examples
#' if (fuse_python_available()) fuse_method_parameters("hotdeck")
#' @export
fuse_method_parameters <- function(method) {
  call <- rlang::current_env()
  if (!rlang::is_string(method)) {
    sf_abort("unknown_method", "{.arg method} must be one method name, see {.fn fuse_methods}.", call = call)
  }
  res <- sf_call("method_parameters", method, .call = call)
  rows <- jsonlite::fromJSON(res$json, simplifyVector = FALSE)
  field <- function(name) vapply(rows, function(r) as.character(r[[name]]), character(1))
  tibble::tibble(
    parameter = field("name"),
    default = lapply(rows, function(r) if (is.list(r$default) && length(r$default)) unlist(r$default) else r$default),
    expected = field("expected"),
    description = field("description")
  )
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
