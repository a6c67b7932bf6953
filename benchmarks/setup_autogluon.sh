#!/usr/bin/env bash
# AutoGluon 1.6.3, the baseline, in its own virtual environment: it needs torch<2.14 and
# torchvision<0.29 and must never become a dependency of automm. torch==2.13.0 is the CPU wheel.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${1:-$here/.venv-autogluon}"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q ${PIP_FIND_LINKS:+--find-links "$PIP_FIND_LINKS"} "torch==2.13.0"
"$venv/bin/python" -m pip install -q ${PIP_FIND_LINKS:+--find-links "$PIP_FIND_LINKS"} "autogluon.tabular[all]==1.6.3" "torch==2.13.0"
"$venv/bin/python" -c "import autogluon.tabular, torch; print('autogluon', autogluon.tabular.__version__, 'torch', torch.__version__)"
echo "AutoGluon environment ready: $venv (the runner finds it there, or set AUTOMM_AG_PYTHON)"
