import os

# grpc's C core prints log lines of its own on stderr (a refused certificate, a failed
# handshake: "E1126 ... ssl_transport_security.cc ... Handshake failed"), read once when grpc
# is first imported, and only below us (the wire and the control plane import tritonclient).
# Every gRPC failure reaches us as an exception and is said in one line; those lines would
# break that. A GRPC_VERBOSITY the user sets, to debug grpc, wins.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")
