#!/usr/bin/env bash
# Builds the CNNGPU library's API documentation with the toolchain's DocC: the catalogue in
# Sources/CNNGPU/CNNGPU.docc (landing page, getting-started article) and the doc comments of
# every public symbol.
#
#   scripts/docs.sh    then: python3 -m http.server -d .build/docs/CNNGPU.doccarchive
#                      and open http://localhost:8000/documentation/cnngpu
#
# Writes .build/docs/CNNGPU.doccarchive, a static site (also opened by Xcode). Fails if DocC
# reports a warning (a broken symbol link, say).
# No package plugin: the symbol graphs come from SwiftPM and the pages from `docc`, both part
# of the toolchain, so the package gains no dependency.
set -euo pipefail
cd "$(dirname "$0")/.."
# The same library flags as scripts/test.sh, so an existing debug build is reused.
export CNNGPU_OPTIMIZE_DEBUG="${CNNGPU_OPTIMIZE_DEBUG:-1}"

docc=$(command -v docc || true)
[ -n "$docc" ] || docc="$(dirname "$(readlink -f "$(command -v swift)")")/docc"
[ -x "$docc" ] || { echo "docs: docc is not on PATH nor beside swift; it comes with Swift 5.8 or later" >&2; exit 1; }

out=.build/docs
rm -rf "$out"
mkdir -p "$out/symbol-graphs"

# Builds the package (debug) and extracts the public symbols of every module; only the
# library's are documented. It also tries the test modules, which it does not build, and then
# exits non-zero on a fresh clone: what is checked is that the library's graph was written.
dump=$(swift package dump-symbol-graph --minimum-access-level public 2>&1) || true
graphs=$(echo "$dump" | sed -nE 's/^Files written to (.*)$/\1/p' | tail -1)
if [ -z "$graphs" ] || [ ! -f "$graphs/CNNGPU.symbols.json" ]; then
    echo "$dump" >&2
    echo "docs: swift package dump-symbol-graph wrote no symbol graph for CNNGPU (its output is above)" >&2
    exit 1
fi
# Extensions of other modules' types, if any, come in CNNGPU@OtherModule files.
cp "$graphs"/CNNGPU.symbols.json "$out/symbol-graphs/"
cp "$graphs"/CNNGPU@*.symbols.json "$out/symbol-graphs/" 2>/dev/null || true

"$docc" convert Sources/CNNGPU/CNNGPU.docc \
    --additional-symbol-graph-dir "$out/symbol-graphs" \
    --fallback-display-name CNNGPU --fallback-bundle-identifier cnn-gpu.CNNGPU \
    --output-path "$out/CNNGPU.doccarchive" --warnings-as-errors
echo "docs: wrote $out/CNNGPU.doccarchive; python3 -m http.server -d $out/CNNGPU.doccarchive, then open /documentation/cnngpu"
