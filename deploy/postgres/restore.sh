#!/bin/sh
# Restore a dump made by backup.sh into a new database of the same name.
#
#   PGHOST=db.example.org PGUSER=postgres deploy/postgres/restore.sh /var/backups/shouwang/shouwang-20260301T020000Z.dump
#
# Refuses when the database exists: stop every shouwang-cloud replica, then
# either drop it or move it aside (ALTER DATABASE shouwang RENAME TO
# shouwang_broken) — keeping the broken copy until the restore is checked.
# The roles (roles.sql) must exist on the server. Runs as a superuser.
# Exercised by deploy/backup_test.go (TestPostgresRolesBackupRestore).
set -eu
dump=${1:?usage: restore.sh DUMPFILE}
db=$(pg_restore --list "$dump" | sed -n 's/^;[[:space:]]*dbname: //p')
[ -n "$db" ] || { echo "restore.sh: $dump: no database name in the dump" >&2; exit 1; }
exists=$(psql -X -At -d postgres -v ON_ERROR_STOP=1 -v db="$db" -c "SELECT 1 FROM pg_database WHERE datname = '$db'")
if [ "$exists" = 1 ]; then
	echo "restore.sh: database $db exists; drop it or rename it aside first" >&2
	exit 2
fi
# --create recreates the database with its owner and database-level grants.
pg_restore --create --exit-on-error --dbname=postgres "$dump"
n=$(psql -X -At -d "$db" -v ON_ERROR_STOP=1 -c "SELECT COUNT(*) FROM schema_migrations")
echo "restored $db from $dump: $n schema migration(s)"
