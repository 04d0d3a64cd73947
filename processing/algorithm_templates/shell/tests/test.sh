#!/bin/sh
# The algorithm under the task contract, with a STAC item on disk as input.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
src="$here/src"; [ -f "$src/algorithm.sh" ] || src="$here"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/item.json" <<'JSON'
{"type": "Feature", "stac_version": "1.1.0", "id": "example", "properties": {}, "links": [],
 "geometry": {"type": "Point", "coordinates": [10, 50]}, "assets": {}}
JSON
export STACWORKS_INPUT_ITEMS="[\"file://$tmp/item.json\"]" STACWORKS_INPUT_ASSETS='[{}]'
export STACWORKS_OUTPUT_DIR="$tmp/out" STACWORKS_PARAMETERS='{"label": "test"}'
sh "$src/algorithm.sh"
jq -e '.outputs == [{"path": "example_footprint.geojson", "asset": "footprint", "input": 0}]' \
  "$tmp/out/outputs.json" > /dev/null || { echo "FAIL: outputs.json"; exit 1; }
jq -e '.properties.label == "test" and .geometry.coordinates == [10, 50]' \
  "$tmp/out/example_footprint.geojson" > /dev/null || { echo "FAIL: footprint"; exit 1; }
STACWORKS_INPUT_ITEMS='[]' sh "$src/algorithm.sh" 2> /dev/null && { echo "FAIL: no input accepted"; exit 1; }
echo "ok: 2 tests passed"
