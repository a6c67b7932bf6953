"""Benchmark runner; the same as `automm benchmark`. See automm/bench/runner.py.

    python benchmarks/run.py --systems automm-best,autogluon-medium,autogluon-best,baseline \
        --datasets available --seeds 0 --time-limits 300 --report benchmarks/results
"""
import sys

from automm.bench.runner import main

sys.exit(main())
