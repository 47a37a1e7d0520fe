"""minirl.memory.PeakMemory on a CPU: each phase's peak, and the process's high-water mark left intact for
``/usr/bin/time -v``."""

from __future__ import annotations

import mmap
import time
from pathlib import Path

import pytest

from minirl.memory import PeakMemory, _status_kib

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")

MIB = 2**20


def touch(size_mib: int) -> mmap.mmap:
    """An anonymous mapping of ``size_mib`` MiB with every page written (so it is resident)."""
    block = mmap.mmap(-1, size_mib * MIB)
    for offset in range(0, len(block), 4096):
        block[offset] = 1
    return block


def test_a_phase_that_raises_the_peak_records_it_and_later_phases_do_not_reset_it():
    peaks = PeakMemory("cpu")
    with peaks.phase("big"):
        block = touch(300)
        block.close()
    hwm = _status_kib("VmHWM")
    with peaks.phase("small"):
        pass
    assert _status_kib("VmHWM") >= hwm  # never reset: /usr/bin/time -v still sees the whole command's peak
    assert peaks.gib["big"] >= hwm / MIB - 0.01  # the phase that set the high-water mark gets it exactly
    assert peaks.gib["small"] < peaks.gib["big"] - 0.2  # the 300 MiB were freed before it
    assert peaks.metrics()["memory/peak_gib"] == peaks.gib["big"]


def test_a_phase_below_an_earlier_peak_gets_its_sampled_peak():
    peaks = PeakMemory("cpu", interval_s=0.002)
    with peaks.phase("first"):
        block = touch(400)
        block.close()
    with peaks.phase("second"):
        block = touch(150)
        time.sleep(0.05)  # longer than the sampling interval
        block.close()
    with peaks.phase("third"):
        pass
    assert peaks.gib["second"] > peaks.gib["third"] + 0.1  # the 150 MiB it held were seen
    assert peaks.gib["second"] < peaks.gib["first"]
