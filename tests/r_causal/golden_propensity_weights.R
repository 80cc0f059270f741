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
out <- data.frame(unit = rownames(lalonde), ps = e, logit_ps = lp, w_ate = ate, w_att = att,
                  w_ato = ato, w_ate_stabilized = ate_stab, w_ate_trim_q05 = ate_trim,
                  w_ate_trim_0.1_0.9 = ate_bounds, row.names = NULL, check.names = FALSE)
out[] <- lapply(out, function(v) if (is.numeric(v)) sprintf("%.17g", v) else v)
write.csv(out, "tests/data/r_golden_causal/glm_ps_weights.csv", row.names = FALSE)
coefs <- data.frame(term = names(coef(fit)), estimate = unname(coef(fit)))
write.csv(coefs, "tests/data/r_golden_causal/glm_ps_coefficients.csv", row.names = FALSE)
op <- options(digits = 17)
cat("written glm_ps_weights.csv\n")
