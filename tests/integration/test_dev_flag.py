"""The database role of finsys server and worker (issue 13; docs/operations.md,
"Production settings"): outside development they refuse a superuser, and a
connection that needed no password (trust), with a message naming the
setting; FINSYS_DEV=1 (which scripts/test.sh sets for the other tests, whose
PostgreSQL is the dev stack's: trust and its superuser) or --dev lets them
start. A role without superuser that logs in with a scram-sha-256 password
starts without it."""

import os
import secrets
import subprocess
import time
import urllib.error
import urllib.request

from harness import DATABASE_URL, FINSYS_BIN, TEST_TMP, free_port, sql

SECONDS = 30


def _env(**extra):
    e = {k: v for k, v in os.environ.items() if k != "FINSYS_DEV"}
    e["FINSYS_HTTP_HOST"] = "127.0.0.1"
    e["FINSYS_WORKER_PORT"] = "0"
    e.update(extra)
    return e


def _refused(cmd, env, *args):
    r = subprocess.run([FINSYS_BIN, cmd, *args], env=env, capture_output=True, text=True,
                       timeout=SECONDS)
    return r


def _healthy(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def _start_server(env, *args):
    """Starts a server, waits for /healthz, stops it; its exit status and log."""
    port = free_port()
    env = dict(env, FINSYS_HTTP_PORT=str(port))
    log_path = os.path.join(TEST_TMP, f"dev-flag-{port}.log")
    with open(log_path, "w") as log:
        p = subprocess.Popen([FINSYS_BIN, "server", *args], env=env, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + SECONDS
            up = False
            while time.monotonic() < deadline and p.poll() is None:
                if _healthy(port):
                    up = True
                    break
                time.sleep(0.1)
        finally:
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=SECONDS)
    with open(log_path) as f:
        return up, p.returncode, f.read()


def test_server_refuses_a_superuser_without_the_dev_flag():
    r = _refused("server", _env(FINSYS_HTTP_PORT=str(free_port())))
    assert r.returncode != 0, r
    assert "superuser" in r.stderr and "FINSYS_DEV=1" in r.stderr, r.stderr
    assert "Production settings" in r.stderr, r.stderr


def test_worker_refuses_a_superuser_without_the_dev_flag():
    r = _refused("worker", _env())
    assert r.returncode != 0, r
    assert "worker refuses to start" in r.stderr and "superuser" in r.stderr, r.stderr


def test_server_starts_with_the_dev_flag():
    up, _, log = _start_server(_env(), "--dev")
    assert up, log
    up, _, log = _start_server(_env(FINSYS_DEV="1"))
    assert up, log
    assert "refuses" not in log


def test_dev_flag_takes_only_0_or_1():
    r = _refused("server", _env(FINSYS_DEV="yes"))
    assert r.returncode == 2 and "FINSYS_DEV" in r.stderr, r


def _pg_hba():
    home = TEST_TMP
    rec = os.path.join(TEST_TMP, "pg-home")
    if os.path.exists(rec):
        with open(rec) as f:
            home = f.read().strip()
    return os.path.join(home, "pg", "pg_hba.conf")


def _with_role(password, fn):
    """Runs fn(url) with a new LOGIN role without superuser (with password, if
    any, checked with scram-sha-256 for it alone); drops it after."""
    role = "fs_app_" + secrets.token_hex(4)
    hba = _pg_hba()
    with open(hba) as f:
        original = f.read()
    try:
        pw = f" PASSWORD '{password}'" if password else ""
        sql(f"CREATE ROLE {role} LOGIN NOSUPERUSER{pw}; "
            f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}; "
            f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}")
        if password:
            with open(hba, "w") as f:
                f.write(f"host finsys {role} 127.0.0.1/32 scram-sha-256\n" + original)
            sql("SELECT pg_reload_conf()")
        url = DATABASE_URL.replace("user=postgres", f"user={role}")
        assert url != DATABASE_URL, DATABASE_URL
        if password:
            url += f" password={password}"
        return fn(url, role)
    finally:
        with open(hba, "w") as f:
            f.write(original)
        sql("SELECT pg_reload_conf()")
        sql(f"DROP OWNED BY {role}; DROP ROLE IF EXISTS {role}")


def test_server_refuses_a_connection_without_a_password():
    def run(url, role):
        return _refused("server", _env(FINSYS_DATABASE_URL=url,
                                       FINSYS_HTTP_PORT=str(free_port())))
    r = _with_role(None, run)
    assert r.returncode != 0, r
    assert "without a password" in r.stderr and "scram-sha-256" in r.stderr, r.stderr
    assert "FINSYS_DEV=1" in r.stderr, r.stderr


def test_server_starts_as_a_role_with_a_scram_password():
    password = secrets.token_hex(12)
    up, _, log = _with_role(password,
                            lambda url, role: _start_server(_env(FINSYS_DATABASE_URL=url)))
    assert up, log
    assert "refuses" not in log and password not in log, log


def _readyz(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def test_a_connection_made_later_as_a_superuser_is_closed():
    """Started as a proper role, which then becomes a superuser: the
    connections the server makes after its own were cut are refused (logged,
    /readyz 503), without the process exiting."""
    password = secrets.token_hex(12)

    def run(url, role):
        port = free_port()
        env = _env(FINSYS_DATABASE_URL=url, FINSYS_HTTP_PORT=str(port))
        log_path = os.path.join(TEST_TMP, f"dev-flag-later-{port}.log")
        with open(log_path, "w") as log:
            p = subprocess.Popen([FINSYS_BIN, "server"], env=env, stdout=log, stderr=log)
            try:
                deadline = time.monotonic() + SECONDS
                while time.monotonic() < deadline and _readyz(port) != 200:
                    assert p.poll() is None, "the server exited"
                    time.sleep(0.1)
                assert _readyz(port) == 200
                sql(f"ALTER ROLE {role} SUPERUSER; SELECT pg_terminate_backend(pid) "
                    f"FROM pg_stat_activity WHERE usename = '{role}'")
                deadline = time.monotonic() + SECONDS
                while time.monotonic() < deadline and _readyz(port) != 503:
                    time.sleep(0.1)
                # 503 comes with the lost connections; the refusal with the
                # first one made again (after a back-off): wait for it too.
                while time.monotonic() < deadline:
                    with open(log_path) as f:
                        if "a superuser" in f.read():
                            break
                    time.sleep(0.1)
                status = _readyz(port)
                alive = p.poll() is None
            finally:
                if p.poll() is None:
                    p.terminate()
                    p.wait(timeout=SECONDS)
        with open(log_path) as f:
            return status, alive, f.read()

    status, alive, log = _with_role(password, run)
    assert status == 503 and alive, (status, log[-2000:])
    assert "a superuser" in log and "FINSYS_DEV=1" in log, log[-2000:]
