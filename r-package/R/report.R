# The imputed tibble: a tibble subclass that carries the run (block,
# predictors, method, the core's run report) and prints the report as a
# footer. dplyr verbs keep it (dplyr_reconstruct keeps the attribute).

new_imputed <- function(x, info) {
  attr(x, "surveyfuse") <- info
  class(x) <- c("surveyfuse_imputed", setdiff(class(x), "surveyfuse_imputed"))
  x
}

#' The run report of an imputation
#'
#' What the core did to get the draws: donor rows used and dropped (with
#' why), the method and its settings, the seed, the constraint check of the
#' draws (records checked, broken, repaired) and warnings about the data.
#' `print()` of an imputed tibble shows it below the rows.
#'
#' @param x The result of [fuse_impute()], `predict()` / [fuse_sample()] or
#'   [fuse_run()] (also after dplyr verbs).
#' @return A `surveyfuse_report`: a list with `block`, `predictors`, `method`
#'   and the core's `report` (a list), printed as a summary.
#' @examples
#' if (fuse_python_available()) {
#'   donor <- data.frame(age = c(25, 40, 61, 33, 52, 47), wage = c(20, 55, 30, 41, 60, 52))
#'   long <- fuse_impute(donor, data.frame(age = c(30, 58)), block = wage, predictors = age,
#'                       method = "hotdeck", m = 2, seed = 1)
#'   fuse_report(long)
#'   fuse_report(long)$report$donor_rows_used
#' }
#' @export
fuse_report <- function(x) {
  info <- attr(x, "surveyfuse", exact = TRUE)
  if (is.null(info)) {
    sf_abort("bad_argument", "{.arg x} carries no surveyfuse run report; it must come from {.fn fuse_impute}, {.fn fuse_sample} or {.fn fuse_run}.")
  }
  structure(info, class = "surveyfuse_report")
}

#' @export
print.surveyfuse_report <- function(x, ...) {
  cat(paste0(sf_report_lines(x), collapse = "\n"), "\n", sep = "")
  invisible(x)
}

# The report in a few lines a reader can check: what was used, what was dropped
# and why, what the constraint check found, and the core's warnings.
sf_report_lines <- function(info) {
  r <- info$report %||% list()
  n <- function(v) format(v %||% 0, big.mark = ",", scientific = FALSE, trim = TRUE)
  dropped <- c(
    if (!is.null(r$dropped_missing_block)) paste(n(r$dropped_missing_block), "with a missing block value"),
    if (!is.null(r$dropped_zero_weight)) paste(n(r$dropped_zero_weight), "with zero weight"),
    if (!is.null(r$dropped_breaking_constraints)) paste(n(sum(unlist(r$dropped_breaking_constraints))), "breaking a constraint")
  )
  lines <- paste0("surveyfuse: method ", info$method %||% r$method %||% "?", ", m = ", r$draws %||% "?",
                  ", seed ", r$seed %||% "?", "; block ", paste(info$block, collapse = ", "))
  if (!is.null(r$donor_rows)) {
    lines <- c(lines, paste0("donor rows: ", n(r$donor_rows), " (", n(r$donor_rows_used), " used",
                             if (length(dropped)) paste0("; dropped: ", paste(dropped, collapse = ", ")), ")"))
  }
  cons <- r$constraints
  if (length(cons$violations)) {
    broken <- sum(unlist(cons$violations))
    repaired <- sum(unlist(cons$repaired))
    lines <- c(lines, paste0("constraints: ", n(cons$rows_checked), " records checked, ", n(broken), " broken",
                             if (repaired > 0) paste0(", ", n(repaired), " repaired"),
                             if (!is.null(r$redrawn) && r$redrawn > 0) paste0(", ", n(r$redrawn), " drawn again")))
  }
  for (w in r$warnings) lines <- c(lines, paste0("warning: ", w))
  lines
}

#' @importFrom pillar tbl_format_footer
#' @method tbl_format_footer surveyfuse_imputed
#' @export
tbl_format_footer.surveyfuse_imputed <- function(x, setup, ...) {
  footer <- NextMethod()
  info <- attr(x, "surveyfuse", exact = TRUE)
  if (is.null(info)) return(footer)
  c(footer, pillar::style_subtle(paste0("# ", sf_report_lines(info))))
}

# dplyr verbs rebuild a data frame from a template; keep the run with it.
dplyr_reconstruct.surveyfuse_imputed <- function(data, template) {
  out <- NextMethod()
  info <- attr(template, "surveyfuse", exact = TRUE)
  if (is.null(attr(out, "surveyfuse", exact = TRUE)) && !is.null(info)) attr(out, "surveyfuse") <- info
  out
}
