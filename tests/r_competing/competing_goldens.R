# Golden values for latc.stats competing risks (cumulative_incidence, gray_test, fine_gray).
#
# Run from the repository root:   Rscript tests/r_competing/competing_goldens.R
# Produced with R 4.2.2 + cmprsk 2.2-11 + survival 3.5-3. Writes tests/data/r_golden_competing/
# *.csv (the data sets) and *.json (the results). Every analysis is run on the data *read back from
# the CSV*, so Python reads exactly the numbers R analysed. Each JSON result carries its R call.
suppressPackageStartupMessages({
  library(survival)
  library(cmprsk)
  library(jsonlite)
})

out <- "tests/data/r_golden_competing"
dir.create(out, showWarnings = FALSE, recursive = TRUE)
put <- function(x, name) {
  write_json(x, file.path(out, paste0(name, ".json")), digits = NA, na = "null",
             auto_unbox = TRUE, pretty = TRUE)
}
roundtrip <- function(d, name) {
  f <- file.path(out, paste0(name, ".csv"))
  write.csv(d, f, row.names = FALSE, na = "")
  read.csv(f)
}

# ---- data sets --------------------------------------------------------------------------------
# survival::mgus2, competing risks as in the survival "compete" vignette:
# event 1 = plasma-cell malignancy (PCM), 2 = death before PCM, 0 = censored (months; many ties).
m <- survival::mgus2
m$etime <- with(m, ifelse(pstat == 0, futime, ptime))
m$event <- with(m, ifelse(pstat == 0, 2 * death, 1))
mgus2 <- roundtrip(m[, c("id", "age", "sex", "hgb", "creat", "mspike", "etime", "event")], "mgus2")

# survival::pbc, the 312 randomised patients: status 0 = censored, 1 = transplant, 2 = death.
p <- survival::pbc[!is.na(survival::pbc$trt), c("id", "time", "status", "trt", "age", "bili",
                                                "edema", "sex", "stage")]
pbc <- roundtrip(p, "pbc")

# cmprsk's documented examples (?cuminc, ?crr), simulated with their seeds.
set.seed(2)
ss <- rexp(100)
gg <- factor(sample(1:3, 100, replace = TRUE), 1:3, c("a", "b", "c"))
cc <- sample(0:2, 100, replace = TRUE)
strt <- sample(1:2, 100, replace = TRUE)
ex_cuminc <- roundtrip(data.frame(ss, gg, cc, strt), "cmprsk_cuminc_example")

set.seed(10)
ftime <- rexp(200)
fstatus <- sample(0:2, 200, replace = TRUE)
cov <- matrix(runif(600), nrow = 200)
dimnames(cov)[[2]] <- c("x1", "x2", "x3")
ex_crr <- roundtrip(data.frame(ftime, fstatus, cov), "cmprsk_crr_example")

# hand-crafted: tied event times of both causes, censoring at event times, two groups, two strata,
# event types as labels; a group whose last time is an event of cause 1.
ties <- data.frame(
  time  = c(1, 1, 1, 2, 2, 2, 2, 3, 3, 4, 5, 5, 5, 6, 7, 7,    1, 2, 2, 2, 3, 3, 4, 4, 4, 6, 6, 8),
  cause = c(1, 2, 0, 1, 1, 2, 0, 0, 2, 1, 1, 2, 0, 0, 1, 0,    2, 1, 2, 0, 1, 1, 0, 2, 2, 1, 0, 1),
  arm   = c(rep("neoadjuvant", 16), rep("upfront", 12)),
  site  = c(rep(c("A", "B"), 8), rep(c("A", "B"), 6)),
  x     = c(0.5, -1.2, 0.3, 1.1, -0.4, 0.9, 0.0, 2.1, -0.7, 0.2, 1.5, -1.9, 0.8, -0.3, 0.6, 1.0,
            -0.5, 1.3, 0.4, -1.0, 0.7, -0.2, 1.8, 0.1, -1.4, 0.9, 0.3, -0.6))
ties$outcome <- c("censored", "recurrence", "death")[ties$cause + 1]
ties <- roundtrip(ties, "ties")

# ---- helpers ----------------------------------------------------------------------------------
conf_loglog <- function(est, var, level = 0.95) {
  # log(-log) transformed pointwise CI for a cumulative incidence F (the transform used with
  # cmprsk output in practice, e.g. tidycmprsk): F^exp(-/+ z se / (F log F))
  z <- qnorm(1 - (1 - level) / 2)
  se <- sqrt(var)
  lo <- est^exp(-z * se / (est * log(est)))
  hi <- est^exp(z * se / (est * log(est)))
  lo[var == 0] <- est[var == 0]; hi[var == 0] <- est[var == 0]
  list(lower = lo, upper = hi)
}

cuminc_json <- function(fit, call, times = NULL) {
  curves <- fit[names(fit) != "Tests"]
  res <- list(call = call, curves = list())
  for (nm in names(curves)) {
    cv <- curves[[nm]]
    k <- length(cv$time)
    jump <- if (k > 2) seq(3, k - 1, by = 2) else integer(0)   # the value after each jump
    gc <- regmatches(nm, regexpr(" ", nm), invert = TRUE)[[1]]
    ci <- conf_loglog(cv$est[jump], cv$var[jump])
    res$curves[[length(res$curves) + 1]] <- list(
      name = nm, group = gc[1], cause = gc[2], time = cv$time[jump], est = cv$est[jump],
      var = cv$var[jump], lower = ci$lower, upper = ci$upper, last_time = cv$time[k])
  }
  if (!is.null(fit$Tests)) {
    tt <- fit$Tests
    res$tests <- data.frame(cause = rownames(tt), stat = tt[, "stat"], p = tt[, "pv"],
                            df = tt[, "df"])
  }
  if (!is.null(times)) {
    tp <- timepoints(fit, times)
    rows <- list()
    for (nm in rownames(tp$est)) {
      gc <- regmatches(nm, regexpr(" ", nm), invert = TRUE)[[1]]
      rows[[length(rows) + 1]] <- data.frame(group = gc[1], cause = gc[2],
                                             time = as.numeric(colnames(tp$est)),
                                             est = tp$est[nm, ], var = tp$var[nm, ])
    }
    res$timepoints <- do.call(rbind, rows)
    rownames(res$timepoints) <- NULL
  }
  res
}

crr_json <- function(fit, call) {
  s <- summary(fit)
  list(call = call, names = names(fit$coef), coef = unname(fit$coef),
       se = unname(sqrt(diag(fit$var))), var = unname(fit$var), inf = unname(fit$inf),
       # summary.crr rounds its p-value (signif); the unrounded value is 2 (1 - pnorm(|z|))
       z = unname(s$coef[, "z"]), p = unname(2 * pnorm(-abs(s$coef[, "z"]))),
       lower = unname(s$conf.int[, "2.5%"]), upper = unname(s$conf.int[, "97.5%"]),
       loglik = fit$loglik, loglik_null = fit$loglik.null, converged = fit$converged,
       n = fit$n, uftime = fit$uftime, bfitj = fit$bfitj)
}

# ---- cumulative incidence and Gray's test -----------------------------------------------------
put(cuminc_json(with(mgus2, cuminc(etime, event, sex)), "cuminc(mgus2$etime, mgus2$event, mgus2$sex)",
                times = c(0, 12, 60, 120, 240, 400, 424)),
    "cuminc_mgus2_sex")
put(cuminc_json(with(mgus2, cuminc(etime, event)), "cuminc(mgus2$etime, mgus2$event)",
                times = c(60, 120, 360)),
    "cuminc_mgus2_all")
put(cuminc_json(with(pbc, cuminc(time, status, trt, strata = stage)),
                "cuminc(pbc$time, pbc$status, pbc$trt, strata = pbc$stage)"),
    "cuminc_pbc_trt_stage")
put(cuminc_json(with(pbc, cuminc(time, status, edema)), "cuminc(pbc$time, pbc$status, pbc$edema)",
                times = c(365, 1825, 3650)),
    "cuminc_pbc_edema")
put(cuminc_json(with(ex_cuminc, cuminc(ss, cc, gg, strt)), "cuminc(ss, cc, gg, strt)  # ?cuminc example",
                times = c(0.1, 0.5, 1, 2, 5)),
    "cuminc_example_strata")
put(cuminc_json(with(ex_cuminc, cuminc(ss, cc, gg)), "cuminc(ss, cc, gg)"),
    "cuminc_example")
put(cuminc_json(with(ex_cuminc, cuminc(ss, cc, gg, rho = 1)), "cuminc(ss, cc, gg, rho = 1)"),
    "cuminc_example_rho1")
put(cuminc_json(with(ties, cuminc(time, cause, arm)), "cuminc(ties$time, ties$cause, ties$arm)",
                times = c(0.5, 1, 2, 2.5, 7, 8, 9)),
    "cuminc_ties_arm")
put(cuminc_json(with(ties, cuminc(time, cause, arm, strata = site)),
                "cuminc(ties$time, ties$cause, ties$arm, strata = ties$site)"),
    "cuminc_ties_arm_site")
put(cuminc_json(with(ties, cuminc(time, outcome, arm, cencode = "censored")),
                "cuminc(ties$time, ties$outcome, ties$arm, cencode = \"censored\")"),
    "cuminc_ties_labels")

# ---- Fine-Gray regression ---------------------------------------------------------------------
mc <- mgus2[complete.cases(mgus2[, c("age", "sex", "hgb")]), ]
X <- model.matrix(~ age + sex + hgb, mc)[, -1]
put(crr_json(crr(mc$etime, mc$event, X, failcode = 1, cencode = 0),
             "crr(etime, event, model.matrix(~ age + sex + hgb)[, -1], failcode = 1, cencode = 0)  # mgus2 complete cases"),
    "crr_mgus2_pcm")
put(crr_json(crr(mc$etime, mc$event, X, failcode = 2, cencode = 0),
             "crr(etime, event, model.matrix(~ age + sex + hgb)[, -1], failcode = 2, cencode = 0)  # mgus2 complete cases"),
    "crr_mgus2_death")

pbc$edema_f <- factor(pbc$edema)
Xp <- model.matrix(~ age + log(bili) + edema_f + trt, pbc)[, -1]
put(crr_json(crr(pbc$time, pbc$status, Xp, failcode = 2, cencode = 0),
             "crr(time, status, model.matrix(~ age + log(bili) + factor(edema) + trt)[, -1], failcode = 2)  # pbc randomised"),
    "crr_pbc_death")
put(crr_json(crr(pbc$time, pbc$status, Xp, failcode = 1, cencode = 0),
             "crr(time, status, model.matrix(~ age + log(bili) + factor(edema) + trt)[, -1], failcode = 1)  # pbc randomised"),
    "crr_pbc_transplant")

Xe <- as.matrix(ex_crr[, c("x1", "x2", "x3")])
put(crr_json(crr(ex_crr$ftime, ex_crr$fstatus, Xe), "crr(ftime, fstatus, cov)  # ?crr example"),
    "crr_example")
put(crr_json(crr(ex_crr$ftime, ex_crr$fstatus, Xe, failcode = 2), "crr(ftime, fstatus, cov, failcode = 2)  # ?crr example"),
    "crr_example_cause2")

Xt <- model.matrix(~ x + arm, ties)[, -1]
put(crr_json(crr(ties$time, ties$cause, Xt), "crr(time, cause, model.matrix(~ x + arm)[, -1])  # ties"),
    "crr_ties")

# ---- survival::finegray + weighted coxph (Breslow ties) on the ?crr example --------------------
d <- data.frame(ex_crr, ev = factor(ex_crr$fstatus, 0:2, c("censored", "c1", "c2")))
fg <- finegray(Surv(ftime, ev) ~ ., data = d, etype = "c1")
fgfit <- coxph(Surv(fgstart, fgstop, fgstatus) ~ x1 + x2 + x3, weights = fgwt, data = fg, ties = "breslow")
put(list(call = "coxph(Surv(fgstart, fgstop, fgstatus) ~ x1 + x2 + x3, weights = fgwt, data = finegray(Surv(ftime, ev) ~ ., etype = 'c1'), ties = 'breslow')",
         coef = unname(coef(fgfit))), "finegray_coxph_example")

writeLines(sprintf("R %s, cmprsk %s, survival %s", getRversion(), packageVersion("cmprsk"),
                   packageVersion("survival")), file.path(out, "VERSIONS.txt"))
