"""What the model's configuration (as the server gives it, kept in results) decides about
the output, as perf_analyzer's ModelParser reads it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def is_decoupled(model_config: Mapping[str, Any]) -> bool:
    """A decoupled model (model_transaction_policy.decoupled): perf_analyzer then reports
    its Response Throughput and leaves out the client library's figures."""
    policy = model_config.get("model_transaction_policy") or {}
    return bool(policy.get("decoupled", False))
