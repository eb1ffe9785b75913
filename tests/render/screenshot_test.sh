#!/bin/sh
# Renders the demo report, a tiny-model report with every position and the attention shares
# (--positions all: the image patch grid and the attention chart), and synthetic 32-layer reports shaped like the paper's curves, with
# m = c + 1, with m = L and an hf final-norm step, and with no knee at all) and
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
"$tool" page "$(dirname "$demo")/image-report.json" "$out/image.html"
"$tool" report 24 32 18 27 "$out/synthetic-report.json"
"$tool" page "$out/synthetic-report.json" "$out/synthetic.html"
"$tool" report2 24 32 18 19 "$out/adjacent.json"      # m = c + 1
"$tool" page "$out/adjacent.json" "$out/adjacent.html" 0
"$tool" report2 24 32 18 32 "$out/final.json"         # m = L and the hf final-norm step
"$tool" page "$out/final.json" "$out/final.html" 1
"$tool" report2 24 32 -1 -1 "$out/undetermined.json"  # no knee: no bands anywhere
"$tool" page "$out/undetermined.json" "$out/undetermined.html"
"$tool" summary 60 32 18 27 "$out/synthetic-summary.json"
"$tool" page "$out/synthetic-summary.json" "$out/summary.html"

status=0
for page in demo image synthetic adjacent final undetermined summary; do
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
