# Render the R package's reference pages and knit its vignette for the documentation site.
# Usage: Rscript render_r.R R_PACKAGE_DIR OUT_DIR
# Writes OUT_DIR/<topic>.html (each help page of the installed package, by tools::Rd2HTML;
# the site keeps only its body) and
# OUT_DIR/vignette.md (the vignette knitted to Markdown: code and its real output).
args <- commandArgs(trailingOnly = TRUE)
pkg <- normalizePath(args[1])
out <- args[2]
dir.create(out, showWarnings = FALSE, recursive = TRUE)
out <- normalizePath(out)

# the installed package's parsed help pages (R CMD INSTALL has processed them); make install keeps it current
db <- tools::Rd_db("surveyfuse")
for (file in names(db)) {
  topic <- sub("\\.Rd$", "", basename(file))
  tools::Rd2HTML(db[[file]], out = file.path(out, paste0(topic, ".html")), package = "surveyfuse")
}

vignette <- file.path(pkg, "vignettes", "surveyfuse.Rmd")
if (file.exists(vignette)) {
  old <- setwd(out)
  knitr::opts_knit$set(base.dir = out)
  knitr::opts_chunk$set(fig.path = "vignette-")
  knitr::knit(vignette, output = file.path(out, "vignette.md"), quiet = TRUE, envir = new.env())
  setwd(old)
}
