#!/bin/sh
# /docker-entrypoint-initdb.d of the primary in deploy/scale: lets the standby
# stream WAL as shouwang_replicator (deploy/postgres/replica.sql) with a password.
set -eu
echo "host replication shouwang_replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
