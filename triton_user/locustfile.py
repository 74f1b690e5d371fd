"""The locustfile of a triton-locust sweep (see locustfiles/triton_sweep.py for its use)."""

from triton_user.options import register
from triton_user.shape import ConcurrencySweepShape
from triton_user.user import TritonUser

register()

__all__ = ["ConcurrencySweepShape", "TritonUser"]
