"""A perf_analyzer-style concurrency sweep against Triton, the Locust way:

    locust -f locustfiles/triton_sweep.py --headless --model identity_fp32 \
        --triton-url localhost:8000 --protocol http --concurrency-range 1:4 \
        --measurement-interval 5000 --percentile 95 --results-csv perf.csv

or without --headless for the web UI (its start form shows the same options)."""

from triton_user.options import register
from triton_user.shape import ConcurrencySweepShape
from triton_user.user import TritonUser

register()

__all__ = ["ConcurrencySweepShape", "TritonUser"]
