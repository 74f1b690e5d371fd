"""The Triton tab in Locust's web UI: the sweep live (level, windows, spread against -s), the
finished levels in perf_analyzer's columns, the throughput-latency curve with the
recommendation, the error of a Start refused, and this sweep's result files to download."""

from triton_user.web.app import install
from triton_user.web.tab import TritonTab
from triton_user.web.view import SweepView

__all__ = ["SweepView", "TritonTab", "install"]
