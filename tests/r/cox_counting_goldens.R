# Golden values for latc.stats.cox with (start, stop] counting-process data.
#
# Run from the repository root:   Rscript tests/r/cox_counting_goldens.R
# Produced with R 4.2.2 + survival 3.5-3 (Debian r-base-core, r-cran-survival, r-cran-jsonlite).
# Writes tests/data/r_golden/heart.csv (survival's Stanford heart transplant data in counting-process
# form: one row per patient and period, transplant a time-varying covariate) and
# tests/data/r_golden/cox_heart.json (coef, se, robust se, loglik, score test per fit, with the call).
suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})

out <- "tests/data/r_golden"
heart <- survival::heart
heart$transplant <- as.integer(as.character(heart$transplant))
write.csv(heart, file.path(out, "heart.csv"), row.names = FALSE, na = "")

fit_json <- function(call_text) {
  fit <- eval(parse(text = call_text))
  s <- summary(fit)$coefficients
  list(call = call_text, coef = unname(coef(fit)), se = unname(sqrt(diag(fit$naive.var %||% fit$var))),
       robust_se = if (!is.null(fit$naive.var)) unname(sqrt(diag(fit$var))) else NULL,
       loglik = unname(fit$loglik), score = unname(fit$score), n = fit$n, nevent = fit$nevent,
       names = names(coef(fit)))
}
`%||%` <- function(a, b) if (is.null(a)) b else a

res <- list(
  efron = fit_json("coxph(Surv(start, stop, event) ~ age + year + surgery + transplant, data = heart)"),
  breslow = fit_json("coxph(Surv(start, stop, event) ~ age + year + surgery + transplant, data = heart, ties = 'breslow')"),
  cluster = fit_json("coxph(Surv(start, stop, event) ~ age + year + surgery + transplant, data = heart, cluster = id)"),
  strata = fit_json("coxph(Surv(start, stop, event) ~ age + transplant + strata(surgery), data = heart)")
)
write_json(res, file.path(out, "cox_heart.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
