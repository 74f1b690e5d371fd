"""--shared-memory system: the regions a sweep's requests name in place of carrying their
tensors, laid out as perf_analyzer lays them out (infer_data_manager_shm.cc): one region per
input per request of data (`INPUT0_0_<step>`: stream 0, the request's first data step),
filled once, and one per output, sized for a batch, which the server writes every response
into (all requests share it, as in perf_analyzer: the outputs are not read back).

The regions are created and registered with the server before any load, and unregistered
and unlinked once the users have stopped: at the end of the sweep, on an error, on Ctrl-C
and on SIGTERM. Triton 2.51 refuses to unregister a region a request is still using, so a
request in flight when the users stopped is waited for. A process that exits without that
(an exception before the sweep starts) still releases them at exit; one that is killed
leaves them registered with the server, but not in /dev/shm (the standard library's
resource tracker unlinks what a dead process created). Names carry the process id and a
count, so that runs side by side, or one after another in a process, never meet; we
unregister only our own regions, where perf_analyzer unregisters every region of the
server, other runs' too.

The memory is POSIX shared memory through Python's multiprocessing.shared_memory: the same
shm_open, ftruncate and mmap that tritonclient's shared-memory utilities call, whose Python
module no longer imports with setuptools 81 or later (it imports pkg_resources)."""

from __future__ import annotations

import atexit
import itertools
import os
import sys
import threading
import time
from multiprocessing.shared_memory import SharedMemory

from triton_user.requests.control import ControlError, TritonControl
from triton_user.wire.tensor import Region

PREFIX = "triton_locust"
# Region sets made by this process: a second sweep's names differ from the first's.
_SETS = itertools.count()

DISTRIBUTED = (
    "--shared-memory: not with Locust workers (--processes, --master): each is a process of "
    "its own, perhaps on another machine, whose regions would have to be on the server's "
    "machine and released when the master ends it; run one process"
)


class SharedMemoryError(Exception):
    """A region cannot be made or registered: one line for the user."""


def process_prefix(pid: int | None = None) -> str:
    """The start of every region name of one process (a test looks for what is left)."""
    return f"{PREFIX}_{os.getpid() if pid is None else pid}_"


class SharedRegions:
    """One sweep's system shared-memory regions, registered through a control connection
    of their own (`control`, closed on release, which may come after the sweep's own)."""

    def __init__(self, control: TritonControl, in_use_wait_s: float = 30.0) -> None:
        """`in_use_wait_s`: how long release() waits for requests still using a region."""
        self._control = control
        self._in_use_wait_s = in_use_wait_s
        self.prefix = f"{process_prefix()}{next(_SETS)}_"
        self._segments: dict[str, SharedMemory] = {}
        self._registered: list[str] = []
        self._released = False  # no region is added once release has begun
        self._done = False
        # One release at a time; one cut short (its greenlet killed) is finished by the next,
        # or at exit.
        self._lock = threading.Lock()
        atexit.register(self._at_exit)

    @property
    def names(self) -> list[str]:
        """Our regions, by the names the server knows them by."""
        return list(self._segments)

    def add(self, name: str, byte_size: int, data: bytes = b"") -> Region:
        """A region of `byte_size` bytes holding `data`, registered with the server. Raises
        SharedMemoryError."""
        if self._released:
            raise SharedMemoryError("shared memory regions already released")
        # perf_analyzer's TensorToRegionName: a tensor's name without slashes.
        full = self.prefix + name.replace("/", "").replace("\\", "")
        try:
            # An empty tensor still needs a region to name; mmap takes no 0 bytes.
            segment = SharedMemory(full, create=True, size=max(byte_size, 1))
        except OSError as exc:
            raise SharedMemoryError(
                f"cannot create shared memory region /{full}: {exc.strerror or exc}"
            ) from None
        self._segments[full] = segment
        segment.buf[: len(data)] = data
        try:
            self._control.register_system_shared_memory(full, "/" + full, max(byte_size, 1))
        except ControlError as exc:
            raise SharedMemoryError(str(exc)) from None
        self._registered.append(full)
        return Region(full, byte_size)

    def read(self, region: Region, size: int | None = None) -> bytes:
        """`size` bytes of a region from its offset (all of it by default): what the server
        wrote there."""
        segment = self._segments[region.name]
        end = region.offset + (region.byte_size if size is None else size)
        return bytes(segment.buf[region.offset : end])

    def release(self) -> list[str]:
        """Unregister our regions from the server, then unmap and unlink them; once done, a
        second call does nothing. Never raises: returns one line per region it could not
        release."""
        problems = []
        with self._lock:
            if self._done:
                return []
            self._released = True
            while self._registered:
                problem = self._unregister(self._registered[0])
                self._registered.pop(0)  # only now: a release cut short tries it again
                if problem is not None:
                    problems.append(problem)
            while self._segments:
                name, segment = next(iter(self._segments.items()))
                try:
                    segment.unlink()
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    problems.append(f"shared memory region /{name} not removed: {exc}")
                try:
                    segment.close()
                except BufferError:  # a view of it still held: unmapped when the process ends
                    pass
                del self._segments[name]
            self._control.close()
            atexit.unregister(self._at_exit)
            self._done = True
        return problems

    def _unregister(self, name: str) -> str | None:
        deadline = time.monotonic() + self._in_use_wait_s
        while True:
            try:
                self._control.unregister_system_shared_memory(name)
                return None
            except ControlError as exc:
                # "Cannot unregister shared memory region 'X', it is currently in use."
                if "in use" not in str(exc) or time.monotonic() > deadline:
                    return f"shared memory region {name} may still be registered: {exc}"
            time.sleep(0.02)

    def _at_exit(self) -> None:
        for line in self.release():
            print(f"triton-locust: {line}", file=sys.stderr)
