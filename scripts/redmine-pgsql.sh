# Sourced by scripts/redmine.sh when REDMINE_DB=pgsql: the same Redmine 5.0.4 (Debian 12), on
# PostgreSQL behind Puma, as people run it in production (SQLite behind WEBrick, the test default,
# serialises every write and answers 500 "database is locked" when pushed).
#
# - Packages: redmine-pgsql (ruby-pg), postgresql, puma, installed with
#   DEBIAN_FRONTEND=noninteractive.
#   redmine-pgsql asks dbconfig-common nothing and reconfigures no instance: the SQLite default
#   instance (and every other instance) keeps its database.
# - PostgreSQL: the distribution's cluster (started if down). Redmine connects over the Unix socket
#   as the role "www-data" (peer authentication: no password anywhere).
# - A pristine database psa_redmine_pristine (migrated, default data, configure.rb) is made once per
#   version of the configuration, through a helper instance "pgsql-pristine"; each pgsql instance's
#   database redmine_<instance> is a copy of it (CREATE DATABASE ... TEMPLATE: reset takes a
#   second).
# - Puma: PUMA_WORKERS processes (default 2) of PUMA_THREADS threads (default 4).
# Uses the variables and functions of redmine.sh (INSTANCE, BASE, APP, log, now, since, as_www...).

PG_PRISTINE=psa_redmine_pristine
PG_DB="redmine_${INSTANCE//-/_}"
PG_BASE_ENV="$BASE/pgsql-base.env"
PUMA_WORKERS="${PUMA_WORKERS:-2}"
PUMA_THREADS="${PUMA_THREADS:-4}"

pg() { setpriv --reuid=postgres --regid=postgres --init-groups env -C / PGOPTIONS="-c client_min_messages=warning" "$@"; }

install_pgsql() {
  if installed redmine-pgsql && installed puma && installed postgresql; then return; fi
  local t; t=$(now)
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      redmine-pgsql postgresql puma </dev/null >"$STATE/apt-install-pgsql.log" 2>&1 \
    || { log "apt-get install failed:"; tail -40 "$STATE/apt-install-pgsql.log" >&2; exit 1; }
  log "installed redmine-pgsql, postgresql, puma in $(since "$t")s"
}

ensure_postgres() {  # the distribution's cluster, up; the role www-data
  local cluster
  cluster=$(pg_lsclusters -h | awk 'NR==1 {print $1" "$2}')
  [ -n "$cluster" ] || { log "no PostgreSQL cluster (pg_lsclusters): create one with pg_createcluster"; exit 1; }
  # The cluster outlives this script: it must hold neither its lock (9>&-: every later start would
  # wait) nor its output (a caller reading it to the end would wait for PostgreSQL to exit).
  # shellcheck disable=SC2086
  pg_lsclusters -h | awk 'NR==1 {exit $4=="online" ? 0 : 1}' \
    || pg_ctlcluster $cluster start </dev/null >"$STATE/postgresql-start.log" 2>&1 9>&- \
    || { log "PostgreSQL did not start:"; cat "$STATE/postgresql-start.log" >&2; exit 1; }
  for _ in $(seq 1 40); do pg pg_isready -q && break; sleep 0.25; done
  pg psql -qtAc "SELECT 1 FROM pg_roles WHERE rolname='www-data'" | grep -q 1 \
    || pg createuser --createdb www-data
}

pg_has_db() { pg psql -qtAc "SELECT 1 FROM pg_database WHERE datname='$1'" | grep -q 1; }

pg_instance_dir() {  # $1 instance, $2 database: Debian's instance layout, database.yml on PostgreSQL
  local dir=/var/lib/redmine/$1
  mkdir -p "$dir/config" "$dir/db" "$dir/files" "$dir/log" "$dir/tmp" "$dir/public"
  chown www-data:www-data "$dir/db" "$dir/files" "$dir/log" "$dir/tmp"
  printf 'production:\n  adapter: postgresql\n  database: %s\n  username: www-data\n  encoding: utf8\n  pool: %s\n' \
    "$2" "$((PUMA_THREADS + 2))" >"$dir/config/database.yml"
  cp -p /etc/redmine/default/secret_key.txt "$dir/config/secret_key.txt"
  chown root:www-data "$dir/config/database.yml"; chmod 640 "$dir/config/database.yml"
}

ensure_puma() {  # Bundler allows only gems a Gemfile names; the pg gem comes with a postgresql database.yml
  grep -qs "puma" "$APP/Gemfile.local" || echo "gem 'puma'" >> "$APP/Gemfile.local"
  (cd "$APP" && bundle install --local --quiet >/dev/null 2>&1) \
    || (cd "$APP" && bundle install --local </dev/null >&2)
  chown www-data:www-data /var/lib/redmine/Gemfile.lock
}

configure_pgsql() {  # the pristine PostgreSQL database, once per configuration version
  local t fp tmp; t=$(now)
  fp=$(configure_rb | sha256sum | cut -c1-16)
  [ -f "$PG_BASE_ENV" ] && [ "$(cat "$BASE/pgsql.configured" 2>/dev/null)" = "$fp" ] && pg_has_db "$PG_PRISTINE" \
    && return
  pg_instance_dir pgsql-pristine "$PG_PRISTINE"
  ensure_puma
  pg dropdb --if-exists "$PG_PRISTINE"
  pg createdb -O www-data -E UTF8 -T template0 "$PG_PRISTINE"
  tmp=$(mktemp -d /tmp/redmine-configure.XXXXXX); chown www-data "$tmp"
  configure_rb >"$tmp/configure.rb"; chmod 644 "$tmp/configure.rb"
  # SCHEMA: db:migrate dumps the schema after migrating; www-data may not write
  # /usr/share/redmine/db.
  as_www pgsql-pristine SCHEMA="$tmp/schema.rb" bundle exec rake db:migrate </dev/null >"$STATE/migrate.log" 2>&1 \
    && as_www pgsql-pristine REDMINE_LANG=en bundle exec rake redmine:load_default_data </dev/null >>"$STATE/migrate.log" 2>&1 \
    || { log "migrate failed"; tail -30 "$STATE/migrate.log" >&2; rm -rf "$tmp"; exit 1; }
  as_www pgsql-pristine REDMINE_ADMIN_PASSWORD="$ADMIN_PW" bundle exec rails runner "$tmp/configure.rb" </dev/null \
      >"$tmp/out" || { log "configure failed"; cat "$tmp/out" >&2; rm -rf "$tmp"; exit 1; }
  { echo "REDMINE_ADMIN_USER=admin"; echo "REDMINE_ADMIN_PASSWORD=$ADMIN_PW"; cat "$tmp/out"; } >"$PG_BASE_ENV"
  rm -rf "$tmp"
  echo "$fp" >"$BASE/pgsql.configured"
  log "configured the pristine PostgreSQL database in $(since "$t")s"
}

restore_pgsql() {  # a fresh copy of the pristine database (the server must be stopped)
  pg dropdb --if-exists "$PG_DB"
  pg createdb -O www-data -T "$PG_PRISTINE" "$PG_DB"
}

ensure_pgsql_instance() {
  pg_instance_dir "$INSTANCE" "$PG_DB"
  pg_has_db "$PG_DB" || restore_pgsql
}

start_puma() {  # prints the server's PID; puma's master execs through setpriv, env and bundle exec
  nohup setpriv --reuid=www-data --regid=www-data --init-groups \
    env HOME=/var/www REDMINE_INSTANCE="$INSTANCE" RAILS_ENV=production \
    bundle exec puma -e production -b "tcp://127.0.0.1:$PORT" -w "$PUMA_WORKERS" -t "$PUMA_THREADS:$PUMA_THREADS" \
    config.ru >"$LOG" 2>&1 </dev/null 9>&- &
  echo $!
}
