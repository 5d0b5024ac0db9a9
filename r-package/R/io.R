# Reading and writing through the core, so R, Python and the command line
# read and write the same files the same way (Stata: labelled .dta).

#' Read and write Parquet, Stata, Feather and CSV files through the core
#'
#' `fuse_read()` reads a table with the core's reader and returns a tibble
#' (Stata value labels become factors). `fuse_write()` writes atomically (a
#' failed write leaves no partial file); in a Stata `.dta` file factors become
#' labelled integers, so Stata users see their labels. Stata names cannot
#' start with a dot, so the long layout's `.imp` and `.id` are written as
#' `_imp` and `_id` in `.dta` files (with a message).
#'
#' @param path File path; the extension picks the format (`.parquet`, `.dta`,
#'   `.feather`, `.csv`) unless `format` is given.
#' @param data A data frame.
#' @param format One of `"parquet"`, `"dta"`, `"feather"`, `"csv"`, or `NULL`.
#' @return `fuse_read()`: a tibble. `fuse_write()`: the path, invisibly.
#' @examples
#' if (fuse_python_available()) {
#'   x <- data.frame(id = 1:3, region = factor(c("north", "south", "north")),
#'                   income = c(10.5, NA, 3))
#'   file <- fuse_write(x, tempfile(fileext = ".dta"))
#'   fuse_read(file)
#'   pq <- fuse_write(x, tempfile(fileext = ".parquet"))
#'   identical(fuse_read(pq), tibble::as_tibble(x))
#' }
#' @export
fuse_read <- function(path) {
  call <- rlang::current_env()
  if (!is.character(path) || length(path) != 1 || is.na(path)) {
    sf_abort("bad_argument", "`path` must be one file path.", call = call)
  }
  sf_decode(sf_call("read_table", normalizePath(path, mustWork = FALSE), .call = call))
}

#' @rdname fuse_read
#' @export
fuse_write <- function(data, path, format = NULL) {
  call <- rlang::current_env()
  if (!is.character(path) || length(path) != 1 || is.na(path)) {
    sf_abort("bad_argument", "`path` must be one file path.", call = call)
  }
  is_dta <- identical(format, "dta") || (is.null(format) && grepl("[.]dta$", path, ignore.case = TRUE))
  dotted <- intersect(c(".imp", ".id"), names(data))
  if (is_dta && length(dotted) > 0) {
    # Stata names cannot start with a dot: mice's long layout becomes _imp / _id
    stata <- sub("^[.]", "_", dotted)
    names(data)[match(dotted, names(data))] <- stata
    cli::cli_inform("Stata names cannot start with a dot: wrote {.field {dotted}} as {.field {stata}}.")
  }
  out <- sf_call("write_table", sf_encode(data, "data", call), normalizePath(path, mustWork = FALSE),
                 fmt = format, .call = call)
  invisible(out)
}
