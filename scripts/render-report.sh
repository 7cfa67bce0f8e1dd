#!/usr/bin/env bash
# render-report.sh: a report's HTML as a browser draws it, to look at the tables and SVG plots:
#   bash scripts/render-report.sh runs/matrix/report.html [out.png] [width] [height]
# Needs chromium: `bash scripts/deps.sh render` installs it (plain `deps.sh` leaves it out: it is only for looking).
set -euo pipefail
html=${1:?usage: render-report.sh REPORT.html [OUT.png] [WIDTH] [HEIGHT]}
png=${2:-${html%.html}.png}
width=${3:-1400}
height=${4:-2000}
[ -f "$html" ] || { echo "render-report.sh: $html: no such file" >&2; exit 1; }
command -v chromium >/dev/null || { echo "render-report.sh: chromium is not installed (bash scripts/deps.sh render)" >&2; exit 1; }
url="file://$(cd "$(dirname "$html")" && pwd)/$(basename "$html")"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --screenshot="$png" --window-size="$width,$height" "$url" \
    >/dev/null 2>&1
[ -s "$png" ] || { echo "render-report.sh: chromium wrote no $png" >&2; exit 1; }
echo "$png"
