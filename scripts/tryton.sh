#!/usr/bin/env bash
# A local Tryton 8.2 (trytond + project, timesheet, project_invoice, project_revenue and psa-sync's
# own psa_sync_key module) on SQLite, 127.0.0.1: the second real PSA of psa-sync's tests and demo.
#
# Usage (Debian 12, python3 with venv; root not required, root is fine):
#   scripts/tryton.sh start   install into its own venv if needed (pip), build the database once,
#                             start, wait until a login works, print the env (already running: just
#                             print the env)
#   scripts/tryton.sh stop    stop the server this script started (by its recorded PID)
#   scripts/tryton.sh reset   stop, restore the pristine database (company, employee, no projects),
#                             start (~2 s)
#   scripts/tryton.sh env     print the env of a running server
#
# Knobs (environment):
#   TRYTON_PORT        default 8000
#   TRYTON_PASSWORD    default admin12345 (a throwaway loopback instance)
#   TRYTON_STATE_DIR   default /tmp/tryton-psa: config, database, pid, log, tryton.env (one per
#                      instance: e.g. TRYTON_PORT=8002 TRYTON_STATE_DIR=/tmp/tryton-dev2 for a
#                      second one)
#   TRYTON_HOME        default /var/lib/psa-sync-tryton as root, else ~/.cache/psa-sync-tryton:
#                      the venv and the pristine database, shared by every instance on the machine
#
# The env ($TRYTON_STATE_DIR/tryton.env) holds TRYTON_URL (http://127.0.0.1:PORT/DB), TRYTON_DB,
# TRYTON_USER, TRYTON_PASSWORD, TRYTON_COMPANY_ID and TRYTON_EMPLOYEE_ID; TRYTON_NOKEY_URL is a
# second database, the same without psa-sync's psa_sync_key module activated (what `check` says of
# such a Tryton).
# Non-interactive (no stdin), idempotent, serialised by a lock: safe for CI on a fresh machine.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MODULE_SRC="$ROOT/sync/connectors/psa/tryton/module"
PORT="${TRYTON_PORT:-8000}"
PW="${TRYTON_PASSWORD:-admin12345}"
STATE="${TRYTON_STATE_DIR:-/tmp/tryton-psa}"
if [ "$(id -u)" -eq 0 ]; then HOME_DIR_DEFAULT=/var/lib/psa-sync-tryton; else HOME_DIR_DEFAULT="$HOME/.cache/psa-sync-tryton"; fi
BASE="${TRYTON_HOME:-$HOME_DIR_DEFAULT}"
VENV="$BASE/venv"
DBNAME=psa
NOKEY=nokey
CONF="$STATE/trytond.conf"
DBFILE="$STATE/db/$DBNAME.sqlite"
PIDFILE="$STATE/trytond.pid"
LOG="$STATE/trytond.log"
ENVFILE="$STATE/tryton.env"
URL="http://127.0.0.1:$PORT"
PACKAGES=('trytond>=8.2,<8.3' 'trytond-project>=8.2,<8.3' 'trytond-timesheet>=8.2,<8.3'
          'trytond-project-invoice>=8.2,<8.3' 'trytond-project-revenue>=8.2,<8.3'
          'trytond-party>=8.2,<8.3' 'trytond-company>=8.2,<8.3' 'proteus>=8.2,<8.3')

log() { echo "[tryton.sh] $*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }

# /proc rather than kill -0: a caller of "env" may not be allowed to signal another user's server.
running() { [ -f "$PIDFILE" ] && [ -d "/proc/$(cat "$PIDFILE")" ]; }

login() {  # Tryton answers a failed call with HTTP 200 and an "error": only a "result" is a login
  curl -s -H 'Content-Type: application/json' \
    -d "{\"id\":1,\"method\":\"common.db.login\",\"params\":[\"admin\",{\"password\":\"$PW\"},\"en\"]}" \
    "$URL/$DBNAME/rpc/" 2>/dev/null || true
}
ready() { [ -f "$ENVFILE" ] && login | grep -q '"result": *\[[0-9]'; }

install_tryton() {
  if [ -x "$VENV/bin/trytond" ] && "$VENV/bin/python" -c 'import trytond.modules.project_revenue, proteus' 2>/dev/null; then
    return
  fi
  local t; t=$(now)
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "${PACKAGES[@]}" </dev/null >"$BASE/pip.log" 2>&1 \
    || { log "pip install failed:"; tail -30 "$BASE/pip.log" >&2; exit 1; }
  log "installed trytond and modules into $VENV in $(since "$t")s"
}

modules_dir() { "$VENV/bin/python" -c 'import os, trytond.modules as m; print(os.path.dirname(m.__file__))'; }

install_module() {  # psa-sync's module, copied (not linked: the checkout may move) into trytond's modules
  local dest; dest="$(modules_dir)/psa_sync_key"
  rm -rf "$dest.new"; mkdir -p "$dest.new"
  cp "$MODULE_SRC"/tryton.cfg "$MODULE_SRC"/*.py "$MODULE_SRC"/*.xml "$dest.new/"
  if ! diff -rq "$dest.new" "$dest" >/dev/null 2>&1; then rm -rf "$dest"; mv "$dest.new" "$dest"; else rm -rf "$dest.new"; fi
}

setup_py() {  # company, currency, employee (with an hourly cost), via proteus in-process
  cat <<'EOF'
import datetime
import sys
from decimal import Decimal
from proteus import config, Model
cfg = config.set_trytond(sys.argv[2], config_file=sys.argv[1])
Currency = Model.get('currency.currency')
usd = Currency.find([('code', '=', 'USD')])
usd = usd[0] if usd else Currency(name='US Dollar', code='USD', symbol='$', rounding=Decimal('0.01'), digits=2)
usd.save()
Party = Model.get('party.party'); Company = Model.get('company.company'); User = Model.get('res.user')
if not Company.find([]):
    cp = Party(name='PSA Test Company'); cp.save()   # proteus does not cascade: save the party first
    Company(party=cp, currency=usd).save()
company = Company.find([])[0]
admin = User.find([('login', '=', 'admin')])[0]
if company not in admin.companies:
    admin.companies.append(Company(company.id))
admin.company = company
admin.save()
cfg._context = User.get_preferences(True, cfg.context)
Employee = Model.get('company.employee')
if not Employee.find([]):
    ep = Party(name='Delivery Consultant'); ep.save()
    employee = Employee(party=ep, company=company)
    cost = employee.cost_prices.new()
    cost.date = datetime.date(2000, 1, 1)   # before any timesheet line a test or the demo logs
    cost.cost_price = Decimal('60')   # so timesheet hours have a cost (project_revenue's "cost")
    employee.save()
print(f"TRYTON_COMPANY_ID={company.id}")
print(f"TRYTON_EMPLOYEE_ID={Employee.find([])[0].id}")
EOF
}

fingerprint() { { setup_py; cat "$MODULE_SRC"/tryton.cfg "$MODULE_SRC"/*.py "$MODULE_SRC"/*.xml; printf '%s\n' "${PACKAGES[@]}"; } | sha256sum | cut -c1-16; }

build_pristine() {  # once per fingerprint: schema + modules + company, snapshotted
  local fp; fp=$(fingerprint)
  [ -f "$BASE/pristine-$fp.sqlite" ] && [ -f "$BASE/pristine-$fp.env" ] && return
  local t work passfile; t=$(now)
  work=$(mktemp -d "$BASE/build.XXXXXX")
  mkdir -p "$work/db"; touch "$work/db/$DBNAME.sqlite"   # sqlite: the file must exist first
  printf '[database]\nuri = sqlite://\npath = %s/db\n' "$work" >"$work/trytond.conf"
  passfile="$work/pass"; printf '%s\n' "$PW" >"$passfile"
  TRYTONPASSFILE="$passfile" "$VENV/bin/trytond-admin" -c "$work/trytond.conf" -d "$DBNAME" --all \
      --email admin@example.com -u project_invoice project_revenue timesheet psa_sync_key \
      --activate-dependencies </dev/null >"$work/admin.log" 2>&1 \
    || { log "trytond-admin failed:"; tail -30 "$work/admin.log" >&2; exit 1; }
  setup_py >"$work/setup.py"
  "$VENV/bin/python" "$work/setup.py" "$work/trytond.conf" "$DBNAME" </dev/null >"$work/out" 2>"$work/setup.log" \
    || { log "company setup failed:"; tail -30 "$work/setup.log" >&2; exit 1; }
  # trytond runs SQLite in WAL mode: VACUUM INTO makes one self-contained file of the snapshot.
  "$VENV/bin/python" -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute("VACUUM INTO ?", (sys.argv[2],))' \
    "$work/db/$DBNAME.sqlite" "$BASE/pristine-$fp.sqlite.tmp"
  mv "$BASE/pristine-$fp.sqlite.tmp" "$BASE/pristine-$fp.sqlite"
  { echo "TRYTON_USER=admin"; echo "TRYTON_PASSWORD=$PW"; cat "$work/out"; } >"$BASE/pristine-$fp.env"
  rm -rf "$work"
  log "built the pristine database (modules, company, employee) in $(since "$t")s"
}

write_conf() {
  mkdir -p "$STATE/db"
  printf '[database]\nuri = sqlite://\npath = %s/db\n[web]\nlisten = 127.0.0.1:%s\n[session]\nauthentications = password\n' \
    "$STATE" "$PORT" >"$CONF"
}

restore_db() {
  rm -f "$DBFILE-wal" "$DBFILE-shm"; cp "$BASE/pristine-$(fingerprint).sqlite" "$DBFILE"
  # A second database, "nokey": the same one with psa_sync_key not activated, i.e. a Tryton without
  # psa-sync's module (the tests hold `check` against it). Tryton loads only activated modules.
  rm -f "$STATE/db/$NOKEY.sqlite"*; cp "$BASE/pristine-$(fingerprint).sqlite" "$STATE/db/$NOKEY.sqlite"
  "$VENV/bin/python" -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(
    "UPDATE ir_module SET state = ? WHERE name = ?", ("not activated", "psa_sync_key")); c.commit()' \
    "$STATE/db/$NOKEY.sqlite"
  echo "$(fingerprint)" >"$STATE/db.fingerprint"
}

write_env() {
  { echo "TRYTON_URL=$URL/$DBNAME"; echo "TRYTON_DB=$DBNAME"; echo "TRYTON_NOKEY_URL=$URL/$NOKEY"; cat "$BASE/pristine-$(fingerprint).env"; } >"$ENVFILE.tmp"
  mv "$ENVFILE.tmp" "$ENVFILE"
}

start_server() {
  running && return
  local t pid; t=$(now)
  # -d is required: without it the first login fails with KeyError 'res.user' (pool not loaded).
  # 9>&-: the server must not inherit the lock, or the next stop/reset would wait for it forever.
  nohup "$VENV/bin/trytond" -c "$CONF" -d "$DBNAME" "$NOKEY" >"$LOG" 2>&1 </dev/null 9>&- &
  pid=$!; echo "$pid" >"$PIDFILE"
  for _ in $(seq 1 240); do
    ready && { log "server pid $pid ready on $URL/$DBNAME in $(since "$t")s"; return; }
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
    running && [ -f "$ENVFILE" ] || { log "Tryton is not running (start it: $0 start)"; exit 1; }
    cat "$ENVFILE"; exit 0 ;;
  start|stop|reset) ;;
  *) echo "usage: $0 start|stop|reset|env" >&2; exit 2 ;;
esac
mkdir -p "$STATE" "$BASE"
exec 9>"$BASE/lock"; flock 9   # one install/start/stop/reset at a time on this machine

case "$cmd" in
  start)
    T0=$(now)
    install_tryton
    install_module
    build_pristine
    write_conf
    if running && ready && [ "$(cat "$STATE/db.fingerprint" 2>/dev/null)" = "$(fingerprint)" ]; then
      cat "$ENVFILE"; exit 0
    fi
    stop_server          # a recorded server that is not answering (or an older build) is restarted
    [ "$(cat "$STATE/db.fingerprint" 2>/dev/null)" = "$(fingerprint)" ] && [ -f "$DBFILE" ] || restore_db
    write_env
    start_server
    log "start took $(since "$T0")s"
    cat "$ENVFILE" ;;
  stop) stop_server ;;
  reset)
    T0=$(now)
    install_tryton
    install_module
    build_pristine
    write_conf
    stop_server
    restore_db
    write_env
    start_server
    log "reset took $(since "$T0")s"
    cat "$ENVFILE" ;;
esac
