#!/bin/sh
# Makes the root file system the node_exporter stand-in (Dockerfile here)
# builds FROM: Debian bookworm minbase with busybox, and node_exporter built
# by the host's Go from the Go module proxy at the version the recipe pins
# (the ARG default of recipes/node-exporter/Dockerfile), as upstream's promu
# builds it (CGO_ENABLED=0, the version stamped into prometheus/common's
# version package), copied in as /bin/node_exporter.
#
# Why not Debian's package: bookworm's prometheus-node-exporter is 1.5.0,
# built with exporter-toolkit 0.8.2, whose web configuration has no
# client_allowed_sans (exporter-toolkit 0.10 added it); the recipe checks the
# caller's identity with it, so that package cannot stand in for the
# official image.
#
# The image is made once per tag (the toolchain builds it when it is
# missing): after changing the pinned version, remove the tag to rebuild.
#
# Usage: rootfs.sh [TAG]   (default mtls-reference/node-exporter-rootfs:bookworm)
set -eu
tag="${1:-mtls-reference/node-exporter-rootfs:bookworm}"
here=$(cd "$(dirname "$0")" && pwd)
version=$(sed -n 's/^ARG NODE_EXPORTER_IMAGE=prom\/node-exporter:v\([0-9.]*\)$/\1/p' "$here/../../../recipes/node-exporter/Dockerfile")
[ -n "$version" ] || { echo "rootfs.sh: no node_exporter version in recipes/node-exporter/Dockerfile" >&2; exit 1; }
command -v go >/dev/null || { echo "rootfs.sh: no Go toolchain on PATH (node_exporter is built from the Go module proxy)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
v=github.com/prometheus/common/version
CGO_ENABLED=0 GOBIN="$work" GOFLAGS=-trimpath go install \
  -ldflags "-s -w -X $v.Version=$version -X $v.Branch=HEAD -X $v.BuildUser=stand-in -X $v.Revision=v$version" \
  "github.com/prometheus/node_exporter@v$version"
sources=/etc/apt/sources.list.d/debian.sources
[ -e "$sources" ] || sources=/etc/apt/sources.list
mmdebstrap --variant=minbase --quiet --include=busybox \
  --customize-hook="copy-in $work/node_exporter /bin" \
  bookworm - "$sources" \
  | docker import --change 'ENV LANG=C.UTF-8' - "$tag"
