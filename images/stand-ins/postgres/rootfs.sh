#!/bin/sh
# Makes the root file system the postgres stand-in (Dockerfile here) builds
# FROM: Debian bookworm minbase with Debian's postgresql-15 (the official
# image installs the PGDG build of the same major version) and locales.
#
# Two things have to happen before the packages' maintainer scripts run, as in
# the official image, so they happen in the essential hook (after the Essential
# packages, before the rest):
#  - the postgres account with uid/gid 999 (upstream Dockerfile lines 10-16):
#    postgresql-common's postinst would otherwise make its own with another uid;
#  - no "main" cluster (upstream line 156 edits createcluster.conf between
#    installing postgresql-common and postgresql-15; that file does not exist
#    yet here, so a createcluster.d drop-in does it and the Dockerfile swaps it
#    for the upstream edit).
# Minbase has no useradd at that point: the account is written the way
# useradd writes it.
#
# The customize hook removes the snakeoil key pair that ssl-cert's postinst
# generates (the official image has one too): no image here carries a private
# key, and nothing uses it (the recipes point PostgreSQL at $CERT_DIR).
#
# Usage: rootfs.sh [TAG]   (default mtls-reference/postgres-rootfs:bookworm)
set -eu
tag="${1:-mtls-reference/postgres-rootfs:bookworm}"
sources=/etc/apt/sources.list.d/debian.sources
[ -e "$sources" ] || sources=/etc/apt/sources.list
# shellcheck disable=SC2016  # the hooks are expanded by mmdebstrap's shell, which sets $1 to the new root
mmdebstrap --variant=minbase --quiet \
  --include=postgresql-15,postgresql-client-15,locales \
  --essential-hook='echo "postgres:x:999:" >>"$1/etc/group"; echo "postgres:x:999:999::/var/lib/postgresql:/bin/bash" >>"$1/etc/passwd"; install -d -o 999 -g 999 -m 1777 "$1/var/lib/postgresql"; mkdir -p "$1/etc/postgresql-common/createcluster.d"; echo "create_main_cluster = false" >"$1/etc/postgresql-common/createcluster.d/stand-in-no-main-cluster.conf"' \
  --customize-hook='rm -f "$1/etc/ssl/private/ssl-cert-snakeoil.key" "$1/etc/ssl/certs/ssl-cert-snakeoil.pem"; find "$1/etc/ssl/certs" -xtype l -delete' \
  bookworm - "$sources" \
  | docker import --change 'ENV LANG=C.UTF-8' - "$tag"
