# Export MatchIt's lalonde data set (ships with r-cran-matchit) so Python reads identical data.
# Run: Rscript tests/r_causal/export_lalonde.R   (from the repository root)
suppressPackageStartupMessages(library(MatchIt))
data("lalonde", package = "MatchIt")
out <- data.frame(unit = rownames(lalonde), lalonde, row.names = NULL)
write.csv(out, "tests/data/r_golden_causal/lalonde.csv", row.names = FALSE)
cat(sprintf("lalonde: %d rows, MatchIt %s\n", nrow(out), packageVersion("MatchIt")))
