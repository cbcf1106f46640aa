-- Shouwang on PostgreSQL: a database owned by a migration role, used by an
-- application role that may only read and write rows (DML), never change the
-- schema. Run once, as a superuser, with psql:
--
--   psql -v ON_ERROR_STOP=1 -v db=shouwang \
--        -v owner_password="$(cat owner.secret)" -v app_password="$(cat app.secret)" \
--        -f deploy/postgres/roles.sql
--
-- shouwang_owner  owns the database, schema and tables; runs migrations
--                 (shouwang-cloud started once with the owner DSN after each upgrade).
-- shouwang_app    the DSN in /etc/shouwang/cloud.yaml: SELECT/INSERT/UPDATE/DELETE only.
-- Tested by deploy/backup_test.go (TestPostgresRolesBackupRestore) against a real PostgreSQL.

CREATE ROLE shouwang_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE shouwang_app LOGIN PASSWORD :'app_password' CONNECTION LIMIT 200;
CREATE DATABASE :"db" OWNER shouwang_owner ENCODING 'UTF8' TEMPLATE template0;

\connect :"db"
-- Nobody but these two roles may connect; nobody but the owner may create objects.
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO shouwang_app;
ALTER SCHEMA public OWNER TO shouwang_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO shouwang_app;
-- Tables and sequences the owner creates (every migration, now and later) are
-- usable by the app for DML only. No TRUNCATE, REFERENCES, TRIGGER, DDL.
ALTER DEFAULT PRIVILEGES FOR ROLE shouwang_owner IN SCHEMA public
	GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO shouwang_app;
ALTER DEFAULT PRIVILEGES FOR ROLE shouwang_owner IN SCHEMA public
	GRANT USAGE, SELECT ON SEQUENCES TO shouwang_app;
-- Tables that already exist (the script run after a first migration).
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO shouwang_app;
-- A stuck query must not hold locks forever; the app never needs long statements.
ALTER ROLE shouwang_app SET statement_timeout = '30s';
ALTER ROLE shouwang_app SET idle_in_transaction_session_timeout = '60s';
