# Balance-table goldens from Debian's MatchIt 4.5.1 summary() applied to matchings taken from the
# published MatchIt >= 4.7 snapshots (4.5.1's own nearest-neighbour matching is not used: its C++
# compares integer-truncated distances, which breaks calipers and the left/right nearest choice). Run from the repository root:
#   Rscript tests/r_causal/golden_matchit_balance.R
suppressPackageStartupMessages(library(MatchIt))
data("lalonde", package = "MatchIt")
f <- treat ~ age + educ + race + married + nodegree + re74 + re75
D <- "tests/data/r_golden_causal/"
num <- function(df) { df[] <- lapply(df, function(v) if (is.numeric(v)) sprintf("%.17g", v) else v); df }

save_run <- function(m, name) {
  mm <- m$match.matrix
  out <- data.frame(treated = rownames(mm), mm, row.names = NULL, check.names = FALSE)
  names(out)[-1] <- paste0("control_", seq_len(ncol(mm)))
  out[is.na(out)] <- ""
  write.csv(out, paste0(D, "matchit451_", name, "_matches.csv"), row.names = FALSE)
  w <- data.frame(unit = names(m$weights), weight = unname(m$weights),
                  distance = unname(m$distance),
                  subclass = if (is.null(m$subclass)) NA else as.integer(as.character(m$subclass)))
  write.csv(num(w), paste0(D, "matchit451_", name, "_weights.csv"), row.names = FALSE)
}
save_balance <- function(m, name) {
  s <- summary(m)
  tab <- function(x, sample) data.frame(variable = rownames(x), sample = sample,
      mean_treated = x[, "Means Treated"], mean_control = x[, "Means Control"],
      smd = x[, "Std. Mean Diff."], var_ratio = x[, "Var. Ratio"], ecdf_max = x[, "eCDF Max"],
      row.names = NULL)
  b <- rbind(tab(s$sum.all, "all"), tab(s$sum.matched, "matched"))
  write.csv(num(b), paste0(D, "matchit451_", name, "_balance.csv"), row.names = FALSE)
  nn <- data.frame(row = rownames(s$nn), control = s$nn[, "Control"], treated = s$nn[, "Treated"])
  write.csv(num(nn), paste0(D, "matchit451_", name, "_sizes.csv"), row.names = FALSE)
}

# Balance for the MatchIt >= 4.7 caliper matching (published snapshot), computed by MatchIt's summary():
pairs <- read.csv(paste0(D, "matchit47_linear_logit_caliper025_pairs.csv"), na.strings = "")
mc <- matchit(f, data = lalonde, method = "nearest", link = "linear.logit")
wt <- setNames(rep(0, nrow(lalonde)), rownames(lalonde))
wt[pairs$treated[!is.na(pairs$control)]] <- 1
wt[pairs$control[!is.na(pairs$control)]] <- 1
mc$weights <- wt
save_balance(mc, "caliper_snapshot")
# Non-uniform matching weights: MatchIt >= 4.7 exact = ~race, ratio = 2 snapshot weights
ew <- read.csv(paste0(D, "matchit47_exact_race_ratio2_weights.csv"))
me <- matchit(f, data = lalonde, method = "nearest")
me$weights <- setNames(ew$weight, ew$unit)
save_balance(me, "exact_ratio2_snapshot")
cat("written matchit451_* goldens\n")
