# Stage 7: the Snakemake report.
#   snakemake --report results/report.zip [--configfile ...]
# Tables and figures are flagged with report() in their rules; captions live in report/.


report: "../../report/workflow.rst"
