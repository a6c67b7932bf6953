"""benchmarks/results/deployment.md from the records of serve_load.py, torch_free.py and embed_cache.py.

    python benchmarks/deployment_report.py

For each measured thing the newest record counts (an earlier one of the same setting is kept in the
.jsonl as it was, superseded).
"""
from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def records(name: str) -> list[dict]:
    path = RESULTS / name
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def latest(rows: list[dict], key) -> dict:
    out = {}
    for r in rows:
        out[key(r)] = r
    return out


def serving() -> list[str]:
    lines = ["## automm serve under load", "",
             "`python benchmarks/serve_load.py --model M --dataset D --requests 2000 --requests-100 200 "
             "--concurrency 8 --workers 2` on 2 cores; every answer compared with the model's own predict.", "",
             "| dataset | model | commit | start-up | memory after start / after load | rows | requests | errors "
             "| p50 | p99 | requests/s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in latest(records("serve.jsonl"), lambda r: (r["dataset"], Path(r["model"]).name)).values():
        for rows in ("rows_1", "rows_100"):
            x = r[rows]
            lines.append(f"| {r['dataset']} | {Path(r['model']).name} ({len(r['models_in_blend'])} models in the blend) "
                         f"| {r['commit']} | {r['startup_s']} s | {r['rss_mb_after_start']:.0f} / "
                         f"{r['rss_mb_after_load']:.0f} MB | {rows[5:]} | {x['requests']} | {x['errors']} "
                         f"| {x['p50_ms']:.0f} ms | {x['p99_ms']:.0f} ms | {x['requests_per_s']} |")
    return lines + ["", "Memory is the server's whole process tree (the supervisor and its two workers). Latency "
                        "includes the wait in the queue: 8 clients share 2 workers that predict one request at a "
                        "time each. SIGTERM after the load: exit status "
                        + ", ".join(str(r["exit_status_after_sigterm"]) for r in records("serve.jsonl")[-2:]) + "."]


def torch_free() -> list[str]:
    rows = records("torch_free.jsonl")
    if not rows:
        return []
    r = rows[-1]
    lines = ["## A trees-only model on the core install, torch absent", "",
             "`python benchmarks/torch_free.py --dataset imdb_genre_prediction --time-limit 120` "
             f"(commit {r['commit']}; blend {', '.join(r['models_in_blend'])}, text tier {r['text_tier']}); "
             f"the core venv took {r['core_install_s']} s to install and holds {r['core_venv_mb']} MB.", "",
             "| install | torch installed | torch imported | import automm | load | predict 100 rows | peak memory "
             "| whole process |", "|---|---|---|---|---|---|---|---|"]
    for name in ("core", "full"):
        x = r[name]
        lines.append(f"| {name} | {x['torch_installed']} | {x['torch_imported']} | {x['import_s']} s | {x['load_s']} s "
                     f"| {x['predict_s']} s | {x['peak_rss_mb']:.0f} MB | {x['process_s']} s |")
    return lines + ["", f"The same predictions in both: {r['same_predictions']}."]


def cache() -> list[str]:
    by_source: dict[str, dict] = {}
    for r in records("embed_cache.jsonl"):  # per automm measured, the newest value of each field
        by_source.setdefault("before (.npz per setting)" if "before" in r["automm_from"] else "after (SQLite)",
                             {}).update(r)
    lines = ["## The embedding cache", "", "`python benchmarks/embed_cache.py` (after) and, for before, "
             "`PYTHONPATH=<a worktree of 89f146d> python benchmarks/embed_cache.py` (see its docstring).", "",
             "| cache | commit | embed 10,000 cached rows | add 100 rows to 10,000 | two concurrent fits: entries "
             "kept / expected | two writers of 20 calls at once: kept / expected |", "|---|---|---|---|---|---|"]
    for name, r in sorted(by_source.items(), reverse=True):
        i = r.get("interleaved", {})
        lines.append(f"| {name} | {r['commit']} | {r.get('embed_cached_s')} s | {r.get('add_100_to_10000_s')} s "
                     f"| {r.get('entries_after_two_concurrent_fits')} / {r.get('entries_expected')} "
                     f"| {i.get('entries_present')} / {i.get('entries_expected')} |")
    return lines + ["", "Earlier records of the before side measured fits whose child processes imported the clone's "
                        "automm (python -c puts the current folder first on sys.path); they are superseded by the "
                        "records after that fix, whose children start in a folder of their own."]


def main() -> int:
    text = "\n".join(["# Deployment figures", "", "Made by `benchmarks/deployment_report.py` from serve.jsonl, "
                      "torch_free.jsonl and embed_cache.jsonl.", "", *serving(), "", *torch_free(), "", *cache(), ""])
    (RESULTS / "deployment.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
