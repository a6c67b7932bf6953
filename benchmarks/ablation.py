"""An ablation as Markdown: automm's best preset beside variants of it at the same time limit and seed
(the fusion nets and embeddings left out, the token net left out, the Optuna search added), and each
model's score in each run.

    automm benchmark --systems automm-best-noneural --time-limits 300 --results benchmarks/results/ablation.jsonl
    automm benchmark --systems automm-best-tuned --time-limits 300 --results benchmarks/results/search.jsonl
    python benchmarks/report.py     # writes ablation.md and search.md (and the other pages) from the records

automm-best itself is not run again: its records are the suite's (results.jsonl), same seed, same limit.
The token net's ablation (tokens-f95ddfa.jsonl) was run at f95ddfa, when best still had the net, with
automm-best-notokens = best with excluded_model_types=["fusion_tokens"]; best has left it out since.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path


def records(paths, time_limit: float, seed: int = 0) -> dict:
    """(system, dataset) -> the last successful record at this time limit and seed in `paths`, in order."""
    runs = {}
    for path in map(Path, paths):
        for line in (path.read_text().splitlines() if path.exists() else []):
            r = json.loads(line) if line.strip() else {}
            if r.get("status") == "ok" and float(r["time_limit"]) == time_limit and r.get("seed", 0) == seed:
                runs[(r["system"], r["dataset"])] = {**r, "_folder": path.parent}
    return runs


def leaderboard(r: dict) -> dict:
    """A run's validation score per model, from its run folder."""
    path = r["_folder"] / r.get("run_dir", "-") / "leaderboard.csv"
    if not path.exists():
        return {}
    with open(path) as f:
        return {row["model"]: float(row["score_val"]) for row in csv.DictReader(f)}


def render(paths, base: str, variants: list[str], time_limit: float, seed: int = 0) -> str:
    runs, systems = records(paths, time_limit, seed), [base, *variants]
    datasets = sorted({d for s, d in runs if s in systems[1:]})
    if not datasets:
        return (f"No run of {', '.join(variants)} at {time_limit:.0f} s on the current code yet (the records of older "
                f"code are kept beside {', '.join(f'`{Path(p).name}`' for p in paths[:1])}, named by their commit).\n")
    commits = {s: sorted({r.get("commit") or "not recorded" for (s2, _), r in runs.items() if s2 == s}) for s in systems}
    sources = ", ".join(f"`{Path(p).name}`" for p in paths)
    per = " / ".join(systems)
    out = [f"`python benchmarks/report.py` from {sources}: seed {seed}, time limit {time_limit:.0f} s. automm commits: "
           + "; ".join(f"{s} {', '.join(c) or '(no run)'}" for s, c in commits.items()) + ".", "",
           f"| dataset (metric) | {' | '.join(systems)} | fit s ({per}) | predict rows/s | peak MB |",
           "|---|" + "---|" * (len(systems) + 3)]
    for d in datasets:
        rs = [runs.get((s, d)) for s in systems]
        if rs[0] is None:
            continue
        cells = [f"{rs[0]['score']:.4f}"] + [f"{r['score']:.4f} ({r['score'] - rs[0]['score']:+.4f})" if r else "not run"
                                             for r in rs[1:]]
        cols = [" / ".join(f"{r[k]:.0f}" if r else "-" for r in rs) for k in ("fit_s", "predict_rows_per_s", "peak_rss_mb")]
        out.append(f"| {d} ({rs[0]['metric']}) | {' | '.join(cells)} | {' | '.join(cols)} |")
    out += ["", "Each model's validation score in its run's leaderboard (layer 1 = on the features, layer 2 = stacked), "
                f"{' -> '.join(systems)}:", ""]
    for d in datasets:
        boards = [leaderboard(runs[(s, d)]) if (s, d) in runs else {} for s in systems]
        names = sorted({m for b in boards for m in b}, key=lambda m: (-max(b.get(m, -1e9) for b in boards), m))
        if names:
            out.append(f"- {d}: " + ", ".join(f"{m} " + " -> ".join(f"{b[m]:.4f}" if m in b else "-" for b in boards)
                                             for m in names))
    notes = sorted({f"- {r['system']}: {r['note']}" for (s, _), r in runs.items() if s in systems and r.get("note")})
    return "\n".join(out + (["", "Notes:", "", *notes] if notes else [])) + "\n"
