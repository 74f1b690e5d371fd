"""Reports: one summary model (summary.py) fed by our JSON or any perf_analyzer CSV, pure
recommendation and comparison, and one module per output (html, png, json_out, text)."""
