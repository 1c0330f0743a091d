#!/usr/bin/env bash
# Builds the pinned MinIO community server from source once and caches the binary outside the clone.
# Prints the binary's path on stdout. Reuses the cached binary when it is already there.
set -euo pipefail
MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c" # what the Go module proxy serves as @latest (2026-02-12); the 2025-10-15 pseudo-version is refused (403) by the proxy here
CACHE_DIR="${CDC_APPLY_CACHE:-$HOME/.cache/cdc-apply}/minio/$MINIO_VERSION"
BIN="$CACHE_DIR/bin/minio"
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi
command -v go >/dev/null 2>&1 || { echo "build-minio: go is not installed; install Go >= 1.24 to build MinIO" >&2; exit 1; }
mkdir -p "$CACHE_DIR"
export GOBIN="$CACHE_DIR/bin.tmp"
export GOFLAGS="${GOFLAGS:-} -mod=mod"
start=$(date +%s)
build() { go install "github.com/minio/minio@$MINIO_VERSION" >&2; }
if ! build; then
  echo "build-minio: build with $(go version) failed; retrying with the toolchain MinIO's go.mod names (go1.24.8)" >&2
  GOTOOLCHAIN=go1.24.8 build
fi
mkdir -p "$CACHE_DIR/bin"
mv "$GOBIN/minio" "$BIN"
rmdir "$GOBIN" 2>/dev/null || true
echo "build-minio: built in $(( $(date +%s) - start )) s" >&2
echo "$BIN"
