# Every shared task spec (shared-specs/tasks, copied into the package by
# tools/build_r.sh) runs through fuse_run() and must meet its `expect` section;
# the same specs run in pytest (python/tests/test_shared_specs.py).

spec_files <- function() {
  files <- sort(list.files(file.path(specs_dir(), "tasks"), pattern = "\\.json$", full.names = TRUE))
  files[!grepl("\\.expect\\.json$", files)]
}

spec_expect <- function(path) {
  sidecar <- sub("\\.json$", ".expect.json", path)
  if (file.exists(sidecar)) return(jsonlite::fromJSON(sidecar, simplifyVector = FALSE))
  jsonlite::fromJSON(path, simplifyVector = FALSE)$expect
}

# The R package counts rows from 1; a language-neutral "row N" (0-based, as the
# core reports it) reads "row N+1" in R.
r_mention <- function(word) {
  m <- regmatches(word, regexec("^row ([0-9]+)$", word))[[1]]
  if (length(m)) paste("row", as.integer(m[2]) + 1L) else word
}

check_spec_output <- function(path, out, expect) {
  spec <- jsonlite::fromJSON(path, simplifyVector = FALSE)
  base <- dirname(path)
  donor <- fuse_read(file.path(base, spec$donor))
  recipient <- fuse_read(file.path(base, spec$recipient))
  block <- unlist(spec$block)
  draws <- spec$draws %||% 20L
  if (!is.null(expect$rows)) expect_identical(nrow(out), as.integer(expect$rows))
  cols <- vapply(unlist(expect$columns_include), function(c) switch(c, `_imp` = ".imp", `_row` = ".id", c), "")
  for (c in cols) expect_true(c %in% names(out), label = paste("column", c))
  expect_identical(out$.imp, rep(seq_len(draws), each = nrow(recipient)))
  expect_identical(out$.id, rep(seq_len(nrow(recipient)), draws))
  if (!is.null(expect$constraint_violations)) {
    res <- fuse_check_constraints(out, as.character(unlist(spec$constraints)))
    expect_identical(attr(res, "rows"), as.integer(expect$constraint_violations))
  }
  if (isTRUE(expect$recipient_unchanged)) {
    for (k in seq_len(draws)) {
      part <- strip(out[out$.imp == k, names(recipient)])
      expect_identical(part, recipient, label = paste("recipient columns in draw", k))
    }
  }
  for (c in unlist(expect$no_missing)) expect_false(anyNA(out[[c]]), label = paste("missing values in", c))
  if (isTRUE(expect$values_from_donor)) {
    key <- function(x) do.call(paste, c(lapply(x[block], as.character), sep = "\r"))
    expect_true(all(key(out) %in% key(donor)), label = "every imputed block record is a donor record")
  }
  for (c in names(expect$share_zero)) {
    share <- mean(out[[c]] == 0)
    bounds <- unlist(expect$share_zero[[c]])
    expect_gte(share, bounds[1])
    expect_lte(share, bounds[2])
  }
  for (c in unlist(expect$levels_subset)) {
    expect_true(all(as.character(out[[c]]) %in% as.character(donor[[c]])), label = paste("levels of", c))
  }
}

ran <- new.env()

for (path in spec_files()) {
  name <- sub("\\.json$", "", basename(path))
  test_that(paste("shared spec", name), {
    skip_if_no_core()
    expect <- spec_expect(path)
    expect_false(is.null(expect), label = "the spec has an expect section")
    known <- c("error", "error_mentions", "rows", "columns_include", "constraint_violations", "recipient_unchanged",
               "no_missing", "values_from_donor", "share_zero", "levels_subset")
    expect_identical(setdiff(names(expect), known), character(0), label = "expect keys this runner checks")
    if (!is.null(expect$error)) {
      cls <- paste0("surveyfuse_error_", expect$error)
      e <- expect_error(fuse_run(path), class = cls)
      for (word in unlist(expect$error_mentions)) {
        expect_match(conditionMessage(e), r_mention(word), fixed = TRUE)
      }
      return(invisible())
    }
    out <- fuse_run(path)
    assign(path, out, envir = ran)
    check_spec_output(path, out, expect)
  })
}

test_that("there are shared specs, and the package's copies match shared-specs byte for byte", {
  expect_gt(length(spec_files()), 0)
  root <- repo_root()
  skip_if(is.na(root), "not inside a surveyfuse checkout")
  original <- file.path(root, "shared-specs")
  rel <- sort(list.files(original, recursive = TRUE, all.files = TRUE))
  copied <- sort(list.files(specs_dir(), recursive = TRUE, all.files = TRUE))
  expect_identical(copied, rel)
  for (f in rel) {
    a <- readBin(file.path(original, f), "raw", file.size(file.path(original, f)))
    b <- readBin(file.path(specs_dir(), f), "raw", file.size(file.path(specs_dir(), f)))
    expect_identical(b, a, label = f)
  }
})

test_that("R output of every successful spec equals the Python CLI's output for the same seed", {
  skip_if_no_core()
  done <- 0
  for (path in spec_files()) {
    expect <- spec_expect(path)
    if (!is.null(expect$error)) next
    spec <- jsonlite::fromJSON(path, simplifyVector = FALSE)
    seed <- if (is.null(spec$seed)) 0L else NULL
    r_out <- if (is.null(seed) && exists(path, envir = ran)) get(path, envir = ran) else fuse_run(path, seed = seed)
    file <- tempfile(fileext = ".parquet")
    args <- c("-m", "surveyfuse.cli", "run", shQuote(path), "--output", shQuote(file), "--quiet",
              if (!is.null(seed)) c("--seed", seed))
    status <- run_python(args)
    expect_identical(status, 0L, label = paste("CLI exit status for", basename(path)))
    cli_out <- fuse_read(file)
    cli_out <- tibble::new_tibble(c(list(.imp = cli_out[["_imp"]], .id = cli_out[["_row"]] + 1L),
                                    as.list(cli_out[setdiff(names(cli_out), c("_imp", "_row"))])),
                                  nrow = nrow(cli_out))
    expect_identical(names(r_out), names(cli_out))
    expect_identical(as_text_frame(r_out), as_text_frame(cli_out), label = paste("values of", basename(path)))
    done <- done + 1
  }
  expect_gt(done, 0)
})
