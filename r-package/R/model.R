# Fit once, impute many recipients: a model object wrapping the Python
# Imputer (by handle) and, when saved, its model file (which outlives the
# R session; a model read back with readRDS() reloads from it).

#' Fit an imputation model once, impute many recipients
#'
#' `fuse_fit()` learns the block's distribution on the donor and returns a
#' model; `predict()` (or `fuse_sample()`) draws the block for any number of
#' recipient tables, in the long layout of [fuse_impute()]. `fuse_save()`
#' writes the model to a file (a zip of JSON and numeric arrays, no code), and
#' `fuse_load()` reads it back, in this or another R or Python session.
#'
#' @inheritParams fuse_impute
#' @param path Optional file to save the fitted model to.
#' @param seed A non-negative whole number: the seed for fitting, and the
#'   default seed for drawing. `NULL` (the default) draws a random one.
#' @return `fuse_fit()` and `fuse_load()` return a `surveyfuse_model`.
#' @examples
#' if (fuse_python_available()) {
#'   donor <- data.frame(age = c(25, 40, 61, 33, 52, 47),
#'                       wage = c(20, 55, 30, 41, 60, 52),
#'                       bonus = c(0, 5, 0, 2, 8, 4))
#'   model <- fuse_fit(donor, block = c(wage, bonus), predictors = age,
#'                     method = "hotdeck", seed = 1)
#'   model
#'   predict(model, data.frame(age = c(30, 58)), m = 2, seed = 1)
#'   file <- fuse_save(model, tempfile(fileext = ".sfmodel"))
#'   again <- fuse_load(file)
#'   fuse_sample(again, data.frame(age = 44), m = 2, seed = 1)
#' }
#' @export
fuse_fit <- function(donor, block, predictors, ..., method = NULL, weights = NULL, constraints = NULL,
                     seed = NULL, categorical = NULL, params = list(), path = NULL, tolerance = NULL,
                     strict = FALSE) {
  rlang::check_dots_empty()
  call <- rlang::current_env()
  roles <- sf_donor_roles(donor, rlang::enquo(block), rlang::enquo(predictors), rlang::enquo(weights),
                          rlang::enquo(categorical), call)
  cols <- unique(c(roles$predictors, roles$block, roles$weights, roles$categorical))
  if (!is.null(path)) path <- normalizePath(path, mustWork = FALSE)
  res <- sf_call(
    "fit", sf_encode(sf_ungroup(donor)[cols], "donor", call), block = as.list(roles$block),
    predictors = as.list(roles$predictors), method = sf_method(method, call), params = sf_params_json(params, call),
    constraints = sf_constraints(constraints, call),
    categorical = if (length(roles$categorical)) as.list(roles$categorical) else NULL,
    weights = roles$weights, seed = sf_scalar_int(seed), path = path,
    tolerance = sf_tolerance_json(tolerance, call), strict = sf_flag(strict, "strict", call), .call = call
  )
  sf_model(res, donor[0, roles$block, drop = FALSE])
}

sf_model <- function(res, block_proto) {
  state <- new.env(parent = emptyenv())
  state$handle <- res$handle
  state$path <- res$path
  reg.finalizer(state, function(e) {
    if (!is.null(.sf$bridge) && !is.null(e$handle)) try(.sf$bridge$release(e$handle), silent = TRUE)
  }, onexit = FALSE)
  info <- res$info
  structure(
    list(state = state, block = as.character(unlist(info$block)), predictors = as.character(unlist(info$predictors)),
         method = info$method, report = jsonlite::fromJSON(info$report), block_proto = block_proto),
    class = "surveyfuse_model"
  )
}

#' @rdname fuse_fit
#' @param object,model A `surveyfuse_model`.
#' @param newdata,recipient A recipient data frame with the model's predictors.
#' @param row_offset Added to the row number that keys each row's random draws,
#'   so chunks of one big file reproduce the draws of the whole file (the
#'   `.id` of the result counts on from `row_offset + 1`).
#' @param ... Not used; the arguments after it must be named.
#' @export
predict.surveyfuse_model <- function(object, newdata, ..., m = 20, seed = NULL, row_offset = 0, include = FALSE) {
  rlang::check_dots_empty()
  call <- rlang::current_env()
  sf_check_frame(newdata, "newdata", call)
  state <- object$state
  sent <- intersect(object$predictors, names(newdata))
  sf_check_no_block(newdata, object$block, "newdata", call)
  res <- sf_call("sample", state$handle, state$path, sf_encode(sf_ungroup(newdata)[sent], "newdata", call),
                 draws = sf_scalar_int(m %||% 20L), seed = sf_scalar_int(seed), row_offset = sf_scalar_int(row_offset),
                 include = sf_flag(include, "include", call), .call = call)
  sf_long(res, newdata, object$block_proto,
          list(block = object$block, predictors = object$predictors, method = object$method),
          offset = sf_scalar_int(row_offset))
}

#' @rdname fuse_fit
#' @export
fuse_sample <- function(model, recipient, ..., m = 20, seed = NULL, row_offset = 0, include = FALSE) {
  rlang::check_dots_empty()
  sf_check_model(model)
  stats::predict(model, recipient, m = m, seed = seed, row_offset = row_offset, include = include)
}

sf_check_model <- function(model, call = rlang::caller_env()) {
  if (!inherits(model, "surveyfuse_model")) {
    sf_abort("bad_argument", "{.arg model} must be a surveyfuse model from {.fn fuse_fit}, not {.obj_type_friendly {model}}.",
             call = call)
  }
}

#' @rdname fuse_fit
#' @export
fuse_save <- function(model, path) {
  sf_check_model(model)
  path <- normalizePath(path, mustWork = FALSE)
  sf_call("save", model$state$handle, path)
  model$state$path <- path
  invisible(path)
}

#' @rdname fuse_fit
#' @export
fuse_load <- function(path) {
  path <- normalizePath(path, mustWork = FALSE)
  res <- sf_call("load", path)
  sf_model(res, NULL)
}

#' @export
print.surveyfuse_model <- function(x, ...) {
  cat("<surveyfuse model> method:", x$method, "\n")
  cat("block:", paste(x$block, collapse = ", "), "\n")
  cat("predictors:", paste(x$predictors, collapse = ", "), "\n")
  if (!is.null(x$state$path)) cat("file:", x$state$path, "\n")
  invisible(x)
}
