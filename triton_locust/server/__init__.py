from triton_locust.server.launcher import (
    SAMPLE_MODELS,
    GrpcTls,
    ServerStartError,
    TritonServer,
    free_ports,
)

__all__ = ["SAMPLE_MODELS", "GrpcTls", "ServerStartError", "TritonServer", "free_ports"]
