"""A perf_analyzer-style concurrency sweep against Triton, the Locust way:

    locust -f locustfiles/triton_sweep.py --headless --model identity_fp32 \
        --triton-url localhost:8000 --protocol http --concurrency-range 1:4 \
        --measurement-interval 5000 --percentile 95 --results-csv perf.csv

without --headless for the web UI (its start form shows the same options), or with
--master --expect-workers N and, elsewhere, --worker --master-host HOST.
The locustfile itself ships in the package (triton_user/locustfile.py) so that
`triton-locust worker` finds it wherever triton-locust is installed."""

from triton_user.locustfile import ConcurrencySweepShape, TritonUser

__all__ = ["ConcurrencySweepShape", "TritonUser"]
