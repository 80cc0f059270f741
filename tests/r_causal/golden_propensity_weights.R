# Golden values for latc.stats.propensity and latc.stats.weights (R 4.2 + MatchIt's lalonde).
# Run from the repository root:  Rscript tests/r_causal/golden_propensity_weights.R
# PS: glm(treat ~ age + educ + race + married + nodegree + re74 + re75, family = binomial)
# Weights hand-coded from the glm fitted values (WeightIt's formulas; WeightIt is not in Debian):
#   ATE  treated 1/e, control 1/(1-e);  ATT treated 1, control e/(1-e);  ATO treated 1-e, control e
#   stabilized ATE: ATE weight x proportion of the patient's own group (WeightIt stabilize = TRUE)
#   Sturmer trimming q = 0.05: weight 0 when e < quantile(e[treated], .05) or e > quantile(e[control], .95) (type 7)
suppressPackageStartupMessages(library(MatchIt))
data("lalonde", package = "MatchIt")
fit <- glm(treat ~ age + educ + race + married + nodegree + re74 + re75, data = lalonde,
           family = binomial)
e <- fitted(fit); lp <- predict(fit, type = "link"); t <- lalonde$treat
ate <- ifelse(t == 1, 1 / e, 1 / (1 - e))
att <- ifelse(t == 1, 1, e / (1 - e))
ato <- ifelse(t == 1, 1 - e, e)
p1 <- mean(t)
ate_stab <- ate * ifelse(t == 1, p1, 1 - p1)
lo <- quantile(e[t == 1], 0.05, type = 7); hi <- quantile(e[t == 0], 0.95, type = 7)
ate_trim <- ifelse(e < lo | e > hi, 0, ate)
ate_bounds <- ifelse(e < 0.1 | e > 0.9, 0, ate)
# truncation = WeightIt's trim(w, at = q) (R/trim.R .trim_weights, lower = FALSE): weights above
# quantile(w[trimmable], q, type = 3) are set to it; trimmable = everyone for ATE, controls for ATT
trunc_w <- function(w, q, trimmable = rep(TRUE, length(w))) {
  cap <- quantile(w[trimmable], probs = q, type = 3); w[trimmable & w > cap] <- cap; w }
ate_stab_trunc99 <- trunc_w(ate_stab, 0.99)
ate_trunc95 <- trunc_w(ate, 0.95)
att_trunc90 <- trunc_w(att, 0.90, t == 0)
out <- data.frame(unit = rownames(lalonde), ps = e, logit_ps = lp, w_ate = ate, w_att = att,
                  w_ato = ato, w_ate_stabilized = ate_stab, w_ate_trim_q05 = ate_trim,
                  w_ate_trim_0.1_0.9 = ate_bounds, w_ate_stabilized_truncate_0.99 = ate_stab_trunc99,
                  w_ate_truncate_0.95 = ate_trunc95, w_att_truncate_0.9 = att_trunc90,
                  row.names = NULL, check.names = FALSE)
out[] <- lapply(out, function(v) if (is.numeric(v)) sprintf("%.17g", v) else v)
write.csv(out, "tests/data/r_golden_causal/glm_ps_weights.csv", row.names = FALSE)
coefs <- data.frame(term = names(coef(fit)), estimate = unname(coef(fit)))
write.csv(coefs, "tests/data/r_golden_causal/glm_ps_coefficients.csv", row.names = FALSE)
cat("written glm_ps_weights.csv\n")

# cobalt bal.tab conventions hand-coded (cobalt is not packaged for Debian): ATE IPTW weights,
# SD denominator pooled sqrt((s1^2 + s0^2)/2) from the unweighted sample (sample SD for continuous,
# sqrt(p(1-p)) for binary), binary = "raw" difference, weighted variance sum w(x-m)^2/(sum w - sum w^2/sum w),
# KS = max |weighted ECDF difference|, Kish ESS.
X <- data.frame(age = lalonde$age, educ = lalonde$educ, race_black = as.numeric(lalonde$race == "black"),
                race_hispan = as.numeric(lalonde$race == "hispan"), race_white = as.numeric(lalonde$race == "white"),
                married = lalonde$married, nodegree = lalonde$nodegree, re74 = lalonde$re74, re75 = lalonde$re75)
binary <- c(age = FALSE, educ = FALSE, race_black = TRUE, race_hispan = TRUE, race_white = TRUE,
            married = TRUE, nodegree = TRUE, re74 = FALSE, re75 = FALSE)
wm <- function(x, w) sum(w * x) / sum(w)
wv <- function(x, w) { m <- wm(x, w); sum(w * (x - m)^2) / (sum(w) - sum(w^2) / sum(w)) }
ks <- function(x, w, t) { u <- sort(unique(x))
  F1 <- sapply(u, function(v) sum(w[t == 1 & x <= v]) / sum(w[t == 1]))
  F0 <- sapply(u, function(v) sum(w[t == 0 & x <= v]) / sum(w[t == 0])); max(abs(F1 - F0)) }
rows <- lapply(names(X), function(v) { x <- X[[v]]; b <- binary[[v]]
  s1 <- if (b) mean(x[t == 1]) * (1 - mean(x[t == 1])) else var(x[t == 1])
  s0 <- if (b) mean(x[t == 0]) * (1 - mean(x[t == 0])) else var(x[t == 0])
  sdp <- sqrt((s1 + s0) / 2)
  m1 <- wm(x[t == 1], ate[t == 1]); m0 <- wm(x[t == 0], ate[t == 0])
  data.frame(variable = v, mean_treated = m1, mean_control = m0,
             diff = if (b) m1 - m0 else (m1 - m0) / sdp,
             smd_std = (m1 - m0) / sdp,
             var_ratio = if (b) NA else wv(x[t == 1], ate[t == 1]) / wv(x[t == 0], ate[t == 0]),
             ks = if (b) abs(m1 - m0) else ks(x, ate, t)) })
bal <- do.call(rbind, rows)
ess <- c(control = sum(ate[t == 0])^2 / sum(ate[t == 0]^2), treated = sum(ate[t == 1])^2 / sum(ate[t == 1]^2))
bal$ess_control <- ess[["control"]]; bal$ess_treated <- ess[["treated"]]
bal[] <- lapply(bal, function(v) if (is.numeric(v)) sprintf("%.17g", v) else v)
write.csv(bal, "tests/data/r_golden_causal/cobalt_hand_iptw_balance.csv", row.names = FALSE)
cat("written cobalt_hand_iptw_balance.csv\n")
