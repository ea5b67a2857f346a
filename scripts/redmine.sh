#!/usr/bin/env bash
# A local Redmine 5.0.4 (Debian 12 package) on 127.0.0.1: the PSA psa-sync's tests and demo use.
#
# Usage (Debian 12, as root for start/stop/reset):
#   scripts/redmine.sh start   install if needed, configure, start, wait until ready, print the env
#                              (already running: prints the env and does nothing else)
#   scripts/redmine.sh stop    stop the server this script started (by its recorded PID)
#   scripts/redmine.sh reset   stop, restore the pristine database taken after configure, start
#                              (~5 s)
#   scripts/redmine.sh restore the pristine database copied into a running SQLite server's own
#                              (SQLite's backup API, under the database's lock; no restart, ~0.1 s);
#                              a server not running, or on pgsql: reset
#   scripts/redmine.sh env     print the env file of a running server (no root needed)
#
# Knobs (environment):
#   REDMINE_PORT            default 3000
#   REDMINE_ADMIN_PASSWORD  default admin12345 (a throwaway loopback instance)
#   REDMINE_STATE_DIR       default /tmp/redmine-psa: pid, server log, redmine.env
#   REDMINE_INSTANCE        default "default" (Debian's instance). Any other name gets its own
#                           database, copied from the pristine snapshot, so several people or test
#                           sessions on one machine do not clean each other's projects: e.g.
#                           REDMINE_INSTANCE=dev2 REDMINE_PORT=3002 \
#                           REDMINE_STATE_DIR=/tmp/redmine-dev2
#   REDMINE_DB              sqlite (default: SQLite behind WEBrick, what `make test` uses) or pgsql:
#                           PostgreSQL behind Puma, as Redmine runs in production
#                           (scripts/redmine-pgsql.sh; PUMA_WORKERS default 2, PUMA_THREADS default
#                           4). A pgsql instance has its own name, default "pgsql", port default
#                           3010, state dir default /tmp/redmine-pgsql:
#                           REDMINE_DB=pgsql REDMINE_INSTANCE=bench-pg REDMINE_PORT=3025 \
#                           REDMINE_STATE_DIR=/tmp/redmine-bench-pg scripts/redmine.sh start
#
# The pristine snapshot (configured, no projects) lives in /var/lib/psa-sync-redmine; configure
# runs once per version of this script's configuration, on Debian's default instance.
#
# The env file ($REDMINE_STATE_DIR/redmine.env) holds REDMINE_URL, REDMINE_API_KEY, one
# REDMINE_CF_<NAME>=<id> per custom field and REDMINE_ACTIVITY_IDS=<id>:<name>,... Custom field ids
# depend on creation order: always read them from the env file (or GET /custom_fields.json).
# Non-interactive (no stdin), idempotent, serialised by a lock: safe for CI on a fresh machine.
set -euo pipefail

DBKIND="${REDMINE_DB:-sqlite}"
case "$DBKIND" in
  sqlite) PORT="${REDMINE_PORT:-3000}"; STATE="${REDMINE_STATE_DIR:-/tmp/redmine-psa}"
          INSTANCE="${REDMINE_INSTANCE:-default}" ;;
  pgsql)  PORT="${REDMINE_PORT:-3010}"; STATE="${REDMINE_STATE_DIR:-/tmp/redmine-pgsql}"
          INSTANCE="${REDMINE_INSTANCE:-pgsql}" ;;
  *) echo "[redmine.sh] REDMINE_DB must be sqlite or pgsql, not '$DBKIND'" >&2; exit 2 ;;
esac
ADMIN_PW="${REDMINE_ADMIN_PASSWORD:-admin12345}"
APP=/usr/share/redmine
BASE=/var/lib/psa-sync-redmine          # pristine snapshot + base.env, shared by every instance
DEFAULT_DB=/var/lib/dbconfig-common/sqlite3/redmine/instances/default/redmine_default
if [ "$INSTANCE" = default ]; then DB=$DEFAULT_DB; else DB=/var/lib/redmine/$INSTANCE/db/redmine.sqlite3; fi
PIDFILE="$STATE/redmine.pid"
LOG="$STATE/redmine.log"
ENVFILE="$STATE/redmine.env"
URL="http://127.0.0.1:$PORT"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { echo "[redmine.sh] $*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    log "'$1' needs root: it installs Debian packages and runs Redmine as www-data."
    log "Run it as root (e.g. sudo $0 $1) on Debian 12; once it runs, '$0 env' works for any user."
    exit 2
  fi
}

# /proc rather than kill -0: a non-root caller of "env" may not signal the www-data server.
running() { [ -f "$PIDFILE" ] && [ -d "/proc/$(cat "$PIDFILE")" ]; }

ready() {  # the API answers 200 for our key (so the server is up AND configured)
  local key code
  key=$(sed -n 's/^REDMINE_API_KEY=//p' "$ENVFILE" 2>/dev/null || true)
  [ -n "$key" ] || return 1
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Redmine-API-Key: $key" "$URL/users/current.json" || true)
  [ "$code" = 200 ]
}

as_www() {  # run as www-data in the Redmine app dir, production, on the given instance
  local instance=$1; shift
  (cd "$APP" && setpriv --reuid=www-data --regid=www-data --init-groups \
     env HOME=/var/www REDMINE_INSTANCE="$instance" RAILS_ENV=production "$@")
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

install_redmine() {
  if installed redmine && installed redmine-sqlite && command -v curl >/dev/null; then
    return
  fi
  local t; t=$(now)
  apt-get update -q >/dev/null
  # dbconfig-common answers: one instance "default", sqlite3, dbconfig creates and migrates the DB.
  debconf-set-selections <<'EOF'
redmine redmine/current-instances string default
redmine redmine/instances/default/dbconfig-install boolean true
redmine redmine/instances/default/database-type select sqlite3
redmine redmine/instances/default/default-language select en
EOF
  # --no-install-recommends keeps passenger out; WEBrick serves instead (see ensure_webrick).
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      redmine redmine-sqlite curl ca-certificates </dev/null >"$STATE/apt-install.log" 2>&1 \
    || { log "apt-get install failed:"; tail -40 "$STATE/apt-install.log" >&2; exit 1; }
  log "installed redmine (apt, DB migrate, default data) in $(since "$t")s"
}

ensure_webrick() {
  # Ruby 3.1 ships no webrick and Debian's Gemfile names no app server; Bundler only allows gems
  # named in a Gemfile, so Gemfile.local (which survives package upgrades) names ruby-webrick.
  grep -qs "webrick" "$APP/Gemfile.local" || echo "gem 'webrick'" >> "$APP/Gemfile.local"
  (cd "$APP" && bundle install --local --quiet >/dev/null 2>&1) \
    || (cd "$APP" && bundle install --local </dev/null >&2)
  chown www-data:www-data /var/lib/redmine/Gemfile.lock
}

configure_rb() {
  cat <<'EOF'
# The snapshot every instance is copied from holds no project: configure runs on Debian's default
# instance, which tests may have used since (reset restores this snapshot over it anyway).
Project.order(lft: :desc).each(&:destroy)
Setting.rest_api_enabled = '1'
Setting.login_required = '1'
Setting.default_projects_public = '0'
# New projects must be able to take time entries (delivery hours are summed from them).
mods = Array(Setting.default_projects_modules)
Setting.default_projects_modules = (mods + ['time_tracking']).uniq unless mods.include?('time_tracking')
admin = User.find_by_login('admin')
admin.password = admin.password_confirmation = ENV.fetch('REDMINE_ADMIN_PASSWORD')
admin.must_change_passwd = false
admin.save!
def cf(name, attrs)
  f = ProjectCustomField.find_by(name: name) || ProjectCustomField.new(name: name)
  f.attributes = attrs
  f.save!
  f
end
common = { is_filter: true, visible: true }
fields = {
  'SALESFORCE_OPPORTUNITY_ID' => cf('Salesforce Opportunity Id', common.merge(field_format: 'string', is_required: false, searchable: true)),
  'CUSTOMER'          => cf('Customer', common.merge(field_format: 'string', is_required: false, searchable: true)),
  'BUDGET'            => cf('Budget', common.merge(field_format: 'float', is_required: false)),
  'BILLING_TYPE'      => cf('Billing type', common.merge(field_format: 'list', is_required: true, multiple: false,
                            possible_values: ['Fixed Fee', 'Time & Materials', 'Retainer'])),
  'START_DATE'        => cf('Start date', common.merge(field_format: 'date', is_required: false)),
  'END_DATE'          => cf('End date', common.merge(field_format: 'date', is_required: false)),
  'PERCENT_COMPLETE'  => cf('Percent complete', common.merge(field_format: 'int', is_required: false)),
  'SALESFORCE_STATUS' => cf('Salesforce status', common.merge(field_format: 'list', is_required: false, multiple: false,
                            possible_values: ['Won', 'Excluded', 'Reopened', 'Lost', 'Deleted', 'Tentative', 'Dropped'])),
  'STAGE'             => cf('Stage', common.merge(field_format: 'list', is_required: false, multiple: false,
                            possible_values: ['Tentative', 'Won', 'Lost'])),
}
# A project's plan (mapping `structure:`): each phase (a version) and task (an issue) carries its
# psa-sync key, so none is ever made twice; a task carries the role it was sold for. Issue fields
# are for all projects and every tracker: a value of a field not enabled is silently dropped.
def child_cf(klass, name, attrs)
  f = klass.find_by(name: name) || klass.new(name: name)
  f.attributes = attrs
  f.trackers = Tracker.all.to_a if f.respond_to?(:trackers=)
  f.save!
  f
end
child = { field_format: 'string', is_required: false, visible: true }
fields['ISSUE_KEY'] = child_cf(IssueCustomField, 'psa-sync key', child.merge(is_for_all: true, is_filter: true, searchable: true))
fields['ISSUE_ROLE'] = child_cf(IssueCustomField, 'Role', child.merge(is_for_all: true, is_filter: true))
fields['VERSION_KEY'] = child_cf(VersionCustomField, 'psa-sync key', child)
if TimeEntryActivity.shared.active.empty?
  TimeEntryActivity.create!(name: 'Development', active: true, is_default: true)
end
puts "REDMINE_API_KEY=#{admin.api_key}"
fields.each { |k, f| puts "REDMINE_CF_#{k}=#{f.id}" }
puts "REDMINE_ACTIVITY_IDS=#{TimeEntryActivity.shared.active.map { |a| "#{a.id}:#{a.name}" }.join(',')}"
EOF
}

# One pristine snapshot and base env per version of configure_rb, side by side: a checkout with a
# newer configuration never replaces the snapshot another checkout's instances are copied from.
FINGERPRINT=$(configure_rb | sha256sum | cut -c1-16)
PRISTINE="$BASE/pristine-$FINGERPRINT.sqlite3"
BASE_ENV="$BASE/base-$FINGERPRINT.env"

configured_current() {  # the pristine snapshot was made by this version of configure_rb
  [ -f "$BASE_ENV" ] && [ -f "$PRISTINE" ] \
    && { [ "$INSTANCE" != default ] || [ "$(cat "$BASE/configured" 2>/dev/null)" = "$FINGERPRINT" ]; }
}

configure() {  # idempotent; configures Debian's default instance, then snapshots it once
  local t rb fp tmp; t=$(now)
  fp=$FINGERPRINT
  configured_current && return
  mkdir -p "$BASE"
  tmp=$(mktemp -d /tmp/redmine-configure.XXXXXX); chown www-data "$tmp"
  rb="$tmp/configure.rb"; configure_rb >"$rb"; chmod 644 "$rb"
  # VACUUM INTO copies a consistent snapshot even if a default-instance server is running.
  echo "ActiveRecord::Base.connection.execute(\"VACUUM INTO '$tmp/pristine.sqlite3'\")" >>"$rb"
  as_www default REDMINE_ADMIN_PASSWORD="$ADMIN_PW" bundle exec rails runner "$rb" </dev/null >"$tmp/out" \
    || { log "configure failed"; cat "$tmp/out" >&2; rm -rf "$tmp"; exit 1; }
  { echo "REDMINE_ADMIN_USER=admin"; echo "REDMINE_ADMIN_PASSWORD=$ADMIN_PW"; cat "$tmp/out"; } >"$BASE_ENV"
  mv "$tmp/pristine.sqlite3" "$PRISTINE"; chown root:root "$PRISTINE"; chmod 644 "$PRISTINE"
  rm -rf "$tmp"
  echo "$fp" >"$BASE/configured"
  log "configured (REST API, admin key, custom fields) in $(since "$t")s"
}

restore_db() {  # the pristine snapshot becomes this instance's database
  install -o root -g www-data -m 0660 "$PRISTINE" "$DB"
  [ "$INSTANCE" = default ] || echo "$FINGERPRINT" >"/var/lib/redmine/$INSTANCE/db/fingerprint"
}

ensure_instance() {  # a non-default instance: its own directory tree and database (Debian layout)
  [ "$INSTANCE" = default ] && return
  local dir=/var/lib/redmine/$INSTANCE
  mkdir -p "$dir/config" "$dir/db" "$dir/files" "$dir/log" "$dir/tmp" "$dir/public"
  chown www-data:www-data "$dir/db" "$dir/files" "$dir/log" "$dir/tmp"
  # timeout: SQLite's busy timeout (ms), for a writer outside the server (rails runner). The
  # server's own requests never wait on each other: serial.ru runs them one at a time.
  printf 'production:\n  adapter: sqlite3\n  database: %s\n  encoding: utf8\n  timeout: 1000\n' \
    "$DB" >"$dir/config/database.yml"
  cp -p /etc/redmine/default/secret_key.txt "$dir/config/secret_key.txt"
  chown root:www-data "$dir/config/database.yml"; chmod 640 "$dir/config/database.yml"
  # a database copied from another configuration (a new custom field) is copied again
  { [ -f "$DB" ] && [ "$(cat "$dir/db/fingerprint" 2>/dev/null)" = "$FINGERPRINT" ]; } || restore_db
}

write_env() {
  local base=$BASE_ENV
  [ "$DBKIND" = pgsql ] && base=$PG_BASE_ENV
  { echo "REDMINE_URL=$URL"; echo "REDMINE_INSTANCE=$INSTANCE"; echo "REDMINE_DB=$DBKIND"; cat "$base"; } >"$ENVFILE.tmp"
  chmod 644 "$ENVFILE.tmp"  # a throwaway loopback instance: tests running as any user read it
  mv "$ENVFILE.tmp" "$ENVFILE"
}

SERIAL_RU=/var/lib/redmine/$INSTANCE/serial.ru
write_serial_ru() {
  # On SQLite, Redmine's requests run one at a time (Rack::Lock). Two requests that write at once
  # (Redmine records a user's recent projects after a GET too) otherwise meet "database is locked":
  # without a busy timeout the request is answered 500 after its work was committed; with one, the
  # sqlite3 gem (1.4) waits holding Ruby's global lock, so the holder cannot finish and the whole
  # server stalls for the full timeout. One Ruby process gains nothing from the threads anyway.
  mkdir -p "${SERIAL_RU%/*}"
  printf '%s\n' "# written by psa-sync's scripts/redmine.sh: requests one at a time (see there)" \
    "require '$APP/config/environment'" "use Rack::Lock" "run Rails.application" >"$SERIAL_RU"
  chmod 644 "$SERIAL_RU"
}

start_server() {
  running && return
  local t pid; t=$(now)
  # "rails server" fails as www-data (mkdir /usr/share/redmine/tmp: EACCES): use rackup directly.
  # setpriv, env and bundle exec all exec, so $! is the Ruby server's own PID.
  # 9>&-: the server must not inherit the lock, or the next stop/reset would wait for it forever.
  cd "$APP"
  if [ "$DBKIND" = pgsql ]; then pid=$(start_puma); else
  write_serial_ru
  nohup setpriv --reuid=www-data --regid=www-data --init-groups \
    env HOME=/var/www REDMINE_INSTANCE="$INSTANCE" RAILS_ENV=production \
    bundle exec rackup -s webrick -o 127.0.0.1 -p "$PORT" -E production "$SERIAL_RU" \
    >"$LOG" 2>&1 </dev/null 9>&- &
  pid=$!
  fi
  cd - >/dev/null
  echo "$pid" >"$PIDFILE"
  for _ in $(seq 1 240); do
    ready && { log "server pid $pid ready on $URL in $(since "$t")s"; return; }
    kill -0 "$pid" 2>/dev/null || { log "server died:"; tail -30 "$LOG" >&2; rm -f "$PIDFILE"; exit 1; }
    sleep 0.25
  done
  log "server not ready after 60s"; tail -30 "$LOG" >&2; exit 1
}

stop_server() {
  [ -f "$PIDFILE" ] || return 0
  local pid; pid=$(cat "$PIDFILE")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    log "stopped pid $pid"
  fi
  rm -f "$PIDFILE"
}

cmd="${1:-start}"
case "$cmd" in
  env)
    running && [ -f "$ENVFILE" ] || { log "Redmine is not running (start it: $0 start)"; exit 1; }
    cat "$ENVFILE"; exit 0 ;;
  start|stop|reset|restore) ;;
  *) echo "usage: $0 start|stop|reset|restore|env" >&2; exit 2 ;;
esac

case "$INSTANCE" in *[!a-z0-9_-]*|"") log "REDMINE_INSTANCE must use only a-z 0-9 _ -"; exit 2 ;; esac
if [ "$DBKIND" = pgsql ]; then
  case "$INSTANCE" in default|pgsql-pristine) log "a pgsql instance needs a name of its own, not '$INSTANCE'"; exit 2 ;; esac
  # shellcheck source=scripts/redmine-pgsql.sh
  . "$SCRIPT_DIR/redmine-pgsql.sh"
fi
# a running server is trusted only if it answers and (SQLite) was configured and started by this
# version of the script (one request at a time: a server an older version started is restarted)
serial() { tr '\0' ' ' <"/proc/$(cat "$PIDFILE")/cmdline" 2>/dev/null | grep -q "$SERIAL_RU"; }
current() { [ "$DBKIND" = pgsql ] || { configured_current && serial; }; }
if [ "$cmd" = start ] && running && ready && current; then cat "$ENVFILE"; exit 0; fi
need_root "$cmd"
mkdir -p "$STATE" "$BASE"
exec 9>"$BASE/lock"; flock 9   # one start/stop/reset at a time on this machine (tests, CI, people)

case "$cmd" in
  start)
    if running && ready && current; then cat "$ENVFILE"; exit 0; fi
    T0=$(now)
    stop_server          # a recorded server that is not answering is restarted, not trusted
    install_redmine
    ensure_webrick
    configure
    if [ "$DBKIND" = pgsql ]; then
      install_pgsql; ensure_postgres; ensure_puma; configure_pgsql; ensure_pgsql_instance
    else
      ensure_instance
    fi
    write_env
    start_server
    log "start took $(since "$T0")s"
    cat "$ENVFILE" ;;
  stop) stop_server ;;
  restore)
    [ -f "$PRISTINE" ] || { log "no pristine snapshot yet: run '$0 start' first"; exit 1; }
    if [ "$DBKIND" = sqlite ] && running && ready && current; then
      T0=$(now)
      # The backup API writes the snapshot's pages into the live file under an exclusive lock; the
      # server's connections see the new content at their next transaction. The server runs one
      # request at a time (serial.ru), so none is half done; the file keeps its owner and mode.
      python3 - "$PRISTINE" "$DB" <<'PY' || { log "restore failed"; exit 1; }
import sqlite3, sys
source = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
target = sqlite3.connect(sys.argv[2], timeout=30)
source.backup(target)
target.close()
source.close()
PY
      log "restore took $(since "$T0")s"
      cat "$ENVFILE"
      exit 0
    fi
    exec 9>&-
    exec bash "$0" reset ;;
  reset)
    [ -f "$PRISTINE" ] || { log "no pristine snapshot yet: run '$0 start' first"; exit 1; }
    T0=$(now)
    stop_server
    if [ "$DBKIND" = pgsql ]; then
      ensure_postgres; ensure_pgsql_instance; restore_pgsql
    else
      ensure_instance
      restore_db
    fi
    write_env
    start_server
    log "reset took $(since "$T0")s"
    cat "$ENVFILE" ;;
esac
