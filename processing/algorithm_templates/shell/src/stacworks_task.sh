# The stacworks task contract for POSIX sh (needs jq). Source it: . "$(dirname "$0")/stacworks_task.sh"
# Inputs come from STACWORKS_* variables; answer with files in "$(task_output_dir)" described by
# outputs.json (task_add_output, then task_write_outputs); a non-zero exit fails the task.

task_input_count() { printf '%s' "${STACWORKS_INPUT_ITEMS:-[]}" | jq 'length'; }

# task_input_item N: the STAC item JSON of input N (a local snapshot or an http(s) URL).
task_input_item() {
  url=$(printf '%s' "${STACWORKS_INPUT_ITEMS:-[]}" | jq -r ".[$1]")
  case "$url" in
    file://*) cat "$(printf '%s' "${url#file://}" | sed 's/%20/ /g')" ;;
    http://*|https://*) curl -fsSL "$url" ;;
    *) cat "$url" ;;
  esac
}

# task_input_asset N KEY: a path GDAL opens for asset KEY of input N.
task_input_asset() { printf '%s' "${STACWORKS_INPUT_ASSETS:-[]}" | jq -r ".[$1][\"$2\"] // empty"; }

# task_param NAME DEFAULT: a parameter's value (strings raw, others as JSON).
task_param() {
  p=${STACWORKS_PARAMETERS:-}; [ -n "$p" ] || p='{}'
  printf '%s' "$p" | jq -r --arg k "$1" --arg d "${2:-}" '.[$k] // $d'
}

task_output_dir() { d="${STACWORKS_OUTPUT_DIR:-out}"; mkdir -p "$d"; printf '%s' "$d"; }

# task_add_output PATH ASSET INPUT: record one output file (written to the output folder).
task_add_output() {
  printf '{"path": "%s", "asset": "%s", "input": %s}\n' "$1" "$2" "$3" \
    >> "$(task_output_dir)/.outputs.jsonl"
}

task_write_outputs() {
  d=$(task_output_dir)
  touch "$d/.outputs.jsonl"
  jq -s '{outputs: .}' "$d/.outputs.jsonl" > "$d/outputs.json" && rm -f "$d/.outputs.jsonl"
}

task_fail() { echo "error: $1" >&2; exit "${2:-2}"; }
