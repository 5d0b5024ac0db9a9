# The columnar bridge: a data frame crosses to Python as raw little-endian
# buffers plus a JSON description (names, types, factor levels), never through
# reticulate's data-frame converters (see python/src/surveyfuse/_bridge.py for
# the wire format). Missing values travel as R's own NA bit patterns for
# numbers, logicals and factor codes, and as a one-byte-per-row mask for text.

sf_encode <- function(data, arg = "data", call = rlang::caller_env()) {
  if (!is.data.frame(data)) {
    sf_abort("bad_argument", "{.arg {arg}} must be a data frame, not {.obj_type_friendly {data}}.", call = call)
  }
  n <- nrow(data)
  cols <- vector("list", ncol(data))
  values <- vector("list", ncol(data))
  masks <- vector("list", ncol(data))
  nms <- names(data)
  if (anyDuplicated(nms)) {
    dup <- nms[anyDuplicated(nms)]
    sf_abort("duplicate_column", "{.arg {arg}} has two columns named {.field {dup}}.", call = call,
             context = list(column = dup))
  }
  for (j in seq_along(data)) {
    name <- enc2utf8(nms[[j]])
    enc <- sf_encode_column(data[[j]], name, arg, call)
    cols[[j]] <- enc$col
    values[[j]] <- enc$buf
    masks[[j]] <- enc$mask
  }
  meta <- jsonlite::toJSON(list(nrow = n, columns = cols), auto_unbox = TRUE, null = "null", digits = NA)
  list(meta = as.character(meta), values = values, masks = masks)
}

# One column as a buffer plus its description. What R users hold comes as
# plain values: haven's labelled vectors (value and variable labels, Stata
# formats travel in the description), columns with attributes (a label,
# `units`, `difftime`), `integer64`; list and other columns are refused.
sf_encode_column <- function(x, name, arg, call) {
  col <- list(name = name)
  label <- attr(x, "label", exact = TRUE)
  if (is.character(label) && length(label) == 1 && !is.na(label)) col$label <- enc2utf8(label)
  format <- attr(x, "format.stata", exact = TRUE)
  if (is.character(format) && length(format) == 1) col$format <- format
  labels <- attr(x, "labels", exact = TRUE)
  if (is.numeric(labels) && length(labels) && !is.null(names(labels))) {
    # value labels of a labelled vector, or the Stata codes of a factor read from a .dta
    col$labels <- as.list(stats::setNames(enc2utf8(names(labels)), sf_code_keys(unclass(labels))))
  }
  if (inherits(x, c("haven_labelled", "labelled"))) {
    x <- sf_strip(x)
    if (!is.numeric(x)) col$labels <- NULL
  } else if (inherits(x, "integer64")) {
    x <- sf_strip(as.double(x))
  } else if (inherits(x, c("difftime", "units"))) {
    x <- sf_strip(x)
  } else if (!is.object(x) && is.atomic(x) && is.null(dim(x))) {
    x <- sf_strip(x)
  }
  mask <- raw(0)
  if (is.factor(x)) {
    col <- c(col, list(type = "factor", levels = I(enc2utf8(levels(x))), ordered = is.ordered(x)))
    buf <- writeBin(as.integer(unclass(x)), raw(), size = 4L, endian = "little")
  } else if (inherits(x, "Date")) {
    col$type <- "date"
    buf <- writeBin(as.double(unclass(x)), raw(), size = 8L, endian = "little")
  } else if (inherits(x, "POSIXct")) {
    tz <- attr(x, "tzone")
    col$type <- "datetime"
    col$tz <- if (length(tz) && nzchar(tz[[1]])) tz[[1]] else "UTC"
    buf <- writeBin(as.double(unclass(x)), raw(), size = 8L, endian = "little")
  } else if (is.logical(x) && !is.object(x) && is.null(dim(x))) {
    col$type <- "logical"
    buf <- writeBin(as.vector(x), raw(), size = 4L, endian = "little")
  } else if (is.integer(x) && !is.object(x) && is.null(dim(x))) {
    col$type <- "integer"
    buf <- writeBin(x, raw(), size = 4L, endian = "little")
  } else if (is.double(x) && !is.object(x) && is.null(dim(x))) {
    col$type <- "double"
    buf <- writeBin(x, raw(), size = 8L, endian = "little")
  } else if (is.character(x) && !is.object(x) && is.null(dim(x))) {
    na <- is.na(x)
    x <- enc2utf8(as.vector(x))
    x[na] <- ""
    col$type <- "character"
    buf <- writeBin(x, raw())
    mask <- as.raw(na)
  } else {
    sf_abort("bad_data",
             c("Column {.field {name}} of {.arg {arg}} is {.obj_type_friendly {x}}, which surveyfuse cannot use.",
               i = "It takes numeric, integer, logical, character, factor, Date and POSIXct columns (also haven-labelled, {.cls difftime}, {.cls units} and {.cls integer64} ones).",
               i = "Drop the column, or convert it first."),
             call = call, context = list(column = name))
  }
  list(col = col, buf = buf, mask = mask)
}

# Value-label codes as the core writes them: "1", "2.5".
sf_code_keys <- function(codes) {
  ifelse(codes == round(codes), sprintf("%.0f", codes), format(codes, digits = 17, trim = TRUE))
}

sf_decode <- function(payload) {
  meta <- jsonlite::fromJSON(payload$meta, simplifyVector = FALSE)
  n <- as.integer(meta$nrow)
  columns <- meta$columns
  out <- vector("list", length(columns))
  for (j in seq_along(columns)) {
    col <- columns[[j]]
    buf <- payload$values[[j]]
    out[[j]] <- switch(col$type,
      double = readBin(buf, "double", n = n, size = 8L, endian = "little"),
      integer = readBin(buf, "integer", n = n, size = 4L, endian = "little"),
      logical = readBin(buf, "logical", n = n, size = 4L, endian = "little"),
      factor = {
        codes <- readBin(buf, "integer", n = n, size = 4L, endian = "little")
        levels <- as.character(unlist(col$levels))
        Encoding(levels) <- "UTF-8"
        structure(codes, levels = levels, class = if (isTRUE(col$ordered)) c("ordered", "factor") else "factor")
      },
      character = {
        x <- if (n) readBin(buf, "character", n = n) else character(0)
        Encoding(x) <- "UTF-8"
        mask <- payload$masks[[j]]
        if (length(mask)) x[as.logical(mask)] <- NA_character_
        x
      },
      date = structure(readBin(buf, "double", n = n, size = 8L, endian = "little"), class = "Date"),
      datetime = structure(readBin(buf, "double", n = n, size = 8L, endian = "little"),
                           class = c("POSIXct", "POSIXt"), tzone = col$tz %||% "UTC"),
      sf_abort("bad_data", paste0("Column '", col$name, "' came back with unknown type '", col$type, "'."))
    )
  }
  for (j in seq_along(columns)) out[[j]] <- sf_decode_labels(out[[j]], columns[[j]])
  nms <- vapply(columns, function(c) as.character(c$name), character(1))
  Encoding(nms) <- "UTF-8"
  names(out) <- nms
  tibble::new_tibble(out, nrow = n)
}

# What haven puts on a column read from Stata: the variable label, the display
# format, and value labels of a numeric column (a haven_labelled vector); a
# factor keeps its Stata codes in a "labels" attribute as haven spells them.
sf_decode_labels <- function(x, col) {
  labels <- col$labels
  if (length(labels)) {
    codes <- as.numeric(names(labels))
    codes <- if (is.integer(x) && all(codes == round(codes))) as.integer(codes) else codes
    values <- stats::setNames(codes, enc2utf8(as.character(unlist(labels))))
    if (is.factor(x)) {
      attr(x, "labels") <- values  # the Stata codes of the levels, so a write gives the same codes back
    } else if (is.numeric(x)) {
      x <- structure(x, labels = values, class = c("haven_labelled", "vctrs_vctr", typeof(x)))
    }
  }
  if (!is.null(col$label)) {
    label <- as.character(col$label)
    Encoding(label) <- "UTF-8"
    attr(x, "label") <- label
  }
  if (!is.null(col$format) && !is.factor(x)) attr(x, "format.stata") <- as.character(col$format)
  x
}

# Plain values of a labelled vector (haven / labelled): their storage type.
sf_strip <- function(x) {
  attributes(x) <- NULL
  x
}

# Give the columns of `x` that `proto` also has the R type of `proto`'s column
# (factor levels, integer, Date, haven labels, units): values are already right,
# this restores what the Python side cannot know, such as labelled vectors.
sf_restore_types <- function(x, proto) {
  for (name in intersect(names(x), names(proto))) {
    x[[name]] <- sf_restore_like(x[[name]], proto[[name]])
  }
  x
}

sf_restore_like <- function(x, proto) {
  if (is.factor(proto)) {
    if (is.factor(x) && identical(levels(x), levels(proto)) && identical(class(x), class(proto))) return(x)
    codes <- match(as.character(x), levels(proto))
    return(structure(codes, levels = levels(proto), class = class(proto)))
  }
  if (inherits(proto, "integer64")) return(bit64::as.integer64(as.double(x)))
  base <- typeof(proto)
  if (!base %in% c("double", "integer", "logical", "character")) return(x)
  if (is.factor(x)) x <- as.character(x)
  if (base == "character" && !is.character(x)) return(x)
  value <- unclass(x)
  attributes(value) <- NULL
  if (typeof(value) != base) {
    if (base == "integer" && is.numeric(value) && all(is.na(value) | (abs(value) < .Machine$integer.max))) {
      value <- as.integer(value)
    } else if (base == "double" && is.numeric(value)) {
      value <- as.double(value)
    } else if (base == "logical" && is.numeric(value)) {
      value <- as.logical(value)
    } else {
      return(x)
    }
  }
  keep <- attributes(proto)
  keep <- keep[setdiff(names(keep), c("names", "dim", "dimnames", "row.names"))]
  if (length(keep)) attributes(value) <- keep
  value
}

#' Send a table through the bridge and back (for checking the bridge)
#'
#' Encodes `data` as column buffers, decodes it into a pandas DataFrame in
#' Python, encodes that again and decodes the result in R. The result is
#' `identical()` to the input for double, integer, logical, character,
#' factor and Date columns, NAs included (a `NaN` in a double column comes
#' back as `NA`, since pandas has one missing value for numbers), and for
#' haven-labelled columns with their value labels, variable labels, Stata
#' formats and tagged NAs. Other attributes (`units`, `difftime`) are
#' dropped: the core sees plain numbers.
#'
#' @param data A data frame.
#' @param ... Not used; the arguments after it must be named.
#' @param dtypes If `TRUE`, return the pandas dtype of each column instead.
#' @return A tibble equal to `data`, or a named character vector of dtypes.
#' @examples
#' if (fuse_python_available()) {
#'   x <- data.frame(a = c(1.5, NA), b = c("x", NA), d = as.Date(c("2020-01-01", NA)))
#'   identical(fuse_roundtrip(x), tibble::as_tibble(x))
#'   fuse_roundtrip(x, dtypes = TRUE)
#' }
#' @export
fuse_roundtrip <- function(data, ..., dtypes = FALSE) {
  rlang::check_dots_empty()
  payload <- sf_encode(data, arg = "data")
  if (isTRUE(dtypes)) {
    res <- sf_call("describe", payload)
    return(unlist(res))
  }
  sf_decode(sf_call("roundtrip", payload))
}
