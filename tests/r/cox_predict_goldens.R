# Golden values for CoxResult.predict (linear predictor, relative risk, survival at horizons).
#
# Run from the repository root:   Rscript tests/r/cox_predict_goldens.R
# Produced with R 4.2.2 + survival 3.5-3 (Debian r-base-core, r-cran-survival, r-cran-jsonlite).
# Reads tests/data/r_golden/veteran.csv (survival_goldens.R) and writes cox_predict.json.
suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})
out <- "tests/data/r_golden"
veteran <- read.csv(file.path(out, "veteran.csv"))
veteran$celltype <- factor(veteran$celltype, levels = c("squamous", "smallcell", "adeno", "large"))
nd <- data.frame(karno = c(30, 60, 90), age = c(70, 55, 40),
                 celltype = factor(c("adeno", "squamous", "large"), levels = levels(veteran$celltype)),
                 trt = c(1, 2, 1))
times <- c(30, 100, 200)
one <- function(call_text) {
  fit <- eval(parse(text = call_text))
  sf <- survfit(fit, newdata = nd)
  s <- summary(sf, times = times, extend = TRUE)
  list(call = call_text, newdata = nd, times = times,
       lp = unname(predict(fit, newdata = nd, type = "lp")),
       risk = unname(predict(fit, newdata = nd, type = "risk")),
       surv = unname(s$surv))   # times x newdata rows (column-major)
}
res <- list(
  efron = one("coxph(Surv(time, status) ~ karno + age + celltype, data = veteran)"),
  breslow = one("coxph(Surv(time, status) ~ karno + age + celltype, data = veteran, ties = 'breslow')")
)
write_json(res, file.path(out, "cox_predict.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
