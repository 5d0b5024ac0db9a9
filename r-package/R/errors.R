# Errors and warnings: the Python core reports a stable code; R raises a
# condition of class c("surveyfuse_error_<code>", "surveyfuse_error", ...)
# with cli::cli_abort(). The core words its messages for R (rows counted
# from 1, R's argument names), so R passes them on unchanged.

#' The error codes of surveyfuse
#'
#' Every failure you can cause has a stable code, shared by the Python API,
#' the command line and this package. In R the code becomes the condition
#' class `surveyfuse_error_<code>` (plus `surveyfuse_error`), so you can catch
#' a specific failure with `tryCatch(..., surveyfuse_error_missing_column = ...)`.
#' Problems a run can go on with are warnings of class
#' `surveyfuse_warning_<code>` (plus `surveyfuse_warning`).
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

# Raise a classed surveyfuse condition. `message` is cli markup, interpolated
# in `.envir` (the caller's frame by default).
sf_abort <- function(code, message, call = rlang::caller_env(), context = list(), .envir = parent.frame()) {
  cli::cli_abort(
    message,
    class = c(paste0("surveyfuse_error_", code), "surveyfuse_error"),
    call = call,
    surveyfuse_code = code,
    surveyfuse_context = context,
    .envir = .envir
  )
}

# Raise an error the core reported; its text is data, not cli markup.
sf_abort_core <- function(err, call) {
  core_message <- err$message
  sf_abort(err$code, "{core_message}", call = call, context = err$context %||% list())
}

# Signal the warnings the core collected during a call.
sf_warn_core <- function(warnings, call) {
  for (w in warnings) {
    core_message <- w$message
    cli::cli_warn("{core_message}", class = c(paste0("surveyfuse_warning_", w$code), "surveyfuse_warning"),
                  call = call)
  }
}

# Call a bridge entry point; map an {"error": ...} answer to a classed condition
# and re-signal the core's warnings.
sf_call <- function(fun, ..., .call = rlang::caller_env()) {
  bridge <- sf_bridge(call = .call)
  args <- list(...)  # R-side errors in the arguments are raised here, not taken for the core's
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
  if (is.list(result) && !is.null(names(result))) {
    if (identical(names(result), "error")) sf_abort_core(result$error, .call)
    if (!is.null(result$core_warnings)) {
      sf_warn_core(result$core_warnings, .call)
      result$core_warnings <- NULL
    }
  }
  result
}
