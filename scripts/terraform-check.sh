#!/usr/bin/env bash
# Static checks of deploy/terraform: `terraform fmt -check -recursive`, always; `terraform validate` of every module
# and example, where its providers can be had (modules/render has none, so it is always validated; the AWS provider
# cannot be downloaded on machines that reach only package registries, and then validate is skipped for the
# folders that need it, saying so); then Checkov with 0 failed checks (skips are justified in the code) when a
# checkov executable is given. Usage: bash scripts/terraform-check.sh [path/to/checkov]
set -euo pipefail
cd "$(dirname "$0")/.."
TF="${TERRAFORM_BIN:-terraform}"
CHECKOV="${1:-}"
command -v "$TF" >/dev/null 2>&1 || { echo "terraform-check: terraform is not installed" >&2; exit 1; }
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
# no CLI config of the machine's user (and no warning about a missing one); plugins and modules go to the temp dir
: > "$TMP/cli.tfrc"
export TF_CLI_CONFIG_FILE="$TMP/cli.tfrc" TF_IN_AUTOMATION=1 TF_INPUT=0

echo "terraform-check: $("$TF" version | head -1)"
"$TF" fmt -check -recursive -diff deploy/terraform
echo "terraform-check: fmt ok"

for dir in deploy/terraform/modules/* deploy/terraform/examples/*; do
  data="$TMP/$(echo "$dir" | tr / _)"
  if TF_DATA_DIR="$data" "$TF" -chdir="$dir" init -backend=false -input=false -no-color >"$TMP/init.log" 2>&1; then
    TF_DATA_DIR="$data" "$TF" -chdir="$dir" validate -no-color
  elif grep -q -e "Failed to query available provider packages" -e "Failed to install provider" -e "could not connect to" "$TMP/init.log"; then
    echo "terraform-check: validate skipped for $dir: its providers cannot be downloaded here ($(grep -m1 -o -e 'dial tcp[^│]*' -e 'no such host' "$TMP/init.log" || echo 'provider download failed'))"
  else
    cat "$TMP/init.log" >&2
    echo "terraform-check: terraform init failed in $dir" >&2
    exit 1
  fi
done

if [ -n "$CHECKOV" ]; then
  "$CHECKOV" --directory deploy/terraform --framework terraform --quiet --compact --skip-download
  echo "terraform-check: checkov ok (0 failed checks)"
fi
