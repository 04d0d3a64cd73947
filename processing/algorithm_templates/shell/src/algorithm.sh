#!/bin/sh
# The example algorithm: each input item's footprint as a GeoJSON feature. Replace the loop's
# body with your own; keep the contract calls.
set -eu
. "$(dirname "$0")/stacworks_task.sh"

count=$(task_input_count)
[ "$count" -gt 0 ] || task_fail "no input items"
label=$(task_param label footprint)
out=$(task_output_dir)
i=0
while [ "$i" -lt "$count" ]; do
  item=$(task_input_item "$i")
  id=$(printf '%s' "$item" | jq -r '.id')
  printf '%s' "$item" | jq --arg text "$label" \
    '{type: "Feature", geometry: .geometry, properties: {id: .id, "label": $text}}' \
    > "$out/${id}_footprint.geojson"
  task_add_output "${id}_footprint.geojson" footprint "$i"
  echo "$id: footprint written"
  i=$((i + 1))
done
task_write_outputs
