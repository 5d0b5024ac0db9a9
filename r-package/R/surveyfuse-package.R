#' surveyfuse: put a block of variables from one survey onto another
#'
#' A thin R front end to the surveyfuse Python core. Main verbs:
#' [fuse_impute()] (one call), [fuse_fit()] + `predict()` (fit once, impute
#' many recipients), [fuse_evaluate()] (which method to trust),
#' [fuse_run()] (JSON task specs), [as_mids()] (pool with mice),
#' [fuse_read()] / [fuse_write()] (Parquet and labelled Stata files, also for
#' Stata's `mi`). Errors are conditions of class `surveyfuse_error_<code>`,
#' see [fuse_error_codes()]. Python is set up once with
#' [install_surveyfuse()] and found as described in [fuse_python()].
#'
#' @keywords internal
#' @importFrom rlang %||%
#' @importFrom stats predict
"_PACKAGE"
