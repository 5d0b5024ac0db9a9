# Reading and writing through the core, so R, Python and the command line
# read and write the same files the same way (Stata: through ReadStat, the
# library haven uses).

#' Read and write Parquet, Stata, Feather and CSV files through the core
#'
#' `fuse_read()` reads a table with the core's reader and returns a tibble.
#' From a Stata `.dta` file: a column whose every value has a value label
#' becomes an unordered factor of the labels (`ordered = TRUE` for ordered
#' factors), so `lm(y ~ MARS)` gives one dummy per category; a column with
#' labels on some values only (say `-1 "refused"`) stays numeric as a
#' haven-labelled vector; variable labels (attribute `"label"`), display
#' formats (`"format.stata"`) and extended missing values (`.a` to `.z`, as
#' haven's tagged NAs) are kept.
#'
#' `fuse_write()` writes atomically (a failed write leaves no partial file).
#' In a `.dta` file factors become labelled integers (with the codes they had
#' in the Stata file they came from), and haven-labelled columns, variable
#' labels, formats and tagged NAs are written back. Stata names cannot start
#' with a dot, so the long layout's `.imp` and `.id` are written as `_imp` and
#' `_id` (with a message). For Stata's multiple-imputation commands write the
#' original rows too (`include = TRUE`), then in Stata:
#' `mi import flong, m(_imp) id(_id) imputed(<block>)` (see
#' `vignette("surveyfuse")` and the project's `docs/stata.md`).
#'
#' @param path File path; the extension picks the format (`.parquet`, `.dta`,
#'   `.feather`, `.csv`) unless `format` is given.
#' @param data A data frame.
#' @param ... Not used; the arguments after it must be named.
#' @param ordered If `TRUE`, Stata value labels become ordered factors.
#' @param format One of `"parquet"`, `"dta"`, `"feather"`, `"csv"`, or `NULL`.
#' @param include If `TRUE` and `data` is an imputed long table without its
#'   original rows, add them as `.imp == 0` with the block missing: the layout
#'   Stata's `mi import flong` needs.
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
fuse_read <- function(path, ..., ordered = FALSE) {
  rlang::check_dots_empty()
  call <- rlang::current_env()
  sf_check_path(path, call)
  sf_decode(sf_call("read_table", normalizePath(path, mustWork = FALSE), ordered = sf_flag(ordered, "ordered", call),
                    .call = call))
}

#' @rdname fuse_read
#' @export
fuse_write <- function(data, path, ..., format = NULL, include = FALSE) {
  rlang::check_dots_empty()
  call <- rlang::current_env()
  sf_check_path(path, call)
  if (!is.data.frame(data)) sf_abort("bad_argument", "{.arg data} must be a data frame, not {.obj_type_friendly {data}}.", call = call)
  long <- all(c(".imp", ".id") %in% names(data))
  if (sf_flag(include, "include", call)) {
    if (!long) sf_abort("bad_argument", "{.arg include} needs a long table with {.field .imp} and {.field .id}.", call = call)
    data <- sf_with_original(data, call)
  }
  data <- sf_ungroup(data)
  is_dta <- identical(format, "dta") || (is.null(format) && grepl("[.]dta$", path, ignore.case = TRUE))
  if (is_dta && long) {
    # Stata names cannot start with a dot: mice's long layout becomes _imp / _id
    dotted <- c(".imp", ".id")
    stata <- c("_imp", "_id")
    names(data)[match(dotted, names(data))] <- stata
    cli::cli_inform("Stata names cannot start with a dot: wrote {.field {dotted}} as {.field {stata}}.")
    if (!any(data[["_imp"]] == 0)) {
      cli::cli_inform(c(i = "Stata's {.code mi import flong} needs the original rows as {.code _imp == 0}: write with {.code include = TRUE}."))
    }
  }
  out <- sf_call("write_table", sf_encode(data, "data", call), normalizePath(path, mustWork = FALSE),
                 fmt = format, .call = call)
  invisible(out)
}

sf_check_path <- function(path, call) {
  if (!is.character(path) || length(path) != 1 || is.na(path)) {
    sf_abort("bad_argument", "{.arg path} must be one file path.", call = call)
  }
}

# The long table with its original rows first (.imp == 0, block missing).
sf_with_original <- function(data, call) {
  if (any(data$.imp == 0)) return(data)
  block <- attr(data, "surveyfuse", exact = TRUE)$block
  if (is.null(block)) {
    sf_abort("bad_argument", c("{.arg data} does not record its block, so its original rows cannot be made.",
                               i = "Impute with {.code include = TRUE} instead."), call = call)
  }
  plain <- sf_ungroup(data)
  first <- which(plain$.imp == min(plain$.imp))
  # slicing keeps every attribute of every column (labels, formats, tagged NAs)
  out <- vctrs::vec_slice(plain, c(first, seq_len(nrow(plain))))
  original <- seq_along(first)
  for (b in intersect(block, names(out))) out[[b]] <- vctrs::vec_assign(out[[b]], original, vctrs::vec_init(out[[b]]))
  out$.imp[original] <- 0L
  out
}
