"""Markdown table and plots from a results file: python benchmarks/report.py RESULTS.jsonl --out DIR"""
import sys

from automm.bench.report import main

sys.exit(main())
