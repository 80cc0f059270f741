# Golden values for latc.stats.rmst (restricted mean survival time per group).
#
# Run from the repository root:   Rscript tests/r/rmst_goldens.R
# Produced with R 4.2.2 + survival 3.5-3 (Debian r-base-core, r-cran-survival, r-cran-jsonlite).
# Reads the data sets of tests/data/r_golden/*.csv (written by survival_goldens.R) and writes
# tests/data/r_golden/rmst.json: per case the R call and summary(fit, rmean = tau)$table's
# "rmean" and "se(rmean)" per curve.
suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})

out <- "tests/data/r_golden"
lung <- read.csv(file.path(out, "lung.csv"))
veteran <- read.csv(file.path(out, "veteran.csv"))
veteran$celltype <- factor(veteran$celltype, levels = c("squamous", "smallcell", "adeno", "large"))
ovarian <- read.csv(file.path(out, "ovarian.csv"))

case <- function(call_text, data, tau) {
  fit <- eval(parse(text = call_text))
  tab <- summary(fit, rmean = tau)$table
  if (is.null(dim(tab))) tab <- t(as.matrix(tab))
  list(call = paste0("summary(", call_text, ", rmean = ", tau, ")$table"), tau = tau,
       rmean = unname(tab[, "rmean"]), se = unname(tab[, "se(rmean)"]),
       n = unname(tab[, "records"]), events = unname(tab[, "events"]))
}

res <- list(
  lung_sex_365 = case("survfit(Surv(time, event) ~ sex, data = lung)", lung, 365),
  lung_sex_306 = case("survfit(Surv(time, event) ~ sex, data = lung)", lung, 306),   # tau = an event time
  lung_all_1200 = case("survfit(Surv(time, event) ~ 1, data = lung)", lung, 1200),   # tau beyond the last time
  veteran_celltype_100 = case("survfit(Surv(time, status) ~ celltype, data = veteran)", veteran, 100),
  ovarian_rx_700 = case("survfit(Surv(futime, fustat) ~ rx, data = ovarian)", ovarian, 700)
)
write_json(res, file.path(out, "rmst.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
