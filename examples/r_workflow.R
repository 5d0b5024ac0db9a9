# An economist's workflow in R with surveyfuse: read two surveys, impute the
# investment-income block of the donor onto the recipient, pool a regression
# over the imputations with mice (Rubin's rules), export a labelled Stata file
# in the layout of Stata's mi import flong.
#
# Run with `make demo-r`, or with the Python core set up (install_surveyfuse()
# once, or SURVEYFUSE_PYTHON):   Rscript examples/r_workflow.R
# Options: surveyfuse.example_m (number of imputations, default 20) and
# surveyfuse.example_out (folder for the .dta file, default a temporary folder).

library(surveyfuse)
library(mice, warn.conflicts = FALSE)

m <- getOption("surveyfuse.example_m", 20)
out_dir <- getOption("surveyfuse.example_out", tempdir())

# 1. Read the surveys (Parquet here; .dta and .csv read the same way).
#    The package ships a CPS sample: a donor with the investment block,
#    a recipient without it.
data_dir <- system.file("specs", "data", package = "surveyfuse")
donor <- fuse_read(file.path(data_dir, "cps_donor.parquet"))
recipient <- fuse_read(file.path(data_dir, "cps_recipient.parquet"))
recipient$married <- factor(recipient$MARS == 2, levels = c(FALSE, TRUE), labels = c("no", "yes"))
cat("donor:", nrow(donor), "rows; recipient:", nrow(recipient), "rows\n")

# 2. Impute the whole block jointly, keeping the tax identities.
investment <- c("e00300", "e00400", "e00600", "e00650", "e01100")
long <- fuse_impute(
  donor, recipient,
  block = tidyselect::all_of(investment),
  predictors = c(age_head, age_spouse, MARS, XTOT, nu18, e00200, e02400, e01500, fips),
  categorical = c(MARS, fips),
  weights = s006,
  constraints = c("e00650 <= e00600", "e00300 >= 0", "e00400 >= 0", "e00600 >= 0",
                  "e00650 >= 0", "e01100 >= 0"),
  m = m, seed = 2024
)
print(long[1:5, c(".imp", ".id", "age_head", "e00200", investment)])
cat("records breaking a constraint:",
    attr(fuse_check_constraints(long, c("e00650 <= e00600")), "rows"), "\n")

# 3. Analyse every completed data set and pool with Rubin's rules.
imp <- as_mids(long)
fits <- with(imp, lm(I(e00600 / 1000) ~ age_head + I(e00200 / 1000) + married))
pooled <- summary(pool(fits))
print(pooled[, c("term", "estimate", "std.error", "p.value")])

# 4. Export every imputation and the original rows (_imp == 0) for Stata's mi
#    commands (factors become value labels):
#      mi import flong, m(_imp) id(_id) imputed(e00300 e00400 e00600 e00650 e01100)
dta <- fuse_write(long, file.path(out_dir, "cps_imputed.dta"), include = TRUE)
cat("wrote", dta, "\n")
if (requireNamespace("haven", quietly = TRUE)) {
  back <- haven::read_dta(dta)
  cat("Stata file:", nrow(back), "rows,", ncol(back), "columns; rows per _imp:",
      paste(names(table(back$`_imp`)), table(back$`_imp`), sep = ":", collapse = " "),
      "; 'married' labels:", paste(names(attr(back$married, "labels")), collapse = ", "), "\n")
}
