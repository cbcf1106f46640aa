-- The role a PostgreSQL standby replicates with (docs/operations, "PostgreSQL
-- standby and failover"). Run once on the primary, as a superuser:
--
--   psql -v ON_ERROR_STOP=1 -v replicator_password="$(cat replicator.secret)" -f deploy/postgres/replica.sql
--
-- and allow it in pg_hba.conf (deploy/postgres/replication-hba.sh does that in the
-- container references):  host replication shouwang_replicator <standby>/32 scram-sha-256
-- It can stream WAL and nothing else: no database, no table.
-- Tested by deploy/replica_test.go (TestPostgresStandbyFailover).
CREATE ROLE shouwang_replicator LOGIN REPLICATION PASSWORD :'replicator_password';
