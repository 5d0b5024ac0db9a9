# Rubin's rules in R: impute with surveyfuse, then with() and pool() from mice.
library(surveyfuse)
library(mice, warn.conflicts = FALSE)

data <- "../../shared-specs/data"
donor <- fuse_read(file.path(data, "cps_donor.parquet"))
recipient <- fuse_read(file.path(data, "cps_recipient.parquet"))

long <- fuse_impute(donor, recipient,
                    block = c(e00300, e00600, e00650),
                    predictors = c(age_head, MARS, XTOT, e00200, e02400),
                    categorical = "MARS", weights = "s006",
                    constraints = c("e00650 <= e00600", "e00300 >= 0", "e00650 >= 0"),
                    m = 20, seed = 0)

imp <- as_mids(long)          # mice's multiply imputed data set: .imp 1..m, .id the recipient row
fit <- with(imp, lm(I(e00600 / 1000) ~ I(age_head / 10) + I(e00200 / 1e5), weights = s006))
summary(pool(fit))            # Rubin's rules (Barnard-Rubin degrees of freedom)
