#!/usr/bin/env bash
# Create ./.venv and install fruit_ext with a working OpenMMLab stack.
# Idempotent: a second run with unchanged requirements only checks imports.
# Usage: bash tools/setup_env.sh     (PYTHON=python3.11 picks the interpreter)
set -euo pipefail

case "${1:-}" in -h|--help)  # print the comment block above
  sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; exit 0 ;;
esac
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
STAMP="$VENV/.fruit_ext_stamp"

# Debian's chromium for the browser tests of tools/demo and the data report
# (Playwright drives it; no browser download). Only where apt works as root.
if ! command -v chromium >/dev/null && command -v apt-get >/dev/null \
   && [ "$(id -u)" = 0 ]; then
  echo "[setup] installing Debian chromium (browser tests)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
    || echo "[setup] chromium not installed: browser tests will skip"
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PY="$VENV/bin/python"

# Filter the two harmless upstream warnings (pkg_resources, mmcv-lite ops)
# from interpreter start, so `mim` and the processes it starts are quiet too;
# the filters are defined once in fruit_ext/_upstream_warnings.py.
SITE="$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")"
"$PY" -c "import runpy; print(runpy.run_path('fruit_ext/_upstream_warnings.py')['pth_line'](), end='')" \
  > "$SITE/fruit_ext_upstream_warnings.pth"
PIP=("$PY" -m pip install --disable-pip-version-check -q)

want="$(cat requirements/*.txt setup.py | sha256sum | cut -c1-16)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] \
   && "$PY" -c "import fruit_ext, mim, pytest" 2>/dev/null; then
  echo "[setup] $VENV is up to date"
  exit 0
fi

echo "[setup] installing torch, mmengine, mmpretrain into $VENV (about 1-2 min)"
"${PIP[@]}" -r requirements/runtime.txt
# mmcv-lite only when no mmcv (full or lite) is present: never two copies.
"$PY" -c "import mmcv" 2>/dev/null || "${PIP[@]}" -r requirements/mminstall.txt
# openmim without its opendatalab chain (it pins setuptools~=60 and breaks torch).
"${PIP[@]}" --no-deps "$(grep -m1 '^openmim' requirements/mim.txt)"
"${PIP[@]}" $(grep -v '^#' requirements/mim.txt | grep -v '^openmim' | tr '\n' ' ')
"${PIP[@]}" -r requirements/tests.txt
# Extras [analysis] (mmpretrain's vis_cam, vis_tsne, mmpretrain2torchserve):
# grad-cam without its opencv-python-headless (a second cv2 beside opencv-python).
"${PIP[@]}" --no-deps "$(grep -m1 '^grad-cam' requirements/analysis.txt)"
"${PIP[@]}" $(grep -v '^#' requirements/analysis.txt | grep -v '^grad-cam' | tr '\n' ' ')
# Extras [data], [demo], [deploy]: duplicates/label issues, the web demo,
# OpenVINO.
"${PIP[@]}" -r requirements/data.txt -r requirements/demo.txt -r requirements/deploy.txt
"${PIP[@]}" --no-deps -e .
"$PY" -c "import fruit_ext, mim; print('[setup] fruit_ext', fruit_ext.__version__, 'ready')"
echo "$want" > "$STAMP"
