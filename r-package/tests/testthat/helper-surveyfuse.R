# Shared helpers for the surveyfuse tests.

skip_if_no_core <- function() {
  if (!surveyfuse::fuse_python_available()) testthat::skip("the surveyfuse Python core is not available")
}

# The repository root (for the shared-specs originals), or NA when the tests run
# outside a checkout (e.g. R CMD check of a tarball).
repo_root <- function() {
  env <- Sys.getenv("SURVEYFUSE_REPO", "")
  if (nzchar(env)) return(normalizePath(env))
  dir <- normalizePath(getwd(), mustWork = FALSE)
  repeat {
    if (file.exists(file.path(dir, "VERSION")) && dir.exists(file.path(dir, "shared-specs"))) return(dir)
    parent <- dirname(dir)
    if (identical(parent, dir)) return(NA_character_)
    dir <- parent
  }
}

specs_dir <- function() system.file("specs", package = "surveyfuse")

spec_data <- function(name) file.path(specs_dir(), "data", name)

# Values of a table as text, column by column, for comparing outputs that went
# through different file formats (numbers, labels and booleans alike).
as_text_frame <- function(x) {
  x <- as.data.frame(x, stringsAsFactors = FALSE)
  for (nm in names(x)) {
    v <- x[[nm]]
    if (is.logical(v)) v <- as.integer(v)
    if (is.factor(v)) v <- as.character(v)
    if (is.numeric(v)) v <- format(v, digits = 15, trim = TRUE, scientific = FALSE)
    v <- as.character(v)
    v[is.na(x[[nm]])] <- NA_character_
    x[[nm]] <- v
  }
  attributes(x) <- list(names = names(x), row.names = seq_len(nrow(x)), class = "data.frame")
  x
}

# Run `code` with environment variables set (withr may not be installed).
withr_env <- function(vars, code) {
  old <- Sys.getenv(names(vars), unset = NA, names = TRUE)
  do.call(Sys.setenv, as.list(vars))
  on.exit({
    for (nm in names(old)) if (is.na(old[[nm]])) Sys.unsetenv(nm) else do.call(Sys.setenv, stats::setNames(list(old[[nm]]), nm))
  })
  force(code)
}

# A result as a plain tibble, without its run (run reports hold timings).
strip <- function(x) {
  attr(x, "surveyfuse") <- NULL
  class(x) <- setdiff(class(x), "surveyfuse_imputed")
  x
}

# Run the project's Python as a child process. R's LD_LIBRARY_PATH can make a
# shared-library Python load another libpython, so the child gets it unset.
run_python <- function(args) {
  system2("env", c("-u", "LD_LIBRARY_PATH", "-u", "PYTHONPATH", "-u", "PYTHONHOME", shQuote(fuse_python()), args))
}
