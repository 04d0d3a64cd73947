#!/usr/bin/env bash
# Build the example algorithms' image: [TAG [BASE_IMAGE]]. The Python packages (the versions of
# requirements.lock, so outputs match the command runner's byte for byte; boto3 for the task
# entry) are installed into the build context with uv first, with the one stacworks module the
# image runs (processing/aws/task_entry.py, the ENTRYPOINT); docker build then only copies files.
# The default tag is what algorithms/*.yaml name: for AWS, tag (and push) it as
# <account>.dkr.ecr.<region>.amazonaws.com/stacworks/algorithms:1.0.0 (deploy/aws/README.md).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
tag="${1:-stacworks/algorithms:1.0.0}"
base="${2:-}"
uv="$(command -v uv || echo "$HOME/.local/bin/uv")"
context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
cp "$here"/*.py "$here/Dockerfile" "$context/"
mkdir -p "$context/stacworks/processing/aws"
touch "$context/stacworks/processing/__init__.py" "$context/stacworks/processing/aws/__init__.py"
cp "$root/processing/aws/task_entry.py" "$context/stacworks/processing/aws/"
"$uv" pip install --quiet --target "$context/site" --python-version 3.11 \
  --python-platform x86_64-manylinux_2_28 --only-binary :all: \
  --constraint "$root/requirements.lock" numpy rasterio rio-cogeo "laspy[lazrs]" boto3
args=(--tag "$tag")
[ -n "$base" ] && args+=(--build-arg "BASE_IMAGE=$base")
docker build "${args[@]}" "$context"
