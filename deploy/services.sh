# shellcheck shell=bash
# Shared by run.sh and test.sh: install nats-server and PostgreSQL from Debian's packages
# when missing, start them on loopback, create the database role the tests use.
# Works as root or through sudo; changes nothing that is already in place.

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_install() {
    if [ "$apt_updated" = 0 ]; then
        as_root apt-get update -qq
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

nats_bin() { command -v nats-server || { [ -x /usr/sbin/nats-server ] && echo /usr/sbin/nats-server; }; }

ensure_nats_binary() {
    if [ -z "$(nats_bin)" ]; then
        echo "installing nats-server from Debian's packages"
        apt_install nats-server
    fi
}

# Starts a nats-server with JetStream on 127.0.0.1:4222 unless one listens there already.
# Headless Chromium and its WebDriver, for the browser tests (review pack, web UI).
ensure_chromium() {
    if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
        echo "installing chromium and chromium-driver from Debian's packages"
        apt_install chromium chromium-driver
    fi
    # Chinese glyphs for the UI's screenshots (the browser tests save them as artefacts).
    if ! fc-list :lang=zh 2>/dev/null | grep -q .; then
        echo "installing fonts-noto-cjk from Debian's packages"
        apt_install fonts-noto-cjk
    fi
}

ensure_nats_running() {
    ensure_nats_binary
    if (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; then return 0; fi
    mkdir -p data/nats
    echo "starting nats-server (JetStream, data/nats, log data/nats-server.log)"
    nohup "$(nats_bin)" -c deploy/nats/single.conf >data/nats-server.log 2>&1 &
    for _ in $(seq 1 50); do
        (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nats-server did not start; see data/nats-server.log" >&2
    return 1
}

pg_version() { ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1; }

ensure_postgres() {
    if ! command -v pg_ctlcluster >/dev/null 2>&1; then
        echo "installing PostgreSQL from Debian's packages"
        apt_install postgresql
    fi
    if ! pg_isready -q -h 127.0.0.1 -p 5432; then
        local v
        v=$(pg_version)
        if [ -z "$v" ] || [ ! -d "/etc/postgresql/$v/main" ]; then
            v=${v:-$(ls /usr/lib/postgresql | sort -V | tail -n 1)}
            as_root pg_createcluster "$v" main >/dev/null
        fi
        echo "starting PostgreSQL $v"
        as_root pg_ctlcluster --skip-systemctl-redirect "$v" main start
        for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
    fi
    # The role the tests and the service use: password login on loopback, may create databases.
    as_root su postgres -c "psql -qtA -c \"DO \\\$\\\$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'referral') THEN
            CREATE ROLE referral LOGIN CREATEDB PASSWORD 'referral';
        END IF; END \\\$\\\$;\"" >/dev/null
}

# Drops test databases left behind by killed test runs.
drop_stale_test_databases() {
    local url=$1
    psql "$url" -qtA -c "SELECT datname FROM pg_database WHERE datname LIKE 'referral\_test\_%'" 2>/dev/null |
        while read -r db; do psql "$url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; done
}
