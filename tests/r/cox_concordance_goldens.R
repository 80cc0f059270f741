# Golden values for CoxResult.concordance_se: the standard error R prints after a Cox fit
# ("Concordance= 0.603  (se = 0.025)": fit$concordance["std"]).
#
# Run from the repository root:   Rscript tests/r/cox_concordance_goldens.R
# Produced with R 4.2.2 + survival 3.5-3 (Debian r-base-core, r-cran-survival, r-cran-jsonlite).
# Reads the data sets written by survival_goldens.R and writes tests/data/r_golden/cox_concordance.json:
# per fit the call, fit$concordance["concordance"] and fit$concordance["std"] (= summary(fit)$concordance["se(C)"]).
suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})

out <- "tests/data/r_golden"
lung <- read.csv(file.path(out, "lung.csv"))
rossi <- read.csv(file.path(out, "rossi.csv"))
ovarian <- read.csv(file.path(out, "ovarian.csv"))
veteran <- read.csv(file.path(out, "veteran.csv"))
veteran$celltype <- factor(veteran$celltype, levels = c("squamous", "smallcell", "adeno", "large"))

fits <- list(
  lung_efron = 'coxph(Surv(time, event) ~ age + sex + ph.ecog, data = lung, ties = "efron")',
  lung_breslow = 'coxph(Surv(time, event) ~ age + sex + ph.ecog, data = lung, ties = "breslow")',
  rossi_efron = 'coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar + paro + prio, data = rossi)',
  ovarian = 'coxph(Surv(futime, fustat) ~ age + rx, data = ovarian)',
  veteran_celltype = 'coxph(Surv(time, status) ~ trt + celltype + karno, data = veteran)',
  veteran_strata = 'coxph(Surv(time, status) ~ trt + karno + age + strata(celltype), data = veteran)'
)
res <- list()
for (nm in names(fits)) {
  fit <- eval(parse(text = fits[[nm]]))
  cc <- fit$concordance
  res[[nm]] <- list(call = fits[[nm]], concordance = unname(cc["concordance"]), std = unname(cc["std"]))
}
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(out, "cox_concordance.json"))
