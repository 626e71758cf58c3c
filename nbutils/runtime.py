"""Where and how a run executes: device, threads, random streams, and the clock per section."""

import os
import pickle
import platform
import resource
import signal
import sys
import time
import traceback
import zlib
from importlib.metadata import version

import numpy as np
import torch

from nbutils import cost

PACKAGES = ["torch", "numpy", "scikit-learn", "pandas", "matplotlib", "seaborn", "papermill", "nbconvert"]


def resolve_device(name):
    """``auto`` picks CUDA when present, else CPU; asking for CUDA without it is an error."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device is 'cuda' but PyTorch sees no CUDA GPU here; use device: auto or cpu")
    return torch.device(name)


def configure(threads):
    """Fix PyTorch's CPU thread count: CPU results depend on it, and are otherwise the same run after run.
    It is also how many processes :func:`fork_map` runs side by side."""
    torch.set_num_threads(threads)


def generator(device, seed, *stream):
    """A torch.Generator for one named random stream, independent of every other stream."""
    words = [seed, *(zlib.crc32(s.encode()) if isinstance(s, str) else s for s in stream)]
    state = np.random.SeedSequence(words).generate_state(2, dtype=np.uint64)[0]
    return torch.Generator(device).manual_seed(int(state) >> 1)


def substream(generator, name):
    """A generator independent of ``generator``, derived from its seed without drawing from it: a method can
    draw its own noise and leave ``generator`` where a control that draws no noise would find it."""
    return torch.Generator(generator.device).manual_seed(
        int(np.random.SeedSequence([generator.initial_seed(), zlib.crc32(name.encode())]).generate_state(2, dtype=np.uint64)[0]) >> 1)


def streams(source, *names):
    """Independent generators, one per name, all derived from one draw of the generator ``source``."""
    seed = int(torch.randint(0, 2**62, (1,), generator=source, device=source.device))
    return [generator(source.device, seed, name) for name in names]


def workers_for(n_items, device):
    """Processes :func:`fork_map` may use for ``n_items`` items on ``device``: torch's thread count on CPU under
    Linux (1 in a worker), 1 elsewhere (macOS's system libraries are not safe to fork, Windows cannot)."""
    if device.type != "cpu" or sys.platform != "linux":
        return 1
    return max(1, min(torch.get_num_threads(), n_items))


def fork_map(fn, items, workers):
    """``[fn(item) for item in items]`` on ``workers`` cores: this process and forked ones, one torch thread each.

    Python threads do not keep two cores busy on these small tensor operations (each op takes the GIL and hands
    it over, ``benchmarks/README.md``); processes do. Forked, they share this one's tensors copy-on-write, so
    ``fn`` may be a closure over anything: only its results travel back (pickled). Items are dealt out in turn,
    the first to this process; a worker's error is raised here with its traceback.
    """
    items, children = list(items), []
    workers = max(1, min(workers, len(items)))
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # OpenMP threads on ops this small wait on each other (benchmarks/README.md)
    try:
        children = [_fork(fn, items[w::workers]) for w in range(1, workers)]
        shares = [[fn(item) for item in items[::workers]]]
        while children:
            shares.append(_collect(*children.pop(0)))
    finally:
        torch.set_num_threads(before)
        for pid, read in children:  # this process failed or was interrupted: stop the others
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(read)
    ordered = [None] * len(items)
    for w, share in enumerate(shares):
        ordered[w::workers] = share
    return ordered


def _fork(fn, share):
    """Start a worker process on ``share``: (its pid, the pipe its pickled results come through)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write)
        return pid, read
    os.close(read)  # the worker: never returns, never touches the parent's files or sockets
    code, start = 0, cost.total()
    try:
        payload = pickle.dumps((True, ([fn(item) for item in share], cost.total() - start)))
    except BaseException:  # noqa: BLE001 -- everything goes back to the parent
        payload, code = pickle.dumps((False, traceback.format_exc())), 1
    with os.fdopen(write, "wb") as pipe:
        pipe.write(payload)
    os._exit(code)


def _collect(pid, read):
    """A worker's results, once it has finished; its error, raised here."""
    with os.fdopen(read, "rb") as pipe:
        payload = pipe.read()
    os.waitpid(pid, 0)
    if not payload:
        raise RuntimeError(f"worker process {pid} died without a result (killed, or out of memory?)")
    ok, result = pickle.loads(payload)
    if not ok:
        raise RuntimeError(f"in worker process {pid}:\n{result}")
    results, macs = result
    cost.add(macs)  # the worker's work counts as this process's
    return results


def environment(device):
    """Library versions, the machine and the kernel's peak memory so far (resident set size), for metrics.json."""
    info = {name: version(name) for name in PACKAGES}
    info.update(python=platform.python_version(), platform=platform.platform(), device=str(device),
                threads=torch.get_num_threads(),
                peak_memory_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))  # kernel, so far
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["peak_gpu_memory_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20)
    return info


class SectionClock:
    """Seconds spent in each section: call ``start(name)`` at the top of each one."""

    def __init__(self):
        self.seconds, self._current, self._since = {}, None, None

    def start(self, name):
        self.stop()
        self._current, self._since = name, time.perf_counter()

    def stop(self):
        if self._current is not None:
            self.seconds[self._current] = self.seconds.get(self._current, 0) + time.perf_counter() - self._since
            self._current = None
        return self.seconds
