# Golden values for latc.omics.sc pseudobulk DE (pydeseq2) against R's DESeq2.
#
# Run from the repository root:   Rscript tests/r/deseq2_pseudobulk_goldens.R
# Produced with R 4.2.2 + DESeq2 1.38.3 (Debian r-bioc-deseq2 1.38.3+dfsg-1). Reads the pseudobulk
# counts and sample tables in tests/data/r_golden_deseq2/ (written from the synthetic scRNA-seq by
# latc.omics.sc._pseudobulk._prepare: seed 11, 10 patients, tumour) and writes <fit>_results.csv
# and calls.json (the R call of each fit).
#   cd8_response      ~ response, DESeq(fitType = "parametric")     (pydeseq2: own parametric trend)
#   thyrocyte_paired  ~ patient_id + timepoint, fitType = "mean"     (pydeseq2: mean fallback)
#   nk_paired         ~ patient_id + timepoint, thin (2 residual df): the pooled trend of fits.json
#                     set with dispersionFunction(dds) <- ..., then estimateDispersionsMAP and the
#                     Wald test (DESeq2's documented route for a custom trend; latc "shared_parametric")
suppressPackageStartupMessages({
  library(DESeq2)
  library(jsonlite)
})
dir <- "tests/data/r_golden_deseq2"
fits <- fromJSON(file.path(dir, "fits.json"))
read_fit <- function(name) {
  counts <- as.matrix(read.csv(file.path(dir, paste0(name, "_counts.csv")), row.names = 1, check.names = FALSE))
  cd <- read.csv(file.path(dir, paste0(name, "_coldata.csv")), row.names = 1)
  list(counts = counts[, rownames(cd)], cd = cd)
}
write_res <- function(res, name) {
  out <- data.frame(gene = rownames(res), baseMean = res$baseMean, log2FoldChange = res$log2FoldChange,
                    lfcSE = res$lfcSE, stat = res$stat, pvalue = res$pvalue, padj = res$padj)
  write.csv(out, file.path(dir, paste0(name, "_results.csv")), row.names = FALSE, na = "")
}
calls <- list()
results_call <- function(contrast) {
  paste0("results(dds, contrast = c('", paste(contrast, collapse = "', '"), "'), alpha = 0.05)")
}
# One DESeq() fit with the given design and trend; writes <name>_results.csv, returns the R call.
fit_deseq <- function(name, design, factors, contrast, fit_type) {
  x <- read_fit(name)
  for (f in names(factors)) {
    x$cd[[f]] <- if (is.null(factors[[f]])) factor(x$cd[[f]]) else factor(x$cd[[f]], levels = factors[[f]])
  }
  dds <- DESeq(DESeqDataSetFromMatrix(x$counts, x$cd, design), fitType = fit_type, quiet = TRUE)
  write_res(results(dds, contrast = contrast, alpha = 0.05), name)
  paste0("DESeq(DESeqDataSetFromMatrix(counts, coldata, ", deparse(design), "), fitType = '", fit_type, "'); ",
         results_call(contrast))
}
paired <- list(patient_id = NULL, timepoint = c("baseline", "surgery"))
surgery <- c("timepoint", "surgery", "baseline")

calls$cd8_response <- fit_deseq("cd8_response", ~ response, list(response = c("non_responder", "responder")),
                                c("response", "responder", "non_responder"), "parametric")
calls$thyrocyte_paired <- fit_deseq("thyrocyte_paired", ~ patient_id + timepoint, paired, surgery, "mean")

x <- read_fit("nk_paired")
x$cd$patient_id <- factor(x$cd$patient_id)
x$cd$timepoint <- factor(x$cd$timepoint, levels = paired$timepoint)
tr <- fits$nk_paired$shared_trend
dds <- DESeqDataSetFromMatrix(x$counts, x$cd, ~ patient_id + timepoint)
dds <- estimateSizeFactors(dds)
dds <- estimateDispersionsGeneEst(dds, quiet = TRUE)
a0 <- tr$a0; a1 <- tr$a1
dispersionFunction(dds) <- function(mu) a0 + a1 / mu
dds <- estimateDispersionsMAP(dds, quiet = TRUE)
dds <- nbinomWaldTest(dds, quiet = TRUE)
write_res(results(dds, contrast = surgery, alpha = 0.05), "nk_paired")
calls$nk_paired <- paste("estimateSizeFactors; estimateDispersionsGeneEst;",
                         "dispersionFunction(dds) <- function(mu) a0 + a1 / mu  (fits.json shared_trend);",
                         "estimateDispersionsMAP; nbinomWaldTest;", results_call(surgery))
calls$versions <- paste(R.version.string, "DESeq2", as.character(packageVersion("DESeq2")))
write_json(calls, file.path(dir, "calls.json"), auto_unbox = TRUE, pretty = TRUE)
