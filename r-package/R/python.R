# Finding and starting the Python core, lazily: nothing happens at load time,
# and nothing is ever installed. The first function that needs Python calls
# sf_bridge(), which picks the interpreter, starts it and imports
# surveyfuse.bridge once per session.

.sf <- new.env(parent = emptyenv())

.onLoad <- function(libname, pkgname) {
  .sf$bridge <- NULL
  .sf$codes <- NULL
  invisible()
}

#' Which Python interpreter surveyfuse uses
#'
#' surveyfuse does its work in a Python core. The interpreter is found, in
#' this order: the environment variable `SURVEYFUSE_PYTHON`; the path that
#' the project's install script (`tools/build_r.sh`, run by `make demo` or
#' `make test`) recorded in the installed package; a `.venv/bin/python` in
#' the working directory or one of its parents. Nothing is installed by
#' surveyfuse's functions; if Python or the core is missing you get an error
#' of class `surveyfuse_error_python_missing` that says what to do.
#'
#' @return `fuse_python()` returns the path of the interpreter (a string), or
#'   `NA` when none is found. `fuse_python_available()` returns `TRUE` when the
#'   interpreter and the core can be loaded.
#' @examples
#' fuse_python()
#' fuse_python_available()
#' @export
fuse_python <- function() {
  env <- Sys.getenv("SURVEYFUSE_PYTHON", "")
  if (nzchar(env)) return(env)
  recorded <- system.file("python_path", package = "surveyfuse")
  if (nzchar(recorded)) {
    path <- trimws(readLines(recorded, warn = FALSE)[1])
    if (!is.na(path) && nzchar(path) && file.exists(path)) return(path)
  }
  dir <- normalizePath(getwd(), mustWork = FALSE)
  repeat {
    candidate <- file.path(dir, ".venv", "bin", "python")
    if (file.exists(candidate)) return(candidate)
    parent <- dirname(dir)
    if (identical(parent, dir)) break
    dir <- parent
  }
  NA_character_
}

#' @rdname fuse_python
#' @export
fuse_python_available <- function() {
  ok <- tryCatch({
    sf_bridge()
    TRUE
  }, surveyfuse_error_python_missing = function(e) FALSE)
  ok
}

sf_python_missing <- function(problem, call = rlang::caller_env()) {
  cli::cli_abort(
    c(
      "surveyfuse cannot start its Python core.",
      x = problem,
      i = "Run {.code make install} (or {.code make demo}) in the surveyfuse repository, or set {.envvar SURVEYFUSE_PYTHON} to a Python that has the {.pkg surveyfuse} package installed."
    ),
    class = c("surveyfuse_error_python_missing", "surveyfuse_error"),
    call = call
  )
}

# The imported surveyfuse.bridge module (started on first use).
sf_bridge <- function(call = rlang::caller_env()) {
  if (!is.null(.sf$bridge)) return(.sf$bridge)
  python <- fuse_python()
  if (is.na(python)) {
    sf_python_missing("No Python interpreter was found.", call = call)
  }
  if (!file.exists(python)) {
    sf_python_missing(paste0("The Python interpreter '", python, "' does not exist."), call = call)
  }
  if (reticulate::py_available(initialize = FALSE)) {
    active <- reticulate::py_config()$python
    if (!identical(normalizePath(active, mustWork = FALSE), normalizePath(python, mustWork = FALSE))) {
      sf_python_missing(paste0(
        "reticulate already started another Python ('", active, "') in this R session; ",
        "restart R and load surveyfuse before anything else starts Python."
      ), call = call)
    }
  } else {
    ok <- tryCatch({
      reticulate::use_python(python, required = TRUE)
      TRUE
    }, error = function(e) conditionMessage(e))
    if (!isTRUE(ok)) sf_python_missing(paste0("Python '", python, "' could not be started: ", ok), call = call)
  }
  bridge <- tryCatch(
    reticulate::import("surveyfuse.bridge", convert = TRUE),
    error = function(e) {
      sf_python_missing(paste0("Python '", python, "' could not import the surveyfuse core: ",
                               conditionMessage(e)), call = call)
    }
  )
  .sf$bridge <- bridge
  bridge
}
