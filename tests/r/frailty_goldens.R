# Golden values for latc.stats.frailty_cox against survival's coxph(... + frailty(cluster)) (gamma
# frailty, R's default method = "em" for theta, or a fixed theta).
#
# Run from the repository root:   Rscript tests/r/frailty_goldens.R
# Produced with R 4.2.2 + survival 3.5-3 (Debian r-base-core, r-cran-survival, r-cran-jsonlite).
# Writes tests/data/r_golden/rats.csv, kidney.csv (survival's data sets), frailty_cohort.csv (a
# simulated multicenter cohort with a gamma center effect) and tests/data/r_golden/frailty.json: one
# entry per fit with its R call.
suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})

out <- "tests/data/r_golden"
roundtrip <- function(d, name) {
  f <- file.path(out, paste0(name, ".csv"))
  write.csv(d, f, row.names = FALSE, na = "")
  read.csv(f)
}
rats <- roundtrip(survival::rats, "rats")
kidney <- roundtrip(survival::kidney[, c("id", "time", "status", "age", "sex", "disease")], "kidney")
kidney$disease <- factor(kidney$disease, c("Other", "GN", "AN", "PKD"))
lung <- read.csv(file.path(out, "lung.csv"))   # written by survival_goldens.R

# a study-like multicenter cohort: 24 centers of unequal size, gamma center frailty (variance 0.4),
# integer-month times (ties), arm, age, 3-level histology, sex
set.seed(20260416)
n <- 600
center <- sample(1:24, n, TRUE, prob = rep(c(3, 2, 1), 8))
frail <- rgamma(24, shape = 1 / 0.4, scale = 0.4)
cohort <- data.frame(patient_id = sprintf("P%03d", 1:n), center_id = sprintf("C%02d", center),
                     arm = sample(c("neoadjuvant", "upfront_surgery"), n, TRUE),
                     age = round(rnorm(n, 58, 11)), sex = sample(c("F", "M"), n, TRUE, prob = c(0.7, 0.3)),
                     histology = sample(c("PTC", "FTC", "PDTC"), n, TRUE, prob = c(0.6, 0.25, 0.15)))
lp <- 0.4 * (cohort$arm == "upfront_surgery") + 0.025 * (cohort$age - 58) +
      c(PTC = 0, FTC = 0.3, PDTC = 1.0)[cohort$histology]
t <- rexp(n, frail[center] * exp(lp) / 48)
c <- runif(n, 6, 72)
cohort$time <- ceiling(pmin(t, c))
cohort$event <- as.integer(t <= c)
# four regions of six centers, grouped by the centers' frailty (a clear region effect; R: not
# sparse with <= 5 clusters)
cohort$region <- c("north", "east", "south", "west")[ceiling(rank(frail) / 6)][center]
cohort <- roundtrip(cohort, "frailty_cohort")
cohort$histology <- factor(cohort$histology, c("PTC", "FTC", "PDTC"))

fit_json <- function(call_text) {
  fit <- eval(parse(text = call_text))
  s <- summary(fit)
  cf <- fit$coefficients
  fixed <- !grepl("^gamma:", names(cf))
  tab <- s$coefficients
  frow <- grep("^frailty", rownames(tab))
  res <- list(call = call_text, names = names(cf)[fixed], coef = unname(cf[fixed]),
              se = unname(sqrt(diag(fit$var))[fixed]), se2 = unname(sqrt(diag(fit$var2))[fixed]),
              chisq = unname(tab[-frow, "Chisq"]), p = unname(tab[-frow, "p"]),
              lower = unname(s$conf.int[fixed, 3]), upper = unname(s$conf.int[fixed, 4]),
              frailty_chisq = unname(tab[frow, "Chisq"]), frailty_df = unname(tab[frow, "DF"]),
              frailty_p = unname(tab[frow, "p"]),
              df = unname(fit$df), loglik = unname(fit$loglik), penalty = unname(fit$penalty),
              iter = unname(fit$iter), n = fit$n, nevent = fit$nevent,
              lr = unname(s$logtest))
  h <- fit$history[[1]]
  if (is.null(h$history)) {
    res$theta <- h$theta
    res$c_loglik <- h$c.loglik
  } else {
    hh <- rbind(h$history)
    res$theta <- hh[nrow(hh), 1]
    res$history <- list(theta = unname(hh[, 1]), loglik = unname(hh[, 2]), c_loglik = unname(hh[, 3]))
    res$c_loglik <- h$c.loglik
  }
  if (!is.null(fit$frail)) {            # sparse: frailties and their variances apart
    res$frail <- unname(fit$frail)
    res$fvar <- unname(fit$fvar)
    res$sparse <- TRUE
  } else {                              # not sparse: gamma:<level> coefficients
    res$frail <- unname(cf[!fixed])
    res$fvar <- unname(diag(fit$var)[!fixed])
    res$sparse <- FALSE
  }
  res
}

calls <- list(
  rats = "coxph(Surv(time, status) ~ rx + frailty(litter), data = rats)",
  rats_sex = "coxph(Surv(time, status) ~ rx + sex + frailty(litter), data = rats)",
  rats_breslow = "coxph(Surv(time, status) ~ rx + sex + frailty(litter), data = rats, ties = 'breslow')",
  kidney = "coxph(Surv(time, status) ~ age + sex + frailty(id), data = kidney)",
  kidney_disease = "coxph(Surv(time, status) ~ age + sex + disease + frailty(id), data = kidney)",
  lung = "coxph(Surv(time, status) ~ age + sex + frailty(inst), data = lung)",
  cohort = "coxph(Surv(time, event) ~ arm + age + histology + frailty(center_id), data = cohort)",
  cohort_breslow = "coxph(Surv(time, event) ~ arm + age + histology + frailty(center_id), data = cohort, ties = 'breslow')",
  cohort_strata = "coxph(Surv(time, event) ~ arm + age + histology + frailty(center_id) + strata(sex), data = cohort)",
  cohort_theta = "coxph(Surv(time, event) ~ arm + age + histology + frailty(center_id, theta = 0.5), data = cohort)",
  cohort_dense = "coxph(Surv(time, event) ~ arm + age + frailty(center_id, sparse = FALSE), data = cohort)",
  region = "coxph(Surv(time, event) ~ arm + age + frailty(region), data = cohort)",
  region_sparse = "coxph(Surv(time, event) ~ arm + age + frailty(region, sparse = TRUE), data = cohort)"
)
res <- lapply(calls, fit_json)
write_json(res, file.path(out, "frailty.json"), digits = NA, na = "null", auto_unbox = TRUE, pretty = TRUE)
