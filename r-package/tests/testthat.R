library(testthat)
library(surveyfuse)
test_check("surveyfuse")
