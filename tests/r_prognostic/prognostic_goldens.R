# Golden values for latc.stats prognostic functions (harrell_c, uno_c, time_dependent_auc,
# brier_score, calibration, prognostic).
#
# Run from the repository root:   Rscript tests/r_prognostic/prognostic_goldens.R
# Produced with R 4.2.2 + survival 3.5-3 + riskRegression 2022.11.28 (prodlim 2019.11.13).
# Writes tests/data/r_golden_prognostic/<data>.csv (the data with R's Cox linear predictors and
# predicted risks, so Python reads exactly what R used) and <data>.json (the results; each entry
# records the R call in its "call" field).
#
# Data: survival::lung, survival::pbc (the 312 randomised patients) and lifelines' rossi
# (tests/data/r_golden_prognostic/rossi_lifelines.csv, exported by lifelines.datasets.load_rossi).
suppressPackageStartupMessages({
  library(survival)
  library(riskRegression)
  library(jsonlite)
})

out <- "tests/data/r_golden_prognostic"
dir.create(out, showWarnings = FALSE, recursive = TRUE)

golden <- function(name, d, base, ext, times, tau, cal_time) {
  fb <- coxph(as.formula(paste("Surv(time, event) ~", paste(base, collapse = " + "))), data = d)
  fe <- coxph(as.formula(paste("Surv(time, event) ~", paste(ext, collapse = " + "))), data = d)
  d$lp_base <- predict(fb, type = "lp")
  d$lp_ext <- predict(fe, type = "lp")
  rb <- 1 - t(summary(survfit(fb, newdata = d), times = times, extend = TRUE)$surv)
  re <- 1 - t(summary(survfit(fe, newdata = d), times = times, extend = TRUE)$surv)
  if (length(times) == 1) { rb <- t(rb); re <- t(re) }
  rb <- matrix(rb, ncol = length(times)); re <- matrix(re, ncol = length(times))
  for (k in seq_along(times)) {
    d[[paste0("risk_base_", times[k])]] <- rb[, k]
    d[[paste0("risk_ext_", times[k])]] <- re[, k]
  }
  write.csv(d, file.path(out, paste0(name, ".csv")), row.names = FALSE)

  conc <- function(lp, ...) {
    f <- concordance(Surv(time, event) ~ lp, data = d, reverse = TRUE, ...)
    list(c = unname(f$concordance), se = sqrt(unname(f$var)),
         counts = as.list(f$count))
  }
  res <- list(data = name, covariates_base = base, covariates_ext = ext, times = times, tau = tau)
  for (m in c("base", "ext")) {
    lp <- d[[paste0("lp_", m)]]
    res[[m]] <- list(
      harrell = c(call = "concordance(Surv(time, event) ~ lp, reverse = TRUE)", conc(lp)),
      uno = c(call = "concordance(Surv(time, event) ~ lp, reverse = TRUE, timewt = 'n/G2')",
              conc(lp, timewt = "n/G2")),
      uno_tau = c(call = "concordance(..., timewt = 'n/G2', ymax = tau)",
                  conc(lp, timewt = "n/G2", ymax = tau)),
      coef = unname(coef(get(if (m == "base") "fb" else "fe"))),
      loglik = unname(get(if (m == "base") "fb" else "fe")$loglik))
  }
  # difference in C, infinitesimal-jackknife covariance of the two fits
  for (tw in c("n", "n/G2")) {
    cc <- if (tw == "n") concordance(fb, fe) else eval(bquote(concordance(fb, fe, timewt = "n/G2", ymax = .(tau))))
    v <- cc$var
    res[[paste0("delta_", if (tw == "n") "harrell" else "uno_tau")]] <- list(
      call = paste0("concordance(fit_base, fit_ext", if (tw == "n") ")" else ", timewt = 'n/G2', ymax = tau)"),
      delta = unname(cc$concordance[2] - cc$concordance[1]),
      se = sqrt(v[1, 1] + v[2, 2] - 2 * v[1, 2]))
  }
  # time-dependent AUC and Brier score (Kaplan-Meier censoring model)
  sc <- Score(list(base = rb, ext = re), formula = Surv(time, event) ~ 1, data = d,
              times = times, metrics = c("auc", "brier"), null.model = FALSE, conf.int = TRUE)
  auc <- as.data.frame(sc$AUC$score)
  brier <- as.data.frame(sc$Brier$score)
  res$score <- list(
    call = "Score(list(base = risk_base, ext = risk_ext), formula = Surv(time, event) ~ 1, data, times, metrics = c('auc', 'brier'), null.model = FALSE, conf.int = TRUE)",
    auc = data.frame(model = as.character(auc$model), time = auc$times, auc = auc$AUC, se = auc$se),
    brier = data.frame(model = as.character(brier$model), time = brier$times, brier = brier$Brier,
                       se = brier$se))
  # calibration of the extended model at cal_time
  p <- d[[paste0("risk_ext_", cal_time)]]
  g <- cut(p, quantile(p, seq(0, 1, length = 11)), include.lowest = TRUE, labels = FALSE)
  s <- summary(survfit(Surv(time, event) ~ g, data = d), times = cal_time)
  slope <- coxph(Surv(time, event) ~ lp_ext, data = d)   # = the slope on log(-log(1 - p))
  km <- summary(survfit(Surv(time, event) ~ 1, data = d), times = cal_time)
  res$calibration <- list(
    call = "g <- cut(p, quantile(p, seq(0, 1, length = 11)), include.lowest = TRUE); summary(survfit(Surv(time, event) ~ g), times); coxph(Surv(time, event) ~ lp_ext)",
    time = cal_time,
    groups = data.frame(group = as.integer(sub("g=", "", as.character(s$strata))),
                        n = as.integer(table(g)[sub("g=", "", as.character(s$strata))]),
                        mean_predicted = as.numeric(tapply(p, g, mean)[sub("g=", "", as.character(s$strata))]),
                        observed = 1 - s$surv, observed_lower = 1 - s$upper, observed_upper = 1 - s$lower),
    slope = unname(coef(slope)), slope_se = unname(sqrt(diag(vcov(slope)))),
    observed = 1 - km$surv, observed_se = km$std.err, expected = mean(p))
  # likelihood-ratio test of the added variables
  a <- anova(fb, fe)
  res$lr <- list(call = "anova(fit_base, fit_ext)", chisq = a$Chisq[2], df = a$Df[2],
                 p = a[["Pr(>|Chi|)"]][2])
  write_json(res, file.path(out, paste0(name, ".json")), digits = NA, na = "null",
             auto_unbox = TRUE, pretty = TRUE)
}

lung <- na.omit(survival::lung[, c("time", "status", "age", "sex", "ph.ecog")])
lung$event <- as.integer(lung$status == 2)
golden("lung", lung, c("age", "sex"), c("age", "sex", "ph.ecog"), c(180, 365, 540), 365, 365)

pbc <- survival::pbc[!is.na(survival::pbc$trt), c("time", "status", "age", "edema", "bili", "albumin", "protime")]
pbc <- na.omit(pbc)
pbc$event <- as.integer(pbc$status == 2)      # death; transplant censored
pbc$log_bili <- log(pbc$bili)
pbc$log_protime <- log(pbc$protime)
golden("pbc", pbc, c("age", "log_bili"), c("age", "log_bili", "albumin", "edema", "log_protime"),
       c(1825, 3650), 3650, 1825)

rossi <- read.csv(file.path(out, "rossi_lifelines.csv"))
rossi$time <- rossi$week
rossi$event <- rossi$arrest
golden("rossi", rossi, c("age", "prio"), c("age", "prio", "fin", "wexp", "mar", "paro"),
       c(20, 40), 40, 40)
