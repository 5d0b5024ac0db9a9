# Errors: the Python core reports a stable code; R raises a condition of class
# c("surveyfuse_error_<code>", "surveyfuse_error", ...) with cli::cli_abort(),
# its message phrased in R terms (R argument names, 1-based rows).

#' The error codes of surveyfuse
#'
#' Every failure you can cause has a stable code, shared by the Python API,
#' the command line and this package. In R the code becomes the condition
#' class `surveyfuse_error_<code>` (plus `surveyfuse_error`), so you can catch
#' a specific failure with `tryCatch(..., surveyfuse_error_missing_column = ...)`.
#' The table comes from the Python core, so it never drifts from it.
#' Failures of the R side itself add `python_missing` (no Python or core found)
#' and `internal` (a bug: please report it).
#'
#' @return A tibble with columns `code`, `class` and `meaning`.
#' @examples
#' if (fuse_python_available()) fuse_error_codes()
#' @export
fuse_error_codes <- function() {
  codes <- sf_codes()
  tibble::tibble(code = names(codes), class = paste0("surveyfuse_error_", names(codes)),
                 meaning = unname(unlist(codes)))
}

sf_codes <- function() {
  if (is.null(.sf$codes)) {
    .sf$codes <- sf_call("error_codes")
  }
  .sf$codes
}

# Raise a classed surveyfuse condition.
sf_abort <- function(code, message, call = rlang::caller_env(), context = list()) {
  cli::cli_abort(
    c("{message}"),
    class = c(paste0("surveyfuse_error_", code), "surveyfuse_error"),
    call = call,
    surveyfuse_code = code,
    surveyfuse_context = context
  )
}

# Call a bridge entry point; map an {"error": ...} answer to a classed condition.
# `rename` maps the core's argument names to the R function's (draws -> m).
sf_call <- function(fun, ..., .call = rlang::caller_env(), .rename = character()) {
  bridge <- sf_bridge(call = .call)
  args <- list(...)  # R-side checks in the arguments raise their own classed errors, not "internal"
  result <- tryCatch(
    do.call(bridge[[fun]], args),
    error = function(e) {
      detail <- tryCatch({
        last <- reticulate::py_last_error()
        if (is.null(last)) conditionMessage(e) else paste0(last$type, ": ", last$value)
      }, error = function(e2) conditionMessage(e))
      cli::cli_abort(
        c("The surveyfuse Python core failed unexpectedly (a bug: please report it).", x = "{detail}"),
        class = c("surveyfuse_error_internal", "surveyfuse_error"),
        call = .call, surveyfuse_code = "internal"
      )
    }
  )
  if (is.list(result) && !is.null(names(result)) && identical(names(result), "error")) {
    err <- result$error
    sf_abort(err$code, sf_r_terms(err$message, err$context, .rename), call = .call,
             context = err$context %||% list())
  }
  result
}

# Rephrase a core message for R users: argument names as the R function calls
# them, and row numbers counted from 1.
sf_r_terms <- function(message, context, rename = character()) {
  for (py in names(rename)) {
    message <- gsub(paste0("\\b", py, "\\b"), paste0("`", rename[[py]], "`"), message, perl = TRUE)
  }
  # Python reprs of numbers (np.float64(-1.0)) read as plain numbers
  message <- gsub("np\\.(float|int|uint)[0-9]+\\(([^()]*)\\)", "\\2", message, perl = TRUE)
  row <- context$row
  if (is.numeric(row) && length(row) == 1) {
    message <- gsub(paste0("\\brow ", row, "\\b"), paste0("row ", row + 1), message, perl = TRUE)
  }
  message
}
