# Golden values for latc.stats descriptive functions (table_one, proportion_ci), multiple
# imputation pooling (pool) and subgroup analyses (subgroups).
#
# Run from the repository root:   Rscript tests/r_desc/desc_goldens.R
# Produced with R 4.2.2, survival 3.5-3, mice 3.15.0, survey 4.1-1 (Debian bookworm packages).
# R's tableone is not packaged in Debian: its formulas (tableone 0.13, modules-smd.R,
# CreateTableOne defaults) are reproduced here with the R functions tableone calls
# (chisq.test, fisher.test, oneway.test(var.equal = TRUE), kruskal.test, quantile type 7,
# survey::svymean / svyvar / svytable / svyquantile for svyCreateTableOne).
# Writes tests/data/r_golden_desc/*.csv (the data, so Python reads exactly what R read) and
# *.json (results; each carries the R call in its "call" field).
suppressPackageStartupMessages({
  library(survival); library(mice); library(survey); library(jsonlite)
})
out <- "tests/data/r_golden_desc"
dir.create(out, showWarnings = FALSE, recursive = TRUE)
put <- function(x, name) {
  write_json(x, file.path(out, paste0(name, ".json")), digits = NA, na = "null",
             auto_unbox = TRUE, pretty = TRUE)
}

# ---- proportion confidence intervals ------------------------------------------------------------
grid <- expand.grid(x = c(0, 1, 2, 5, 7, 10, 19, 20), n = c(20, 47))
grid <- rbind(grid, data.frame(x = c(0, 1, 0, 1, 3, 250, 999), n = c(1, 1, 2, 2, 3, 1000, 1000)))
grid <- grid[grid$x <= grid$n, ]
ci <- function(x, n, conf) {
  z <- qnorm(1 - (1 - conf) / 2)
  cp <- binom.test(x, n, conf.level = conf)$conf.int
  wi <- prop.test(x, n, conf.level = conf, correct = FALSE)$conf.int
  # Agresti & Coull (1998): add z^2/2 successes and failures, Wald interval, clipped to [0, 1]
  nt <- n + z^2; pt <- (x + z^2 / 2) / nt
  ac <- c(max(0, pt - z * sqrt(pt * (1 - pt) / nt)), min(1, pt + z * sqrt(pt * (1 - pt) / nt)))
  # Jeffreys (Brown, Cai & DasGupta 2001): Beta(x + 1/2, n - x + 1/2) quantiles, 0 / 1 at the edges
  je <- c(if (x == 0) 0 else qbeta((1 - conf) / 2, x + 0.5, n - x + 0.5),
          if (x == n) 1 else qbeta(1 - (1 - conf) / 2, x + 0.5, n - x + 0.5))
  c(cp, wi, ac, je)
}
rows <- list()
for (conf in c(0.95, 0.90)) for (i in seq_len(nrow(grid))) {
  v <- ci(grid$x[i], grid$n[i], conf)
  rows[[length(rows) + 1]] <- data.frame(x = grid$x[i], n = grid$n[i], conf = conf,
    cp_lower = v[1], cp_upper = v[2], wilson_lower = v[3], wilson_upper = v[4],
    ac_lower = v[5], ac_upper = v[6], jeffreys_lower = v[7], jeffreys_upper = v[8])
}
put(list(call = paste("binom.test(x, n, conf.level)$conf.int (clopper-pearson);",
                      "prop.test(x, n, conf.level, correct = FALSE)$conf.int (wilson);",
                      "agresti-coull and jeffreys by formula (see script)"),
         rows = do.call(rbind, rows)), "proportion_ci")

# ---- table one on lung ----------------------------------------------------------------------------
lung <- survival::lung
lung$sex <- factor(lung$sex, levels = 1:2, labels = c("male", "female"))
lung$ecog <- factor(lung$ph.ecog)            # 0..3 and one NA
lung$dead <- factor(lung$status == 2, levels = c(FALSE, TRUE), labels = c("alive", "dead"))
lung$agegrp <- cut(lung$age, c(0, 60, 70, 100), labels = c("<=60", "61-70", ">70"))
# IPTW-like weights for sex (female vs male) from a logistic model on age
ps <- fitted(glm(I(sex == "female") ~ age, family = binomial, data = lung))
lung$w <- ifelse(lung$sex == "female", 1 / ps, 1 / (1 - ps))
write.csv(lung[, c("time", "status", "age", "sex", "ecog", "dead", "agegrp", "wt.loss",
                   "meal.cal", "w")], file.path(out, "lung_desc.csv"), row.names = FALSE, na = "")

smd_cont <- function(x, g) {            # tableone StdDiff (all pairs, |.|)
  m <- tapply(x, g, mean, na.rm = TRUE); v <- tapply(x, g, var, na.rm = TRUE)
  out <- outer(m, m, "-") / sqrt(outer(v, v, "+") / 2); abs(out[lower.tri(out)])
}
smd_from_tab <- function(tab) {          # tableone StdDiffMulti / StdDiffFromLstMeans
  P <- prop.table(tab, 1); if (ncol(P) > 1) P <- P[, -1, drop = FALSE]
  res <- c()
  for (i in 1:(nrow(P) - 1)) for (j in (i + 1):nrow(P)) {
    cv <- function(p) { S <- -outer(p, p); diag(S) <- p * (1 - p); S }
    d <- P[i, ] - P[j, ]; S <- (cv(P[i, ]) + cv(P[j, ])) / 2
    res <- c(res, sqrt(drop(t(d) %*% MASS::ginv(S) %*% d)))
  }
  res
}
tab_one <- function(d, group, cont, nonnormal, cat, exact = character()) {
  g <- d[[group]]
  res <- list(n = as.list(table(g)))
  for (v in c(cont, nonnormal)) {
    x <- d[[v]]
    r <- list(missing = as.list(tapply(is.na(x), g, sum)),
              mean = as.list(tapply(x, g, mean, na.rm = TRUE)),
              sd = as.list(tapply(x, g, sd, na.rm = TRUE)),
              median = as.list(tapply(x, g, median, na.rm = TRUE)),
              q1 = as.list(tapply(x, g, quantile, 0.25, na.rm = TRUE)),
              q3 = as.list(tapply(x, g, quantile, 0.75, na.rm = TRUE)),
              smd = mean(smd_cont(x, g)),
              p_anova = oneway.test(x ~ g, var.equal = TRUE)$p.value,
              p_kruskal = kruskal.test(x ~ g)$p.value)
    res[[v]] <- r
  }
  for (v in cat) {
    x <- d[[v]]; tab <- table(g, x)
    r <- list(missing = as.list(tapply(is.na(x), g, sum)),
              counts = lapply(split(tab, row(tab)), as.list),
              levels = colnames(tab),
              smd = mean(smd_from_tab(tab)),
              p_chisq = suppressWarnings(chisq.test(tab)$p.value),
              p_fisher = fisher.test(tab)$p.value)
    names(r$counts) <- rownames(tab)
    res[[v]] <- r
  }
  res
}
put(list(call = paste("tableone 0.13 formulas: tapply mean/sd/quantile(type 7); StdDiff / StdDiffMulti",
                      "(MASS::ginv); oneway.test(x ~ g, var.equal = TRUE); kruskal.test(x ~ g);",
                      "chisq.test(table(g, x)) (Yates for 2x2); fisher.test(table(g, x))"),
         result = tab_one(lung, "sex", c("age"), c("wt.loss", "meal.cal"), c("ecog", "dead", "agegrp"))),
    "table_one_lung_sex")
put(list(call = "as table_one_lung_sex, grouped by agegrp (3 groups: SMD = mean of the 3 pairwise SMDs)",
         result = tab_one(lung, "agegrp", c("age"), c("wt.loss"), c("ecog", "sex", "dead"))),
    "table_one_lung_agegrp")

# weighted (svyCreateTableOne): svydesign(ids = ~1, weights = ~w)
des <- svydesign(ids = ~1, weights = ~w, data = lung)
svy_one <- function(v, binary = FALSE) {
  f <- as.formula(paste("~", v))
  m <- svyby(f, ~sex, des, svymean, na.rm = TRUE)[, 2]
  s2 <- svyby(f, ~sex, des, svyvar, na.rm = TRUE)[, 2]
  q <- lapply(levels(lung$sex), function(l) {
    dd <- subset(des, sex == l)
    unname(coef(svyquantile(f, dd, c(0.25, 0.5, 0.75), na.rm = TRUE)))
  })
  list(mean = m, sd = sqrt(s2), q = q, smd = abs(diff(m)) / sqrt(sum(s2) / 2))
}
svy_cat <- function(v) {
  tab <- svytable(as.formula(paste("~ sex +", v)), des)
  list(counts = lapply(split(unclass(tab), row(tab)), identity), levels = colnames(tab),
       smd = smd_from_tab(tab))
}
put(list(call = paste("svydesign(ids = ~1, weights = ~w, data = lung); svyby(~v, ~sex, des, svymean / svyvar);",
                      "svyquantile(~v, subset(des, sex == l), c(.25, .5, .75)) (qrule 'math');",
                      "svytable(~sex + v, des) -> tableone StdDiffMulti"),
         n = as.list(tapply(lung$w, lung$sex, sum)),
         age = svy_one("age"), wt.loss = svy_one("wt.loss"), meal.cal = svy_one("meal.cal"),
         ecog = svy_cat("ecog"), dead = svy_cat("dead")), "table_one_lung_sex_weighted")

# ---- pooling by Rubin's rules (mice::pool) on fixed completed data sets ---------------------------
# The completed data sets are exported, so Python pools exactly the fits R pools.
nh <- mice::nhanes2                      # age (3-level factor), bmi, hyp (no/yes), chl
imp <- mice(nh, m = 5, seed = 20240521, printFlag = FALSE)
long <- complete(imp, "long")
write.csv(long[, c(".imp", ".id", "age", "bmi", "hyp", "chl")], file.path(out, "nhanes2_imputed_long.csv"),
          row.names = FALSE)
write.csv(nh, file.path(out, "nhanes2.csv"), row.names = FALSE, na = "")
write.csv(mice::nhanes, file.path(out, "nhanes.csv"), row.names = FALSE, na = "")
pool_json <- function(p) {
  s <- summary(p, conf.int = TRUE)
  list(pooled = p$pooled[, c("term", "m", "estimate", "ubar", "b", "t", "dfcom", "df", "riv", "lambda", "fmi")],
       summary = data.frame(term = as.character(s$term), std.error = s$std.error, statistic = s$statistic,
                            p.value = s$p.value, lower = s[["2.5 %"]], upper = s[["97.5 %"]]))
}
p_lm <- pool(with(imp, lm(chl ~ age + bmi)))
put(c(list(call = "imp <- mice(nhanes2, m = 5, seed = 20240521); pool(with(imp, lm(chl ~ age + bmi)))"),
      pool_json(p_lm)), "pool_nhanes2_lm")
# converged fully (R stops IRLS at a relative deviance change of 1e-8, which leaves ~1e-5 in the
# estimates of this small sample; Python fits to 1e-12)
p_glm <- pool(with(imp, glm(hyp ~ bmi + chl, family = binomial, control = glm.control(epsilon = 1e-14, maxit = 100))))
put(c(list(call = "pool(with(imp, glm(hyp ~ bmi + chl, family = binomial, control = glm.control(epsilon = 1e-14, maxit = 100))))"), pool_json(p_glm)),
    "pool_nhanes2_glm")

# survival: event indicator and Nelson-Aalen cumulative hazard as predictors (White & Royston 2009)
lu <- survival::lung[, c("time", "status", "age", "sex", "ph.ecog", "wt.loss", "meal.cal")]
lu$event <- as.integer(lu$status == 2); lu$status <- NULL
lu$ph.ecog <- factor(lu$ph.ecog)
lu$H <- nelsonaalen(lu, time, event)
pred <- make.predictorMatrix(lu); pred[, "time"] <- 0
impl <- mice(lu, m = 5, seed = 20240522, predictorMatrix = pred, printFlag = FALSE)
longl <- complete(impl, "long")
write.csv(longl[, c(".imp", ".id", "time", "event", "age", "sex", "ph.ecog", "wt.loss", "meal.cal", "H")],
          file.path(out, "lung_imputed_long.csv"), row.names = FALSE)
write.csv(lu, file.path(out, "lung_mi.csv"), row.names = FALSE, na = "")
p_cox <- pool(with(impl, coxph(Surv(time, event) ~ age + sex + ph.ecog + wt.loss)))
put(c(list(call = paste("lu$H <- nelsonaalen(lu, time, event); impl <- mice(lu, m = 5, seed = 20240522,",
                        "predictorMatrix = pred (time not a predictor));",
                        "pool(with(impl, coxph(Surv(time, event) ~ age + sex + ph.ecog + wt.loss)))")),
      pool_json(p_cox)), "pool_lung_cox")

# ---- subgroup analyses on rossi (lifelines' copy) ------------------------------------------------
ro <- read.csv(file.path(out, "rossi.csv"))
ro$agegrp <- cut(ro$age, c(0, 19, 24, 100), labels = c("<=19", "20-24", ">=25"))
ps <- fitted(glm(fin ~ age + race + wexp + mar + paro + prio, family = binomial, data = ro))
ro$iptw <- ifelse(ro$fin == 1, 1 / ps, 1 / (1 - ps))
write.csv(ro, file.path(out, "rossi_subgroups.csv"), row.names = FALSE)
# glm fits converged fully (R's default epsilon = 1e-8 on the deviance leaves ~1e-5 in estimates)
tight <- glm.control(epsilon = 1e-14, maxit = 100)
sub_rows <- function(model, vars, weighted = FALSE) {
  rows <- list(); inter <- list()
  for (v in vars) {
    ro$.s <- factor(ro[[v]])
    for (l in levels(ro$.s)) {
      d <- ro[ro$.s == l, ]
      if (model == "cox") {
        f <- if (weighted) coxph(Surv(week, arrest) ~ fin + prio, data = d, weights = iptw, robust = TRUE)
             else coxph(Surv(week, arrest) ~ fin + prio, data = d)
        b <- coef(f)["fin"]; se <- sqrt(f$var[1, 1]); ev <- sum(d$arrest)
      } else {
        f <- glm(arrest ~ fin + prio, family = binomial, data = d, control = tight)
        b <- coef(f)["fin"]; se <- sqrt(vcov(f)[2, 2]); ev <- sum(d$arrest)
      }
      rows[[length(rows) + 1]] <- data.frame(subgroup = v, level = l, n = nrow(d), events = ev,
        coef = unname(b), se = se, estimate = exp(unname(b)), lower = exp(unname(b) - qnorm(.975) * se),
        upper = exp(unname(b) + qnorm(.975) * se), p = 2 * pnorm(-abs(unname(b) / se)))
    }
    if (model == "cox" && !weighted) {
      f0 <- coxph(Surv(week, arrest) ~ fin + .s + prio, data = ro)
      f1 <- coxph(Surv(week, arrest) ~ fin * .s + prio, data = ro)
      inter[[v]] <- anova(f0, f1)[2, "Pr(>|Chi|)"]
    } else if (model == "cox") {
      f1 <- coxph(Surv(week, arrest) ~ fin * .s + prio, data = ro, weights = iptw, robust = TRUE)
      k <- grep(":", names(coef(f1)))
      b <- coef(f1)[k]; V <- f1$var[k, k, drop = FALSE]
      inter[[v]] <- pchisq(drop(t(b) %*% solve(V) %*% b), length(k), lower.tail = FALSE)
    } else {
      f0 <- glm(arrest ~ fin + .s + prio, family = binomial, data = ro, control = tight)
      f1 <- glm(arrest ~ fin * .s + prio, family = binomial, data = ro, control = tight)
      inter[[v]] <- anova(f0, f1, test = "LRT")[2, "Pr(>Chi)"]
    }
  }
  list(rows = do.call(rbind, rows), p_interaction = inter)
}
vars <- c("race", "wexp", "mar", "agegrp")
put(c(list(call = paste("per level: coxph(Surv(week, arrest) ~ fin + prio, data = subset); interaction:",
                        "anova(coxph(~ fin + s + prio), coxph(~ fin * s + prio)) (LRT)")),
      sub_rows("cox", vars)), "subgroups_rossi_cox")
put(c(list(call = paste("per level: glm(arrest ~ fin + prio, binomial, control = glm.control(epsilon = 1e-14, maxit = 100)),",
                        "Wald CI (confint.default);",
                        "interaction: anova(glm(~ fin + s + prio), glm(~ fin * s + prio), test = 'LRT')")),
      sub_rows("logistic", vars)), "subgroups_rossi_logistic")
put(c(list(call = paste("per level: coxph(Surv(week, arrest) ~ fin + prio, weights = iptw, robust = TRUE);",
                        "interaction: Wald chi-square of the fin:s coefficients with the robust variance")),
      sub_rows("cox", vars, weighted = TRUE)), "subgroups_rossi_cox_weighted")

# weighted logistic: survey::svyglm on svydesign(ids = ~1, weights = ~iptw); Wald CI on the normal
# scale; interaction by the Wald chi-square of the fin:s coefficients with vcov(svyglm)
svy_rows <- list(); svy_inter <- list()
for (v in vars) {
  ro$.s <- factor(ro[[v]])
  for (l in levels(ro$.s)) {
    d <- ro[ro$.s == l, ]
    f <- svyglm(arrest ~ fin + prio, design = svydesign(ids = ~1, weights = ~iptw, data = d),
                family = quasibinomial())
    b <- unname(coef(f)["fin"]); se <- sqrt(vcov(f)["fin", "fin"])
    svy_rows[[length(svy_rows) + 1]] <- data.frame(subgroup = v, level = l, n = nrow(d), events = sum(d$arrest),
      coef = b, se = se, estimate = exp(b), lower = exp(b - qnorm(.975) * se), upper = exp(b + qnorm(.975) * se),
      p = 2 * pnorm(-abs(b / se)))
  }
  f1 <- svyglm(arrest ~ fin * .s + prio, design = svydesign(ids = ~1, weights = ~iptw, data = ro),
               family = quasibinomial())
  k <- grep(":", names(coef(f1)))
  b <- coef(f1)[k]; V <- vcov(f1)[k, k, drop = FALSE]
  svy_inter[[v]] <- pchisq(drop(t(b) %*% solve(V) %*% b), length(k), lower.tail = FALSE)
}
put(list(call = paste("per level: svyglm(arrest ~ fin + prio, design = svydesign(ids = ~1, weights = ~iptw),",
                      "family = quasibinomial()), normal Wald CI; interaction: Wald chi-square of fin:s with vcov(svyglm)"),
         rows = do.call(rbind, svy_rows), p_interaction = svy_inter), "subgroups_rossi_logistic_weighted")
