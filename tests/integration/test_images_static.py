"""The container images and the compose file (issue 14), checked without
building or running anything: the cheap half of `make test-images`
(tests/containers/test_images.sh builds the images and runs the stack).
Pure: no server, no network, standard library only (it does not import
harness, which needs a running stack); PyYAML is used when installed.

- Dockerfile: ARG BASE (default debian:bookworm) before a `build` stage and
  a runtime stage, both FROM ${BASE}; the build stage installs the -dev
  package of every dependency() of meson.build (found through its
  pkg-config file and dpkg -S) plus meson, ninja and gcc, and builds a
  release without sanitizers; the runtime stage installs no -dev package
  and no compiler, copies the binary from the build stage and the
  migrations and functions, runs as a user that is not root, has a
  HEALTHCHECK, ENTRYPOINT ["finsys"] and CMD ["server"].
- The runtime libraries: every library the binary links (readelf -d:
  NEEDED, of FINSYS_IMAGES_BINARY, build/finsys or build-asan/finsys, the
  sanitizers' runtimes aside) is shipped by a package the runtime stage installs
  (dpkg -S), libc6 aside (in every Debian base); and every library package
  installed there is needed by one of them (nothing extra).
- deploy/images/*/Dockerfile: FROM ${BASE} with the same default, a USER
  that is not root.
- deploy/compose.yml: the services postgres, redis, nats, provider-sim,
  migrate, server and worker; every image is localhost/ and built by a
  service of the file from a Dockerfile of this repository; no
  network_mode (podman-compose 1.0.3 fails on it), no depends_on condition
  (ignored there); ports published on 127.0.0.1 only; no FINSYS_DEV; every
  FINSYS_* variable it sets is documented in docs/operations.md.
- finsys-resolve-redis (the compose stack's entrypoint) rewrites a Redis
  URL's host name into its address and leaves an address or no URL alone.
- .dockerignore keeps out .git, build output, var and node_modules.

Run alone: python3 tests/integration/test_images_static.py"""

import glob
import os
import re
import shutil
import subprocess

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DOCKERFILE = os.path.join(ROOT, "Dockerfile")
COMPOSE = os.path.join(ROOT, "deploy", "compose.yml")
SERVICES = {"postgres", "redis", "nats", "provider-sim", "migrate", "server", "worker"}
SANITIZER_LIBS = ("libasan.", "libubsan.", "liblsan.", "libtsan.")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def instructions(text):
    """A Dockerfile's instructions, continuation lines joined and comments
    dropped: [(KEYWORD, arguments)]."""
    out, cur = [], ""
    for line in text.splitlines():
        s = line.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if s.startswith("#"):
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        word, _, rest = cur.partition(" ")
        out.append((word.upper(), rest.strip()))
        cur = ""
    return out


def stages(text):
    """[(name or None, [(KEYWORD, args)])] per FROM, and the instructions
    before the first FROM."""
    pre, result = [], []
    for kw, args in instructions(text):
        if kw == "FROM":
            m = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", args, re.I)
            assert m, f"FROM {args}"
            result.append((m.group(2), m.group(1), []))
        elif result:
            result[-1][2].append((kw, args))
        else:
            pre.append((kw, args))
    return pre, result


def apt_packages(insts):
    pkgs = []
    for kw, args in insts:
        if kw != "RUN":
            continue
        for m in re.finditer(r"apt-get install((?:\s+(?:-\S+|[a-z0-9][a-z0-9.+-]*))+)", args):
            pkgs += [w for w in m.group(1).split() if not w.startswith("-")]
    return pkgs


def dpkg_owners(paths):
    """{path: the package that ships it (dpkg -S, without :arch)}, in one
    call of dpkg (each reads its whole database): a path is looked up as
    given and as its real path."""
    want = {}
    for p in paths:
        want.setdefault(p, p)
        want.setdefault(os.path.realpath(p), p)
    r = subprocess.run(["dpkg", "-S", *want], capture_output=True, text=True)
    out = {}
    for line in r.stdout.splitlines():
        pkg, sep, path = line.partition(": ")
        if sep and path in want:
            out.setdefault(want[path], pkg.split(",")[0].split(":")[0].strip())
    return out


def test_dockerfile_stages():
    pre, st = stages(read(DOCKERFILE))
    assert ("ARG", "BASE=debian:bookworm") in pre, pre
    assert len(st) == 2, [s[0] for s in st]
    (build_name, build_from, build), (run_name, run_from, run) = st
    assert build_name == "build" and build_from == run_from == "${BASE}", (build_from, run_from)
    build_text = " ".join(a for _, a in build)
    assert "meson setup" in build_text and "--buildtype=release" in build_text, build_text
    assert "b_sanitize" not in build_text and "ninja -C build" in build_text
    bpkgs = apt_packages(build)
    for p in ("gcc", "meson", "ninja-build", "pkg-config"):
        assert p in bpkgs, (p, bpkgs)
    rpkgs = apt_packages(run)
    assert rpkgs, "the runtime stage installs nothing"
    bad = [p for p in rpkgs if p.endswith("-dev") or p in ("gcc", "meson", "ninja-build", "clang")]
    assert not bad, f"build tools in the runtime stage: {bad}"
    copies = [a for k, a in run if k == "COPY"]
    assert any(a.startswith("--from=build ") and "build/finsys" in a for a in copies), copies
    assert any("db/migrations" in a for a in copies) and any("db/functions" in a for a in copies)
    users = [a for k, a in run if k == "USER"]
    assert users and users[-1] not in ("root", "0") and not users[-1].startswith("0:"), users
    env = " ".join(a for k, a in run if k == "ENV")
    assert "FINSYS_MIGRATIONS_DIR=/usr/share/finsys/db/migrations" in env, env
    assert "FINSYS_HTTP_HOST=0.0.0.0" in env, env
    hc = [a for k, a in run if k == "HEALTHCHECK"]
    assert len(hc) == 1 and "CMD" in hc[0] and "finsys-healthcheck" in hc[0], hc
    assert ("ENTRYPOINT", '["finsys"]') in run, [a for k, a in run if k == "ENTRYPOINT"]
    assert ("CMD", '["server"]') in run, [a for k, a in run if k == "CMD"]
    # What the runtime stage copies from the context exists.
    for a in copies:
        if a.startswith("--from="):
            continue
        for src in a.split()[:-1]:
            assert os.path.exists(os.path.join(ROOT, src)), src


def test_build_stage_has_every_dev_package():
    """Each dependency() of meson.build is found, in the build stage, through
    a -dev package it installs (the package owning the .pc file here)."""
    if not shutil.which("pkg-config") or not shutil.which("dpkg"):
        print("  (no pkg-config or dpkg: skipped)")
        return
    _, st = stages(read(DOCKERFILE))
    bpkgs = set(apt_packages(st[0][2]))
    names = re.findall(r"dependency\('([^']+)'\)", read(os.path.join(ROOT, "meson.build")))
    names = [n for n in names if n not in ("threads", "cmocka")]
    assert "libpq" in names and "libnats" in names, names
    pcs = {}
    for n in names:
        r = subprocess.run(["pkg-config", "--path", n], capture_output=True, text=True)
        pcs[n] = r.stdout.strip()
        assert r.returncode == 0 and os.path.exists(pcs[n]), \
            f"no pkg-config file for {n} (make deps)"
    owners = dpkg_owners(pcs.values())
    missing = []
    for n, pc in pcs.items():
        assert pc in owners, f"{pc} belongs to no package"
        if owners[pc] not in bpkgs:
            missing.append(f"{n} ({owners[pc]})")
    assert not missing, f"the build stage lacks: {missing}"


def test_runtime_stage_ships_exactly_the_linked_libraries():
    binary = next((b for b in (os.environ.get("FINSYS_IMAGES_BINARY", ""),
                               os.path.join(ROOT, "build", "finsys"),
                               os.path.join(ROOT, "build-asan", "finsys")) if os.path.exists(b)),
                  None)
    if binary is None or not shutil.which("readelf") or not shutil.which("dpkg"):
        print("  (no build/finsys, readelf or dpkg: skipped)")
        return
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]",
                        subprocess.run(["readelf", "-d", binary], capture_output=True,
                                       text=True, check=True).stdout)
    needed = [n for n in needed if not n.startswith(SANITIZER_LIBS + ("ld-linux",))]
    assert "libpq.so.5" in needed, needed
    # Where each soname resolves (ldd), then its package (dpkg -S).
    paths = dict(re.findall(r"^\s*(\S+) => (/\S+)", subprocess.run(
        ["ldd", binary], capture_output=True, text=True, check=True).stdout, re.M))
    _, st = stages(read(DOCKERFILE))
    rpkgs = set(apt_packages(st[1][2]))
    for n in needed:
        assert n in paths, f"{n} does not resolve here"
    by_path = dpkg_owners(paths[n] for n in needed)
    owners, missing = set(), []
    for n in needed:
        owner = by_path.get(paths[n])
        assert owner, f"{paths[n]} belongs to no package"
        owners.add(owner)
        if owner != "libc6" and owner not in rpkgs:
            missing.append(f"{n} ({owner})")
    assert not missing, f"the runtime stage does not install: {missing}"
    extra = [p for p in rpkgs if p.startswith("lib") and p not in owners]
    assert not extra, f"the runtime stage installs libraries finsys does not link: {extra}"


def test_stack_dockerfiles():
    files = sorted(glob.glob(os.path.join(ROOT, "deploy", "images", "*", "Dockerfile")))
    assert {os.path.basename(os.path.dirname(f)) for f in files} >= {"postgres", "redis", "nats"}
    for f in files:
        pre, st = stages(read(f))
        assert ("ARG", "BASE=debian:bookworm") in pre, f
        assert [s[1] for s in st] == ["${BASE}"], f
        users = [a for k, a in st[-1][2] if k == "USER"]
        assert users and users[-1] not in ("root", "0"), f
        for kw, args in st[-1][2]:
            if kw == "COPY":
                for src in args.split()[:-1]:
                    assert os.path.exists(os.path.join(os.path.dirname(f), src)), (f, src)


def load_compose():
    text = read(COMPOSE)
    try:
        import yaml  # noqa: PLC0415 - optional
    except ImportError:
        return text, None
    return text, yaml.safe_load(text)


def compose_services(text):
    """Without PyYAML: each service's block of lines (two-space keys under
    `services:`)."""
    blocks, cur, inside = {}, None, False
    for line in text.splitlines():
        if re.match(r"^\S", line):
            inside = line.startswith("services:")
            cur = None
            continue
        m = re.match(r"^  ([a-z][a-z0-9-]*):\s*$", line)
        if inside and m:
            cur = m.group(1)
            blocks[cur] = []
        elif inside and cur:
            blocks[cur].append(line)
    return blocks


def test_compose_file():
    text, doc = load_compose()
    assert "network_mode" not in text, "podman-compose 1.0.3 fails on network_mode"
    assert "condition:" not in text, "podman-compose 1.0.3 ignores depends_on conditions"
    assert not re.search(r"FINSYS_DEV\s*[:=]", text), "FINSYS_DEV in the compose file"
    if doc is not None:
        services = doc["services"]
        images = {n: s["image"] for n, s in services.items()}
        builds = {n: s.get("build") for n, s in services.items()}
        ports = [p for s in services.values() for p in s.get("ports", [])]
    else:
        blocks = compose_services(text)
        services = blocks
        images = {n: re.search(r"^\s+image:\s*(\S+)", "\n".join(b), re.M).group(1)
                  for n, b in blocks.items()}
        builds = {}
        for n, b in blocks.items():
            m = re.search(r"^\s+context:\s*(\S+)", "\n".join(b), re.M)
            builds[n] = {"context": m.group(1)} if m else None
        ports = re.findall(r'^\s+- "([^"]*:\d+)"\s*$', text, re.M)
    assert set(services) == SERVICES, sorted(services)
    built = {}
    for n, b in builds.items():
        if b is None:
            continue
        ctx = os.path.normpath(os.path.join(os.path.dirname(COMPOSE), b["context"]))
        assert os.path.exists(os.path.join(ctx, "Dockerfile")), (n, ctx)
        built[images[n]] = ctx
    for n, image in images.items():
        assert image.startswith("localhost/"), (n, image)
        assert image in built, f"{n}'s image {image} is built by no service of the file"
    assert os.path.normpath(built["localhost/finsys:${FINSYS_IMAGE_TAG:-latest}"]) == ROOT
    assert ports, "nothing published"
    for p in ports:
        assert p.startswith("127.0.0.1:"), f"port {p} is not on loopback"
    if doc is not None:
        for n in ("server", "worker", "migrate"):
            assert services[n]["entrypoint"][0] == "finsys-resolve-redis", services[n]
        for n in ("server", "worker"):
            assert services[n].get("restart") in ("on-failure", "unless-stopped", "always")
        assert "finsys migrate" in " ".join(services["migrate"]["entrypoint"])
    # Every FINSYS_* variable it sets is one FinSys reads, as documented.
    ops = read(os.path.join(ROOT, "docs", "operations.md"))
    own = {"FINSYS_IMAGE_TAG", "FINSYS_BASE_IMAGE", "FINSYS_DB_PASSWORD", "FINSYS_REDIS_PASSWORD",
           "FINSYS_PUBLISH_HTTP_PORT", "FINSYS_PUBLISH_WORKER_PORT", "FINSYS_SIM_DECLINE_RATE",
           "FINSYS_SIM_ERROR_RATE"}
    for var in sorted(set(re.findall(r"\b(FINSYS_[A-Z0-9_]+)\s*:", text))):
        assert var in own or f"`{var}`" in ops, f"{var} is not in docs/operations.md"
    for var in own:
        assert var in ops, f"{var} (deploy/compose.yml) is not in docs/operations.md"


def test_resolve_redis():
    script = os.path.join(ROOT, "deploy", "images", "finsys", "finsys-resolve-redis")
    assert os.access(script, os.X_OK), script

    def run(url):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "FINSYS_RESOLVE_WAIT_S": "1"}
        if url is not None:
            env["FINSYS_REDIS_URL"] = url
        r = subprocess.run(["sh", script, "sh", "-c", 'printf %s "${FINSYS_REDIS_URL-unset}"'],
                           capture_output=True, text=True, env=env, timeout=10)
        assert r.returncode == 0, r.stderr
        return r.stdout

    assert run("redis://:pw@localhost:6390") == "redis://:pw@127.0.0.1:6390"
    assert run("redis://u:p@localhost") == "redis://u:p@127.0.0.1"
    assert run("redis://10.1.2.3:6379") == "redis://10.1.2.3:6379"
    assert run("") == ""
    assert run(None) == "unset"
    for s in ("finsys-resolve-redis", "finsys-healthcheck"):
        shell = "bash" if s == "finsys-healthcheck" else "sh"
        path = os.path.join(ROOT, "deploy", "images", "finsys", s)
        assert subprocess.run([shell, "-n", path]).returncode == 0, s


def test_dockerignore():
    lines = {ln.strip() for ln in read(os.path.join(ROOT, ".dockerignore")).splitlines()}
    for p in (".git", "build", "build-*", "var", "node_modules", "web/node_modules"):
        assert p in lines, p


if __name__ == "__main__":
    import sys
    import traceback

    failed = 0
    for name, fn in list(globals().items()):
        if name.startswith("test_") and callable(fn):
            try:
                fn()
                print(f"ok    {name}")
            except Exception:  # noqa: BLE001
                failed += 1
                print(f"FAIL  {name}")
                traceback.print_exc(limit=2)
    sys.exit(1 if failed else 0)
