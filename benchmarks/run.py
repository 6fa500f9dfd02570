"""The benchmark suite's entry point (the runner is :mod:`losslab.cli._bench`, cases in cases/).

    python benchmarks/run.py [--quick] [--cases PATTERN ...] [--out benchmarks/results]

Same as ``losslab bench``. Writes <out>/bench.json and <out>/bench.md: time and extra peak memory
of every case's variants, with ratios against the baseline measured in the same run.
``benchmarks/bench_lab.py`` (lab.json / lab.md) still runs on its own; its functions are the
suite's ``lab_batched_32``, ``lab_batched_128`` and ``compare_default`` cases.
"""

from __future__ import annotations

import sys
from pathlib import Path

from losslab.cli._bench import main

if __name__ == "__main__":
    sys.exit(main(bench_dir=Path(__file__).resolve().parent))
