# Finding and starting the Python core, lazily: nothing happens at load time.
# The first function that needs Python calls sf_bridge(), which picks the
# interpreter, starts it and imports surveyfuse._bridge (its private entry point) once per session.
# Python is found by SURVEYFUSE_PYTHON, else in the environment that
# install_surveyfuse() made; nothing about a checkout is recorded at install.

.sf <- new.env(parent = emptyenv())

.onLoad <- function(libname, pkgname) {
  .sf$bridge <- NULL
  .sf$codes <- NULL
  sf_register_s3()
  invisible()
}

#' Which Python interpreter surveyfuse uses
#'
#' surveyfuse does its work in a Python core. The interpreter is, in this
#' order: the one named by the environment variable `SURVEYFUSE_PYTHON`;
#' the one in the virtual environment that [install_surveyfuse()] made
#' (under [tools::R_user_dir()], see `fuse_python_env()`). Set
#' `SURVEYFUSE_PYTHON` in `.Renviron` to use a Python of your own that has the
#' `surveyfuse` package installed. Nothing else is searched and nothing is
#' installed behind your back; a missing Python or core is an error of class
#' `surveyfuse_error_python_missing` that says what to do.
#'
#' @return `fuse_python()` returns the path of the interpreter (a string), or
#'   `NA` when none is found. `fuse_python_available()` returns `TRUE` when the
#'   interpreter and the core can be loaded. `fuse_python_env()` returns the
#'   folder of the environment [install_surveyfuse()] manages.
#' @examples
#' fuse_python()
#' fuse_python_env()
#' fuse_python_available()
#' @export
fuse_python <- function() {
  env <- Sys.getenv("SURVEYFUSE_PYTHON", "")
  if (nzchar(env)) return(env)
  managed <- sf_env_python(fuse_python_env())
  if (file.exists(managed)) return(managed)
  NA_character_
}

#' @rdname fuse_python
#' @export
fuse_python_env <- function() {
  env <- Sys.getenv("SURVEYFUSE_ENV", "")
  if (nzchar(env)) return(env)
  file.path(tools::R_user_dir("surveyfuse", which = "data"), "python")
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

sf_env_python <- function(envdir) {
  if (.Platform$OS.type == "windows") file.path(envdir, "Scripts", "python.exe") else file.path(envdir, "bin", "python")
}

#' Install the Python core into an environment surveyfuse manages
#'
#' Creates a Python virtual environment (by default under
#' [tools::R_user_dir()], see [fuse_python_env()]) and installs the
#' `surveyfuse` Python package into it with pip, the way the tensorflow and
#' keras R packages set up their Python. Later R sessions find it without
#' any setting (unless `SURVEYFUSE_PYTHON` names another interpreter). The
#' Python package has the same version as this R package.
#'
#' @param package What pip installs: a wheel or source archive built by
#'   `make dist`, a source folder (`python/` of a checkout), or a requirement
#'   such as `"surveyfuse==0.1.0"`. By default, the wheel of the same version
#'   that ships inside this R package (its dependencies come from the package
#'   index pip uses).
#' @param ... Not used; the arguments after it must be named.
#' @param python The Python (3.10 or later) that creates the environment.
#'   By default `python3` on the `PATH`.
#' @param envdir Folder of the environment.
#' @param pip_options More arguments for `pip install`, e.g.
#'   `c("--find-links", "wheels/")` or `"--no-deps"`.
#' @param force If `TRUE`, remove an existing environment first.
#' @return The path of the environment's Python, invisibly.
#' @examples
#' \dontrun{
#' install_surveyfuse()                      # the wheel inside this package
#' install_surveyfuse("python")              # a checkout's source folder
#' }
#' @export
install_surveyfuse <- function(package = NULL, ..., python = NULL, envdir = fuse_python_env(),
                               pip_options = character(), force = FALSE) {
  rlang::check_dots_empty()
  call <- rlang::current_env()
  version <- as.character(utils::packageVersion("surveyfuse"))
  package <- package %||% sf_bundled_wheel()
  if (is.null(package)) {
    sf_abort("python_missing", c("This build of the R package ships no Python wheel.",
                                 i = "Give {.arg package}: a wheel from {.code make dist}, or a source folder."), call = call)
  }
  if (file.exists(package)) package <- normalizePath(package)
  python <- python %||% Sys.which("python3")
  if (!nzchar(python) || !file.exists(python)) {
    sf_abort("python_missing", c("No Python to create the environment with.",
                                 i = "Install Python 3.10 or later, or give its path in {.arg python}."), call = call)
  }
  if (isTRUE(force) && dir.exists(envdir)) unlink(envdir, recursive = TRUE)
  target <- sf_env_python(envdir)
  if (!file.exists(target)) {
    cli::cli_inform("Creating a Python environment in {.path {envdir}}.")
    dir.create(dirname(envdir), recursive = TRUE, showWarnings = FALSE)
    sf_run_python(python, c("-m", "venv", envdir), "create the environment", call)
  }
  cli::cli_inform("Installing {.val {basename(package)}} into it with pip.")
  sf_run_python(target, c("-m", "pip", "install", "--disable-pip-version-check", "--quiet", pip_options, package),
                "install the surveyfuse Python package", call)
  got <- sf_run_python(target, c("-c", shQuote("import surveyfuse; print(surveyfuse.__version__)")),
                       "import the installed package", call)
  got <- trimws(utils::tail(got, 1))
  if (!identical(got, version)) {
    cli::cli_warn("The Python core is version {got}, this R package {version}; install the same version of both.")
  }
  cli::cli_inform(c(v = "surveyfuse {got} is installed; {.fn fuse_python} finds {.path {target}}."))
  invisible(target)
}

# The Python wheel that tools/build_r.sh puts in the package (inst/python).
sf_bundled_wheel <- function() {
  dir <- system.file("python", package = "surveyfuse")
  wheels <- if (nzchar(dir)) list.files(dir, pattern = "[.]whl$", full.names = TRUE) else character()
  if (length(wheels)) wheels[[1]] else NULL
}

# Run a Python as a child process; its output, or a python_missing error saying
# which step failed. R's LD_LIBRARY_PATH can make a Python load another
# libpython, so the child gets it unset.
sf_run_python <- function(python, args, what, call) {
  cmd <- if (.Platform$OS.type == "windows") python else "env"
  full <- if (.Platform$OS.type == "windows") args else c("-u", "LD_LIBRARY_PATH", "-u", "PYTHONPATH", "-u", "PYTHONHOME",
                                                        shQuote(python), args)
  out <- suppressWarnings(system2(cmd, full, stdout = TRUE, stderr = TRUE))
  status <- attr(out, "status") %||% 0L
  if (status != 0) {
    tail <- paste(utils::tail(out, 8), collapse = "\n")
    sf_abort("python_missing", c("Could not {what} with {.path {python}}.", x = "{tail}"), call = call)
  }
  out
}

sf_python_missing <- function(problem, call = rlang::caller_env()) {
  sf_abort(
    "python_missing",
    c(
      "surveyfuse cannot start its Python core.",
      x = "{problem}",
      i = "Run {.run surveyfuse::install_surveyfuse()} once, or set {.envvar SURVEYFUSE_PYTHON} to a Python that has the {.pkg surveyfuse} Python package installed."
    ),
    call = call
  )
}

# The imported surveyfuse._bridge module (started on first use).
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
    reticulate::import("surveyfuse._bridge", convert = TRUE),
    error = function(e) {
      sf_python_missing(paste0("Python '", python, "' could not import the surveyfuse core: ",
                               conditionMessage(e)), call = call)
    }
  )
  core <- tryCatch(bridge$version(), error = function(e) NA_character_)
  mine <- as.character(utils::packageVersion("surveyfuse"))
  if (!identical(core, mine)) {
    cli::cli_warn(c("The surveyfuse Python core is version {core}, this R package {mine}.",
                    i = "Install the same version of both, e.g. with {.fn install_surveyfuse}."),
                  class = c("surveyfuse_warning_version", "surveyfuse_warning"))
  }
  .sf$bridge <- bridge
  bridge
}

# S3 methods for generics of suggested packages, registered when they load.
sf_register_s3 <- function() {
  vctrs::s3_register("dplyr::dplyr_reconstruct", "surveyfuse_imputed")
}
