"""An ablation as Markdown: two systems side by side (by default the best preset with and without
the fusion nets and the text/image embeddings), and each model's test score in the runs with it.

    python benchmarks/run.py --systems automm-best,automm-best-noneural \
        --datasets imdb_genre_prediction,bookprice_prediction,women_clothing_review,pokemon_image_stats \
        --seeds 0 --time-limits 600 --results benchmarks/results/ablation.jsonl
    python benchmarks/report.py     # writes ablation.md and search.md (and the other pages) from the records
"""
from __future__ import annotations

import json
import sys

WITH, WITHOUT = "automm-best", "automm-best-noneural"


def render(path: str, without: str = WITHOUT, with_: str = WITH) -> str:
    """Two systems side by side from a results file, with the commits and the notes its records carry."""
    rows = [json.loads(line) for line in open(path) if line.strip()]
    runs = {(r["system"], r["dataset"]): r for r in rows if r.get("status") == "ok"}
    datasets = sorted({d for _, d in runs})
    commits = sorted({r["commit"] for r in runs.values() if r.get("commit")})
    out = [f"`python benchmarks/report.py` from `{path.rsplit('/', 1)[-1]}`; automm commits: "
           f"{', '.join(commits) or 'not recorded in these records (see the git log of the file)'}.", "",
           f"| dataset (metric) | {without} | {with_} | change | fit s (without / with) "
           "| predict rows/s (without / with) | peak MB (without / with) |", "|---|---|---|---|---|---|---|"]
    for d in datasets:
        a, b = runs.get((without, d)), runs.get((with_, d))
        if not (a and b):
            continue
        out.append(f"| {d} ({b['metric']}) | {a['score']:.4f} | {b['score']:.4f} | {b['score'] - a['score']:+.4f} "
                   f"| {a['fit_s']:.0f} / {b['fit_s']:.0f} | {a['predict_rows_per_s']:.0f} / "
                   f"{b['predict_rows_per_s']:.0f} | {a['peak_rss_mb']:.0f} / {b['peak_rss_mb']:.0f} |")
    out += ["", "Each model's score in the run's leaderboard (layer 1 = on the features, layer 2 = stacked), "
            "without -> with:", ""]
    for d in datasets:
        board, before = (runs.get((s, d), {}).get("leaderboard") or {} for s in (with_, without))
        if board:
            out.append(f"- {d}: " + ", ".join(f"{m} {before[m]:.4f} -> {s:.4f}" if m in before else f"{m} {s:.4f}"
                                             for m, s in board.items()))
    notes = sorted({f"- {r['system']}: {r['note']}" for r in runs.values() if r.get("note")})
    return "\n".join(out + (["", "Notes:", "", *notes] if notes else [])) + "\n"


def main(path: str, without: str = WITHOUT, with_: str = WITH) -> None:
    print(render(path, without, with_))


if __name__ == "__main__":
    main(*(sys.argv[1:] or ["benchmarks/results/ablation.jsonl"]))
