#!/bin/sh
# Renders the demo report (and a synthetic 32-layer report shaped like the paper's curves) and
# screenshots each page in headless Chromium; render_tool then checks that each PNG has the
# window's size and is not blank. Skips (exit 77) only when chromium is not installed.
#
#   screenshot_test.sh RENDER_TOOL DEMO_REPORT.json OUT_DIR
set -eu
tool=$1 demo=$2 out=$3
width=1400 height=2000

if ! command -v chromium >/dev/null 2>&1; then
  echo "SKIP: chromium is not installed (Debian package 'chromium', installed by scripts/setup.sh)"
  exit 77
fi

rm -rf "$out"
mkdir -p "$out"
"$tool" page "$demo" "$out/demo.html"
"$tool" report 24 32 18 27 "$out/synthetic-report.json"
"$tool" page "$out/synthetic-report.json" "$out/synthetic.html"
"$tool" summary 60 32 18 27 "$out/synthetic-summary.json"
"$tool" page "$out/synthetic-summary.json" "$out/summary.html"

status=0
for page in demo synthetic summary; do
  # A fresh profile per run: no first-run state, no lock held by another test or user.
  timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
    --no-first-run --user-data-dir="$out/profile-$page" --hide-scrollbars \
    --screenshot="$out/$page.png" --window-size=$width,$height "file://$out/$page.html" \
    >"$out/$page.chromium.log" 2>&1 || true
  if [ ! -s "$out/$page.png" ]; then
    echo "FAIL: chromium wrote no screenshot of $page.html; its log:"
    cat "$out/$page.chromium.log"
    status=1
    continue
  fi
  "$tool" png "$out/$page.png" $width $height || status=1
done
rm -rf "$out"/profile-*
exit $status
