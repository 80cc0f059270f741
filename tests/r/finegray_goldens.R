# Golden values for latc.stats.finegray_data (+ cox on the expanded data) against survival::finegray,
# coxph and cmprsk::crr.
#
# Run from the repository root:   Rscript tests/r/finegray_goldens.R
# Produced with R 4.2.2 + survival 3.5-3 + cmprsk 2.2-11 (Debian r-base-core, r-cran-survival,
# r-cran-cmprsk, r-cran-jsonlite). Reads the competing-risks data sets of
# tests/data/r_golden_competing/ (survival's mgus2, cmprsk's ?crr example, the hand-crafted ties
# data) and writes tests/data/r_golden/fg_cohort.csv (a simulated multicenter cohort) and
# tests/data/r_golden/finegray_<case>.json. Each JSON carries the R calls ("call", "fits[*].call").
suppressPackageStartupMessages({
  library(survival)
  library(cmprsk)
  library(jsonlite)
})

out <- "tests/data/r_golden"
cmp <- "tests/data/r_golden_competing"
put <- function(x, name) {
  write_json(x, file.path(out, paste0("finegray_", name, ".json")), digits = NA, na = "null",
             auto_unbox = TRUE, pretty = TRUE)
}
`%||%` <- function(a, b) if (is.null(a)) b else a

# ---- data ---------------------------------------------------------------------------------------
ties <- read.csv(file.path(cmp, "ties.csv"))
ties$id <- seq_len(nrow(ties))
ties$ev <- factor(ties$cause, 0:2, c("censored", "recurrence", "death"))
ex <- read.csv(file.path(cmp, "cmprsk_crr_example.csv"))
ex$id <- seq_len(nrow(ex))
ex$ev <- factor(ex$fstatus, 0:2, c("censored", "c1", "c2"))
mgus2 <- read.csv(file.path(cmp, "mgus2.csv"))
mgus2$ev <- factor(mgus2$event, 0:2, c("censor", "pcm", "death"))
mc <- mgus2[complete.cases(mgus2[, c("age", "sex", "hgb")]), ]

# a study-like multicenter cohort: recurrence (1) with death without recurrence (2) competing,
# integer days (ties between events and censorings), 12 centers, a 3-level histology
set.seed(20260415)
n <- 400
cohort <- data.frame(patient_id = sprintf("P%03d", 1:n), center_id = sprintf("C%02d", sample(1:12, n, TRUE)),
                     arm = sample(c("neoadjuvant", "upfront_surgery"), n, TRUE),
                     age = round(rnorm(n, 58, 11)),
                     histology = sample(c("PTC", "FTC", "PDTC"), n, TRUE, prob = c(0.6, 0.25, 0.15)))
lp <- 0.5 * (cohort$arm == "upfront_surgery") + 0.02 * (cohort$age - 58) +
      c(PTC = 0, FTC = 0.3, PDTC = 0.9)[cohort$histology]
t1 <- rexp(n, exp(lp) / 900)
t2 <- rexp(n, exp(0.03 * (cohort$age - 58)) / 2000)
cens <- runif(n, 200, 1800)
cohort$time <- ceiling(pmin(t1, t2, cens))
cohort$event_type <- ifelse(cens <= pmin(t1, t2), 0, ifelse(t1 <= t2, 1, 2))
f <- file.path(out, "fg_cohort.csv")
write.csv(cohort, f, row.names = FALSE)
cohort <- read.csv(f)
cohort$histology <- factor(cohort$histology, c("PTC", "FTC", "PDTC"))
cohort$ev <- factor(cohort$event_type, 0:2, c("censored", "recurrence", "death"))

# ---- helpers --------------------------------------------------------------------------------
expanded <- function(fg, key, full) {
  # the expanded data: every row (small data sets) or, per patient, the row count, Σ fgwt and
  # Σ fgwt (fgstop − fgstart) (large ones), in R's row order / sorted patient order
  res <- list(nrow = nrow(fg), sum_wt = sum(fg$fgwt), events = sum(fg$fgstatus))
  if (full) {
    res$rows <- list(id = fg[[key]], fgstart = fg$fgstart, fgstop = fg$fgstop,
                     fgstatus = fg$fgstatus, fgwt = fg$fgwt)
  } else {
    ids <- sort(unique(fg[[key]]))
    k <- match(fg[[key]], ids)
    res$per_id <- list(id = ids, n = as.vector(table(factor(k, seq_along(ids)))),
                       sum_wt = as.vector(tapply(fg$fgwt, k, sum)),
                       sum_wt_len = as.vector(tapply(fg$fgwt * (fg$fgstop - fg$fgstart), k, sum)))
  }
  res
}
cox_json <- function(call_text, data) {
  fit <- eval(parse(text = call_text), list(fg = data))
  list(call = call_text, names = names(coef(fit)), coef = unname(coef(fit)),
       se = unname(sqrt(diag(fit$naive.var %||% fit$var))),
       robust_se = if (!is.null(fit$naive.var)) unname(sqrt(diag(fit$var))) else NULL,
       loglik = unname(fit$loglik), n = fit$n, nevent = fit$nevent)
}
crr_json <- function(call_text, env) {
  fit <- eval(parse(text = call_text), env)
  list(call = call_text, names = names(fit$coef), coef = unname(fit$coef),
       se = unname(sqrt(diag(fit$var))), converged = fit$converged)
}
case <- function(finegray_call, data, key, full, fits, crr = NULL, env = NULL) {
  fg <- eval(parse(text = finegray_call), list(d = data))
  res <- list(call = finegray_call, event = attr(fg, "event"), expanded = expanded(fg, key, full),
              fits = lapply(fits, cox_json, data = fg))
  if (!is.null(crr)) res$crr <- lapply(crr, crr_json, env = env)
  res
}

# ---- cases ----------------------------------------------------------------------------------
# hand-crafted ties: events and censorings at the same times (where finegray's G and crr's G differ)
Xt <- model.matrix(~ x + arm, ties)[, -1]
put(case("finegray(Surv(time, ev) ~ ., data = d, etype = 'recurrence')", ties, "id", TRUE,
         list(breslow = "coxph(Surv(fgstart, fgstop, fgstatus) ~ x + arm, weights = fgwt, data = fg, ties = 'breslow')",
              efron = "coxph(Surv(fgstart, fgstop, fgstatus) ~ x + arm, weights = fgwt, data = fg)",
              cluster = "coxph(Surv(fgstart, fgstop, fgstatus) ~ x + arm, weights = fgwt, data = fg, ties = 'breslow', cluster = id)"),
         crr = list(default = "crr(ties$time, ties$cause, Xt)",
                    tight = "crr(ties$time, ties$cause, Xt, gtol = 1e-12, maxiter = 50)"),
         env = environment()),
    "ties")
put(case("finegray(Surv(time, ev) ~ ., data = d, etype = 'death')", ties, "id", TRUE,
         list(breslow = "coxph(Surv(fgstart, fgstop, fgstatus) ~ x + arm, weights = fgwt, data = fg, ties = 'breslow')")),
    "ties_death")
put(case("finegray(Surv(time, ev) ~ . + strata(site), data = d, etype = 'recurrence')", ties, "id", TRUE,
         list(breslow = "coxph(Surv(fgstart, fgstop, fgstatus) ~ x + arm, weights = fgwt, data = fg, ties = 'breslow')")),
    "ties_strata")

# cmprsk's ?crr example: continuous times, no ties → finegray + Breslow coxph = crr's estimate
Xe <- as.matrix(ex[, c("x1", "x2", "x3")])
put(case("finegray(Surv(ftime, ev) ~ ., data = d, etype = 'c1')", ex, "id", TRUE,
         list(breslow = "coxph(Surv(fgstart, fgstop, fgstatus) ~ x1 + x2 + x3, weights = fgwt, data = fg, ties = 'breslow')",
              cluster = "coxph(Surv(fgstart, fgstop, fgstatus) ~ x1 + x2 + x3, weights = fgwt, data = fg, ties = 'breslow', cluster = id)"),
         crr = list(default = "crr(ex$ftime, ex$fstatus, Xe)",
                    tight = "crr(ex$ftime, ex$fstatus, Xe, gtol = 1e-12, maxiter = 50)"),
         env = environment()),
    "example")

# mgus2 (survival's "compete" vignette): PCM with death competing, months (many ties)
Xm <- model.matrix(~ age + sex + hgb, mc)[, -1]
put(case("finegray(Surv(etime, ev) ~ ., data = d, etype = 'pcm')", mc, "id", FALSE,
         list(efron = "coxph(Surv(fgstart, fgstop, fgstatus) ~ age + sex + hgb, weights = fgwt, data = fg)",
              breslow = "coxph(Surv(fgstart, fgstop, fgstatus) ~ age + sex + hgb, weights = fgwt, data = fg, ties = 'breslow')",
              cluster = "coxph(Surv(fgstart, fgstop, fgstatus) ~ age + sex + hgb, weights = fgwt, data = fg, ties = 'breslow', cluster = id)",
              strata = "coxph(Surv(fgstart, fgstop, fgstatus) ~ age + hgb + strata(sex), weights = fgwt, data = fg, ties = 'breslow', cluster = id)"),
         crr = list(default = "crr(mc$etime, mc$event, Xm, failcode = 1, cencode = 0)",
                    tight = "crr(mc$etime, mc$event, Xm, failcode = 1, cencode = 0, gtol = 1e-12, maxiter = 50)"),
         env = environment()),
    "mgus2_pcm")
put(case("finegray(Surv(etime, ev) ~ ., data = d, etype = 'death')", mc, "id", FALSE,
         list(breslow = "coxph(Surv(fgstart, fgstop, fgstatus) ~ age + sex + hgb, weights = fgwt, data = fg, ties = 'breslow', cluster = id)"),
         crr = list(tight = "crr(mc$etime, mc$event, Xm, failcode = 2, cencode = 0, gtol = 1e-12, maxiter = 50)"),
         env = environment()),
    "mgus2_death")
put(case("finegray(Surv(etime, ev) ~ . + strata(sex), data = d, etype = 'pcm')", mc, "id", FALSE,
         list(cluster = "coxph(Surv(fgstart, fgstop, fgstatus) ~ age + sex + hgb, weights = fgwt, data = fg, ties = 'breslow', cluster = id)",
              strata = "coxph(Surv(fgstart, fgstop, fgstatus) ~ age + hgb + strata(sex), weights = fgwt, data = fg, cluster = id)")),
    "mgus2_pcm_strata")

# the simulated cohort: recurrence, with the censoring distribution by arm and center strata in the fit
Xc <- model.matrix(~ arm + age + histology, cohort)[, -1]
put(case("finegray(Surv(time, ev) ~ ., data = d, etype = 'recurrence')", cohort, "patient_id", FALSE,
         list(cluster = "coxph(Surv(fgstart, fgstop, fgstatus) ~ arm + age + histology, weights = fgwt, data = fg, ties = 'breslow', cluster = patient_id)",
              efron = "coxph(Surv(fgstart, fgstop, fgstatus) ~ arm + age + histology, weights = fgwt, data = fg, cluster = patient_id)",
              strata = "coxph(Surv(fgstart, fgstop, fgstatus) ~ arm + age + histology + strata(center_id), weights = fgwt, data = fg, cluster = patient_id)"),
         crr = list(tight = "crr(cohort$time, cohort$event_type, Xc, failcode = 1, cencode = 0, gtol = 1e-12, maxiter = 50)"),
         env = environment()),
    "cohort")
put(case("finegray(Surv(time, ev) ~ . + strata(arm), data = d, etype = 'recurrence')", cohort, "patient_id", FALSE,
         list(cluster = "coxph(Surv(fgstart, fgstop, fgstatus) ~ arm + age + histology, weights = fgwt, data = fg, ties = 'breslow', cluster = patient_id)")),
    "cohort_strata")
