"""Where and how a run executes: device, threads, random streams, and the clock per section."""

import platform
import resource
import time
import zlib
from importlib.metadata import version

import numpy as np
import torch

PACKAGES = ["torch", "numpy", "scikit-learn", "pandas", "matplotlib", "seaborn", "papermill", "nbconvert"]


def resolve_device(name):
    """``auto`` picks CUDA when present, else CPU; asking for CUDA without it is an error."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device is 'cuda' but PyTorch sees no CUDA GPU here; use device: auto or cpu")
    return torch.device(name)


def configure(threads):
    """Fix PyTorch's CPU thread count: CPU results depend on it, and are otherwise the same run after run."""
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
