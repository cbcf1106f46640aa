#!/bin/sh
# Back up one Shouwang PostgreSQL database to a compressed custom-format dump.
#
#   PGHOST=db.example.org PGUSER=postgres deploy/postgres/backup.sh shouwang /var/backups/shouwang
#
# Connection settings come from the libpq environment (PGHOST, PGPORT, PGUSER,
# PGPASSFILE). The dump includes ownership, grants and default privileges, so
# restore.sh brings back the least-privilege roles' rights as well (the roles
# themselves are cluster-wide: create them with roles.sql first on a new server).
# The file is 0600 (it holds residents' names and addresses); it is written as
# .partial and renamed only after pg_restore can read its table of contents.
# Exercised by deploy/backup_test.go (TestPostgresRolesBackupRestore).
set -eu
db=${1:?usage: backup.sh DATABASE OUTDIR}
out=${2:?usage: backup.sh DATABASE OUTDIR}
umask 077
mkdir -p "$out"
f="$out/$db-$(date -u +%Y%m%dT%H%M%SZ).dump"
pg_dump --format=custom --compress=6 --file="$f.partial" --dbname="$db"
pg_restore --list "$f.partial" >/dev/null
mv "$f.partial" "$f"
echo "$f"
