"""Whether this installation can serve a saved model, checked once when it is loaded, before any
request reaches it: the versions that trained it against those installed, and the packages its
features and blend need.

Versions: a different major version of automm or of a library that wrote model files (LightGBM's
text format, XGBoost's JSON, CatBoost's binary, torch's state dicts) is an error unless
`require_version_match=False`, since a file format may have changed with it; a different minor
version is a warning; a patch release is silent. (A leading 0 counts as semantic versioning's
unstable line: 0.1 to 0.2 is a major step.) A library recorded at save and not installed now is
not a version question: the model that needs it says what to install when it is read.
"""
from __future__ import annotations

import importlib.util
import re
import warnings
from importlib import metadata

from .features.backbones import TORCH_INSTALL

# the libraries recorded with a saved model (saved.py); those a model uses are compared at load
LIBRARIES = ("numpy", "pandas", "scipy", "scikit-learn", "lightgbm", "xgboost-cpu", "xgboost", "catboost", "torch",
             "transformers")
CORE = ("numpy", "pandas", "scipy", "scikit-learn", "lightgbm")  # the features and the linear model
# a model's `requires` (the module it imports) and the distributions whose files it reads
DISTRIBUTIONS = {"sklearn": ("scikit-learn",), "xgboost": ("xgboost", "xgboost-cpu"), "torch": ("torch", "transformers")}


class VersionMismatchError(RuntimeError):
    """A saved model was written by a major version of automm or of a library other than the installed one."""


def installed_versions(libraries=LIBRARIES) -> dict[str, str]:
    out = {}
    for lib in libraries:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            pass
    return out


def _release(version: str) -> tuple[tuple[int, ...], int]:
    """(the major line, the minor number); 0.x's line is 0.x itself (0.1.2 -> ((0, 1), 2)); local tags dropped."""
    parts = [int(x) for x in re.findall(r"\d+", str(version).split("+")[0])[:3]] + [0, 0, 0]
    return ((0, parts[1]), parts[2]) if parts[0] == 0 else ((parts[0],), parts[1])


def differences(recorded: dict[str, str], installed: dict[str, str]) -> tuple[list[str], list[str]]:
    """(major differences, minor differences) as 'name saved -> installed' lines, for the names in both."""
    major, minor = [], []
    for name, saved in sorted(recorded.items()):
        now = installed.get(name)
        if now is None or now == saved:
            continue
        a, b = _release(saved), _release(now)
        line = f"{name} {saved} -> {now}"
        if a[0] != b[0]:
            major.append(line)
        elif a[1] != b[1]:
            minor.append(line)
    return major, minor


def used_libraries(manifest: dict) -> set[str]:
    """The libraries a saved model reads files of or runs at predict: the core, each stored model's, and
    torch's when its features embed images or run the text backbone. torch installed beside a trees-only
    model is not its concern."""
    from .models.base import REGISTRY
    libs = set(CORE)
    for entry in manifest.get("models", []) + manifest.get("models_full", []):
        spec = REGISTRY.get(entry.get("kind"))
        if spec is not None:
            libs |= set(DISTRIBUTIONS.get(spec.requires, (spec.requires,)))
    emb = (manifest.get("features") or {}).get("embeddings") or {}
    if emb.get("images") or emb.get("text_tier") == "transformer":
        libs |= set(DISTRIBUTIONS["torch"])
    return libs


def check_versions(manifest: dict, path: str, automm_version: str, require_version_match: bool = True) -> None:
    used = used_libraries(manifest)
    recorded = {**{k: v for k, v in manifest.get("libraries", {}).items() if k in used},
                "automm": manifest.get("automm_version", automm_version)}
    major, minor = differences(recorded, {**installed_versions(), "automm": automm_version})
    if major and require_version_match:
        raise VersionMismatchError(
            f"{path!r} was saved with other major versions ({', '.join(major)}); its files may not read the "
            "same. Install the versions that saved it, refit, or pass require_version_match=False "
            "(--no-version-check on the command line) to load it anyway")
    if major or minor:
        warnings.warn(f"{path!r} was saved with other versions ({', '.join(major + minor)}); it loads, but check "
                      "its predictions (evaluate) before relying on them", stacklevel=3)


def check_requirements(manifest: dict) -> None:
    """The packages a saved model needs at predict, from its manifest: each model its blend uses (a stacker
    in the blend uses all of layer 1), and torch when its features embed images or run the text backbone.
    Found, not imported; an ImportError names what needs it and the extra to install."""
    from .models.base import REGISTRY, is_available
    entries = manifest.get("models", [])
    used = {n for n, w in (manifest.get("weights") or {}).items() if w > 0}
    if any(e["layer"] == 2 and e["name"] in used for e in entries):
        used |= {e["name"] for e in entries if e["layer"] == 1}
    for e in entries:
        if e["name"] in used and e.get("kind") in REGISTRY and not is_available(e["kind"]):
            spec = REGISTRY[e["kind"]]
            raise ImportError(f"this saved model's {e['name']} is a {e['kind']} model, which needs the {spec.requires} "
                              f"package: pip install '{spec.install}'")
    emb = (manifest.get("features") or {}).get("embeddings") or {}
    needs = [f"image column {c!r}" for c in emb.get("images") or []] + (
        ["the text backbone"] if emb.get("text_tier") == "transformer" else [])
    if needs and importlib.util.find_spec("torch") is None:
        raise ImportError(f"this saved model embeds {', '.join(needs)} with torch, which is not installed: "
                          f"{TORCH_INSTALL}")
