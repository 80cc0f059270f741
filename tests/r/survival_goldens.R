# Golden values for latc.stats survival functions (kaplan_meier, logrank, cox, cox_zph).
#
# Run from the repository root:   Rscript tests/r/survival_goldens.R
# Produced with R 4.2.2 + survival 3.5-3. Writes tests/data/r_golden/*.csv (the data sets, so
# Python reads exactly what R read) and tests/data/r_golden/*.json (the results).
# Each JSON carries the R call that produced it in its "call" field.
suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})

out <- "tests/data/r_golden"
dir.create(out, showWarnings = FALSE, recursive = TRUE)
put <- function(x, name) {
  write_json(x, file.path(out, paste0(name, ".json")), digits = NA, na = "null",
             auto_unbox = TRUE, pretty = TRUE)
}

# ---- data sets --------------------------------------------------------------------------------
lung <- survival::lung
lung$event <- as.integer(lung$status == 2)
write.csv(lung, file.path(out, "lung.csv"), row.names = FALSE, na = "")
veteran <- survival::veteran
write.csv(veteran, file.path(out, "veteran.csv"), row.names = FALSE, na = "")
ovarian <- survival::ovarian
write.csv(ovarian, file.path(out, "ovarian.csv"), row.names = FALSE, na = "")
# rossi comes from lifelines (tests/r reads the CSV exported by lifelines.datasets.load_rossi)
rossi <- read.csv(file.path(out, "rossi.csv"))
# IPTW weights for financial aid (ATE), from a logistic propensity model; stored with the data so
# Python uses the very same weights.
ps <- fitted(glm(fin ~ age + race + wexp + mar + paro + prio, family = binomial, data = rossi))
rossi$iptw <- ifelse(rossi$fin == 1, 1 / ps, 1 / (1 - ps))
write.csv(rossi, file.path(out, "rossi_iptw.csv"), row.names = FALSE)
# a tiny curve that sits exactly at 0.5 on an interval (R's midpoint rule for the median)
half <- data.frame(time = c(1, 2, 3, 4, 5, 6), event = c(1, 1, 1, 1, 1, 0), arm = "a")
half <- rbind(half, data.frame(time = c(2, 4, 6, 8), event = c(1, 1, 0, 0), arm = "b"))
write.csv(half, file.path(out, "half.csv"), row.names = FALSE)

# ---- Kaplan-Meier -----------------------------------------------------------------------------
km_json <- function(fit, call, times = NULL) {
  s <- summary(fit, censored = TRUE)
  grp <- if (is.null(s$strata)) rep("all", length(s$time)) else sub("^[^=]*=", "", as.character(s$strata))
  tab <- data.frame(group = grp, time = s$time, n_risk = s$n.risk, n_event = s$n.event,
                    n_censor = s$n.censor, survival = s$surv, std_err = s$std.err,
                    lower = s$lower, upper = s$upper)
  m <- summary(fit)$table
  if (is.null(dim(m))) m <- t(as.matrix(m))
  rn <- if (is.null(rownames(m))) "all" else sub("^[^=]*=", "", rownames(m))
  med <- data.frame(group = rn, n = m[, "records"], events = m[, "events"],
                    median = m[, "median"], lower = m[, grep("LCL", colnames(m))],
                    upper = m[, grep("UCL", colnames(m))])
  res <- list(call = call, table = tab, medians = med)
  if (!is.null(times)) {
    a <- summary(fit, times = times)
    ga <- if (is.null(a$strata)) rep("all", length(a$time)) else sub("^[^=]*=", "", as.character(a$strata))
    res$at <- data.frame(group = ga, time = a$time, n_risk = a$n.risk, survival = a$surv,
                         std_err = a$std.err, lower = a$lower, upper = a$upper)
  }
  res
}

for (ct in c("log", "log-log", "plain")) {
  call <- sprintf('survfit(Surv(time, event) ~ sex, data = lung, conf.type = "%s")', ct)
  fit <- survfit(Surv(time, event) ~ sex, data = lung, conf.type = ct)
  put(km_json(fit, call, times = c(90, 180, 365, 730, 1000)), paste0("km_lung_sex_", gsub("-", "", ct)))
}
put(km_json(survfit(Surv(time, event) ~ 1, data = lung), "survfit(Surv(time, event) ~ 1, data = lung)"),
    "km_lung_all")
put(km_json(survfit(Surv(futime, fustat) ~ rx, data = ovarian),
            "survfit(Surv(futime, fustat) ~ rx, data = ovarian)"), "km_ovarian_rx")
put(km_json(survfit(Surv(time, status) ~ celltype, data = veteran, conf.type = "log-log"),
            'survfit(Surv(time, status) ~ celltype, data = veteran, conf.type = "log-log")'),
    "km_veteran_celltype_loglog")
put(km_json(survfit(Surv(time, event) ~ arm, data = half), "survfit(Surv(time, event) ~ arm, data = half)"),
    "km_half")
put(km_json(survfit(Surv(week, arrest) ~ fin, data = rossi, weights = iptw, robust = TRUE),
            "survfit(Surv(week, arrest) ~ fin, data = rossi, weights = iptw, robust = TRUE)",
            times = c(10, 26, 52)), "km_rossi_iptw_robust")
put(km_json(survfit(Surv(week, arrest) ~ fin, data = rossi, weights = iptw, robust = TRUE, conf.type = "log-log"),
            'survfit(Surv(week, arrest) ~ fin, data = rossi, weights = iptw, robust = TRUE, conf.type = "log-log")'),
    "km_rossi_iptw_robust_loglog")
put(km_json(survfit(Surv(week, arrest) ~ fin, data = rossi, weights = iptw, robust = FALSE),
            "survfit(Surv(week, arrest) ~ fin, data = rossi, weights = iptw, robust = FALSE)"),
    "km_rossi_iptw_naive")
# weighted curve whose last time is a death of everyone left (S = 0: robust se 0, CI NA)
allgone <- data.frame(t = c(1, 2, 2, 3, 4, 4), e = c(1, 0, 1, 1, 1, 1), w = c(1.5, 2, 0.5, 1, 1.2, 0.7))
write.csv(allgone, file.path(out, "allgone.csv"), row.names = FALSE)
put(km_json(survfit(Surv(t, e) ~ 1, data = allgone, weights = w, robust = TRUE),
            "survfit(Surv(t, e) ~ 1, data = allgone, weights = w, robust = TRUE)"), "km_allgone_robust")
put(km_json(survfit(Surv(t, e) ~ 1, data = allgone), "survfit(Surv(t, e) ~ 1, data = allgone)"),
    "km_allgone_greenwood")
lung_inst <- lung[!is.na(lung$inst), ]
put(km_json(survfit(Surv(time, event) ~ sex, data = lung_inst, cluster = inst),
            "survfit(Surv(time, event) ~ sex, data = lung[!is.na(lung$inst), ], cluster = inst)"),
    "km_lung_sex_cluster_inst")

# ---- log-rank ---------------------------------------------------------------------------------
sd_json <- function(sd, call) {
  o <- if (is.matrix(sd$obs)) rowSums(sd$obs) else sd$obs
  e <- if (is.matrix(sd$exp)) rowSums(sd$exp) else sd$exp
  df <- sum(e > 0) - 1
  list(call = call, chisq = sd$chisq, df = df, p = pchisq(sd$chisq, df, lower.tail = FALSE),
       groups = data.frame(group = sub("^[^=]*=", "", names(sd$n)), n = as.vector(sd$n),
                           observed = o, expected = e, var = diag(sd$var)))
}
put(sd_json(survdiff(Surv(time, event) ~ sex, data = lung), "survdiff(Surv(time, event) ~ sex, data = lung)"),
    "logrank_lung_sex")
put(sd_json(survdiff(Surv(time, status) ~ celltype, data = veteran),
            "survdiff(Surv(time, status) ~ celltype, data = veteran)"), "logrank_veteran_celltype")
put(sd_json(survdiff(Surv(time, status) ~ trt + strata(celltype), data = veteran),
            "survdiff(Surv(time, status) ~ trt + strata(celltype), data = veteran)"), "logrank_veteran_trt_strata")
put(sd_json(survdiff(Surv(week, arrest) ~ fin + strata(race, wexp), data = rossi),
            "survdiff(Surv(week, arrest) ~ fin + strata(race, wexp), data = rossi)"), "logrank_rossi_fin_strata2")

# ---- Cox --------------------------------------------------------------------------------------
cox_json <- function(fit, call) {
  s <- summary(fit)
  cf <- s$coefficients
  ci <- s$conf.int
  robust <- "robust se" %in% colnames(cf)
  tab <- data.frame(term = rownames(cf), coef = cf[, "coef"], exp_coef = cf[, "exp(coef)"],
                    se = cf[, "se(coef)"],
                    robust_se = if (robust) cf[, "robust se"] else NA,
                    z = cf[, "z"], p = cf[, "Pr(>|z|)"], lower = ci[, "lower .95"], upper = ci[, "upper .95"])
  list(call = call, summary = tab, loglik = fit$loglik, n = fit$n, events = fit$nevent,
       lr_test = list(chisq = s$logtest[["test"]], df = s$logtest[["df"]], p = s$logtest[["pvalue"]]),
       # summary()$waldtest rounds the statistic to 2 decimals; fit$wald.test is the full value
       wald_test = list(chisq = unname(fit$wald.test), df = s$waldtest[["df"]], p = s$waldtest[["pvalue"]]),
       score_test = list(chisq = s$sctest[["test"]], df = s$sctest[["df"]], p = s$sctest[["pvalue"]]),
       concordance = as.list(fit$concordance[c("concordant", "discordant", "tied.x", "tied.y", "tied.xy", "concordance", "std")]),
       var = unname(fit$var), iter = fit$iter)
}
zph_json <- function(fit, call) {
  res <- list(call = call)
  for (tr in c("km", "rank", "identity")) {
    z <- cox.zph(fit, transform = tr)
    res[[tr]] <- data.frame(term = rownames(z$table), chisq = z$table[, "chisq"], df = z$table[, "df"],
                            p = z$table[, "p"])
  }
  res
}
fits <- list(
  lung_efron = 'coxph(Surv(time, event) ~ age + sex + ph.ecog, data = lung, ties = "efron")',
  lung_breslow = 'coxph(Surv(time, event) ~ age + sex + ph.ecog, data = lung, ties = "breslow")',
  rossi_efron = 'coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar + paro + prio, data = rossi)',
  rossi_breslow = 'coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar + paro + prio, data = rossi, ties = "breslow")',
  veteran_celltype = 'coxph(Surv(time, status) ~ trt + celltype + karno, data = veteran)',
  veteran_strata = 'coxph(Surv(time, status) ~ trt + karno + age + strata(celltype), data = veteran)',
  rossi_strata2 = 'coxph(Surv(week, arrest) ~ fin + age + prio + strata(race, wexp), data = rossi, ties = "breslow")',
  rossi_iptw_robust = 'coxph(Surv(week, arrest) ~ fin, data = rossi, weights = iptw, robust = TRUE)',
  rossi_iptw_robust_adj = 'coxph(Surv(week, arrest) ~ fin + age + prio, data = rossi, weights = iptw, robust = TRUE, ties = "breslow")',
  lung_cluster_inst = 'coxph(Surv(time, event) ~ age + sex, data = lung, cluster = inst)',
  lung_robust = 'coxph(Surv(time, event) ~ age + sex + ph.ecog, data = lung, robust = TRUE)',
  ovarian = 'coxph(Surv(futime, fustat) ~ age + rx, data = ovarian)'
)
for (nm in names(fits)) {
  fit <- eval(parse(text = fits[[nm]]))
  put(cox_json(fit, fits[[nm]]), paste0("cox_", nm))
  put(zph_json(fit, paste0("cox.zph(", fits[[nm]], ", transform = <km|rank|identity>)")), paste0("zph_", nm))
}
cat("goldens written to", out, "\n")
