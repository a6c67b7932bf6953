"""Every published benchmark page again from its raw records, never edited by hand:

    python benchmarks/report.py [--data-dir DIR]

results.md and its plots (results.jsonl, with the paired bootstrap's test labels from the dataset
mirror), ablation.md (ablation.jsonl), search.md (search.jsonl), parallel.md (parallel.jsonl),
cpu_neural.md (cpu_neural.jsonl) and embed_speed.md (embed_speed.jsonl), all in benchmarks/results.
"""
import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))


def pages() -> dict[str, str]:
    """Each page but results.md (write_report makes it, with its plots), as its text."""
    import ablation
    import cpu_neural
    import embed_speed
    import parallel
    renders = {
        "ablation.md": ("# Ablation: the best preset without the neural half, and without the token net",
                        lambda: "## Without the neural half\n\n"
                        + ablation.render([RESULTS / "ablation.jsonl", RESULTS / "results.jsonl"], "automm-best",
                                          ["automm-best-noneural"], 300)
                        + "\n## Without the token net (best left it out after these runs)\n\n"
                        + ablation.render([RESULTS / "tokens-f95ddfa.jsonl"], "automm-best", ["automm-best-notokens"], 300)),
        "search.md": ("# Hyperparameter search: best against best_tuned at the same time limit",
                      lambda: ablation.render([RESULTS / "search.jsonl", RESULTS / "results.jsonl"], "automm-best",
                                              ["automm-best-tuned"], 300)),
        "parallel.md": (None, lambda: parallel.render(RESULTS / "parallel.jsonl")),
        "cpu_neural.md": ("# The multimodal half on a CPU (issue 13)\n\nHow each record was run is in "
                          "benchmarks/cpu_neural.py's docstring.", lambda: cpu_neural.report(RESULTS / "cpu_neural.jsonl")),
        "embed_speed.md": ("# Embedding throughput on this 2-core machine\n\nwomen_clothing_review's first 2,000 reviews "
                           "at 128 tokens, 2 threads, nothing cached; `python benchmarks/embed_speed.py --label ...` adds "
                           "a record.", lambda: embed_speed.report(RESULTS / "embed_speed.jsonl")),
    }
    return {name: (title + "\n\n" if title else "") + render().rstrip("\n") + "\n"
            for name, (title, render) in renders.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None, help="the dataset mirror (default: $AUTOMM_DATA_DIR, ../shared/datasets)")
    a = ap.parse_args()
    from automm.bench.report import write_report
    if (RESULTS / "results.jsonl").exists():
        print(write_report(RESULTS / "results.jsonl", RESULTS, a.data_dir))
    for name, text in pages().items():
        (RESULTS / name).write_text(text)
        print(RESULTS / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
