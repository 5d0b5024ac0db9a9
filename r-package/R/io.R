# Reading and writing through the core, so R, Python and the command line
# read and write the same files the same way (Stata: labelled .dta).

#' Read and write Parquet, Stata, Feather and CSV files through the core
#'
#' `fuse_read()` reads a table with the core's reader and returns a tibble
#' (Stata value labels become factors). `fuse_write()` writes atomically (a
#' failed write leaves no partial file); in a Stata `.dta` file factors become
#' labelled integers, so Stata users see their labels.
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
  out <- sf_call("write_table", sf_encode(data, "data", call), normalizePath(path, mustWork = FALSE),
                 fmt = format, .call = call)
  invisible(out)
}
