"""The deployment files (issue 14): the GitHub Actions workflows and the
Terraform under deploy/terraform. Pure: no server, no network, standard
library only (it does not import harness, which needs a running stack).

- Every `uses:` of .github/workflows/*.yml is pinned by a full 40-hex commit
  hash with the version in a comment (local `./` actions excepted;
  `docker://` images by sha256 digest); the workflow's default permissions
  are read-only, `packages: write` only in a job that runs on v* tags, and
  every job has a timeout.
- `terraform fmt -check -recursive deploy/terraform` passes when terraform
  is installed (it is not a Debian package: without it the test says that
  fmt was skipped). Either way, what can be checked without providers is:
  brackets balanced in every .tf file; every module called exists as a
  folder with main.tf, variables.tf and outputs.tf; every argument given to
  a module is one of its variables and every variable without a default is
  given; every `var.X` and `local.X` used is declared; every `module.M.O`
  names an output of M.
- Every variable and output has a description; variables named *password
  or *token, and outputs whose value comes from a generated secret, are
  sensitive.
- A few promises of the README and docs/operations.md: the ALB checks
  /readyz and drains, the worker is not behind it, RDS is encrypted with
  backups, ElastiCache has TLS and an auth token, and the data tiers take
  traffic from security groups only, never from an address block.

Run alone: python3 tests/integration/test_deploy_files.py"""

import glob
import os
import re
import shutil
import subprocess

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
WORKFLOWS = os.path.join(ROOT, ".github", "workflows")
TF = os.path.join(ROOT, "deploy", "terraform")

SHA_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
USES_RE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>[^\s#]+)\s*(?P<comment>#.*)?$")
MODULE_META = {"source", "version", "count", "for_each", "providers", "depends_on"}


# --- workflows ----------------------------------------------------------------


def workflow_files():
    return sorted(glob.glob(os.path.join(WORKFLOWS, "*.yml")) + glob.glob(os.path.join(WORKFLOWS, "*.yaml")))


def unpinned_uses(text):
    """[(line number, problem)] for each `uses:` not pinned by a commit hash."""
    problems = []
    for n, line in enumerate(text.splitlines(), 1):
        m = USES_RE.match(line)
        if not m:
            continue
        ref = m.group("ref").strip("'\"")
        if ref.startswith("./"):
            continue  # an action of this repository: pinned by the commit itself
        if ref.startswith("docker://"):
            if not re.search(r"@sha256:[0-9a-f]{64}$", ref):
                problems.append((n, f"{ref}: a docker:// action must be pinned by @sha256 digest"))
            continue
        if not SHA_RE.match(ref):
            problems.append((n, f"{ref}: not pinned by a full 40-hex commit hash"))
        elif not (m.group("comment") and re.search(r"#\s*v?\d", m.group("comment"))):
            problems.append((n, f"{ref}: the pinned hash has no '# vX.Y.Z' comment naming its version"))
    return problems


def jobs_of(text):
    """{job id: its text} of a workflow, by indentation (no YAML parser)."""
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if re.match(r"^jobs:\s*$", line))
    except StopIteration:
        return {}
    jobs, name = {}, None
    for line in lines[start + 1:]:
        if re.match(r"^\S", line):
            break
        m = re.match(r"^  ([A-Za-z0-9_-]+):\s*$", line)
        if m:
            name = m.group(1)
            jobs[name] = []
        elif name:
            jobs[name].append(line)
    return {k: "\n".join(v) for k, v in jobs.items()}


def workflow_problems(text):
    problems = [f"line {n}: {p}" for n, p in unpinned_uses(text)]
    top = re.search(r"^permissions:\s*\n((?:[ \t]+.*\n)+)", text, re.M)
    if not top:
        problems.append("no top-level `permissions:` (the default token would be read-write)")
    elif re.search(r"write", top.group(1)):
        problems.append("the top-level permissions grant a write: grant it in the one job that needs it")
    if re.search(r"permissions:\s*write-all", text):
        problems.append("permissions: write-all")
    jobs = jobs_of(text)
    if not jobs:
        problems.append("no jobs")
    for name, body in jobs.items():
        if "timeout-minutes:" not in body:
            problems.append(f"job {name}: no timeout-minutes")
        if re.search(r"packages:\s*write", body) and "refs/tags/v" not in body:
            problems.append(f"job {name}: packages: write in a job that does not run on v* tags only")
    return problems


def test_workflow_actions_pinned_by_commit():
    files = workflow_files()
    assert files, "no workflow in .github/workflows"
    found = 0
    problems = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        found += sum(1 for line in text.splitlines() if USES_RE.match(line))
        problems += [f"{os.path.relpath(path, ROOT)}: {p}" for p in workflow_problems(text)]
    assert found, "no `uses:` in any workflow (nothing checked out?)"
    assert not problems, "\n".join(problems)
    # The checker itself: a tag, a branch and a short hash are refused.
    for bad in ("actions/checkout@v4", "actions/checkout@main", "actions/checkout@11bd719 # v4.2.2",
                "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683"):
        assert unpinned_uses(f"    steps:\n      - uses: {bad}\n"), f"{bad} passed the pin check"
    assert not unpinned_uses("      - uses: ./.github/actions/local\n")


def test_workflow_runs_the_project_commands():
    with open(os.path.join(WORKFLOWS, "ci.yml"), encoding="utf-8") as f:
        text = f.read()
    for needle in ("bash .ci/run", "make fuzz", "docker build -t finsys:ci .",
                   "terraform fmt -check", "ghcr.io", "pull_request"):
        assert needle in text, f".github/workflows/ci.yml lacks {needle!r}"


# --- Terraform: a small HCL scanner -----------------------------------------------


def mask(text):
    """(text with strings, comments and heredocs blanked (newlines kept), [problems]).
    What is left is HCL's structure: names, operators and brackets."""
    out = list(text)
    problems = []
    n = len(text)

    def blank(a, b):
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    def skip_interp(i):
        depth = 0
        while i < n:
            c = text[i]
            if c == '"':
                i = skip_string(i)
                continue
            if c == "{":
                depth += 1
            elif c == "}":
                if depth == 0:
                    return i + 1
                depth -= 1
            i += 1
        problems.append(f"line {text.count(chr(10), 0, n) + 1}: unterminated ${{...}}")
        return n

    def skip_string(i):
        start = i
        i += 1
        while i < n:
            c = text[i]
            if c == "\\":
                i += 2
                continue
            if c == '"':
                return i + 1
            if text.startswith("$${", i) or text.startswith("%%{", i):
                i += 3
                continue
            if text.startswith("${", i) or text.startswith("%{", i):
                i = skip_interp(i + 2)
                continue
            if c == "\n":
                problems.append(f"line {text.count(chr(10), 0, start) + 1}: unterminated string")
                return i
            i += 1
        problems.append(f"line {text.count(chr(10), 0, start) + 1}: unterminated string")
        return n

    heredoc = re.compile(r"<<-?([A-Za-z_][A-Za-z0-9_]*)[ \t]*\n")
    i = 0
    while i < n:
        c = text[i]
        if c == "#" or text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
            continue
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                problems.append(f"line {text.count(chr(10), 0, i) + 1}: unterminated /* comment")
                j = n
            else:
                j += 2
            blank(i, j)
            i = j
            continue
        if c == '"':
            j = skip_string(i)
            blank(i, j)
            i = j
            continue
        m = heredoc.match(text, i)
        if m:
            delim = m.group(1)
            j = m.end()
            while True:
                k = text.find("\n", j)
                line = text[j:] if k < 0 else text[j:k]
                if line.strip() == delim:
                    j = j + len(line)
                    break
                if k < 0:
                    problems.append(f"line {text.count(chr(10), 0, i) + 1}: heredoc {delim} never ends")
                    j = n
                    break
                j = k + 1
            blank(i, j)
            i = j
            continue
        i += 1
    return "".join(out), problems


def bracket_problems(masked):
    pairs = {")": "(", "]": "[", "}": "{"}
    stack = []
    problems = []
    for i, c in enumerate(masked):
        if c in "([{":
            stack.append((c, i))
        elif c in pairs:
            line = masked.count("\n", 0, i) + 1
            if not stack:
                problems.append(f"line {line}: '{c}' closes nothing")
            elif stack[-1][0] != pairs[c]:
                problems.append(f"line {line}: '{c}' closes '{stack[-1][0]}' of line "
                                f"{masked.count(chr(10), 0, stack[-1][1]) + 1}")
                stack.pop()
            else:
                stack.pop()
    for c, i in stack:
        problems.append(f"line {masked.count(chr(10), 0, i) + 1}: '{c}' never closed")
    return problems


def matching(masked, open_at):
    depth = 0
    for i in range(open_at, len(masked)):
        if masked[i] in "([{":
            depth += 1
        elif masked[i] in ")]}":
            depth -= 1
            if depth == 0:
                return i
    return len(masked)


BLOCK_RE = re.compile(r'^(variable|output|module|locals|resource|data|provider|terraform)\b([^{\n]*)\{', re.M)


def blocks(text):
    """[(kind, [labels], body text, masked body)] of a file's top-level blocks."""
    masked, _ = mask(text)
    out = []
    for m in BLOCK_RE.finditer(text):
        open_at = m.end() - 1
        if masked[open_at] != "{":
            continue  # the match is inside a string or heredoc
        close = matching(masked, open_at)
        labels = re.findall(r'"([^"]*)"', m.group(2))
        out.append((m.group(1), labels, text[open_at + 1:close], masked[open_at + 1:close]))
    return out


def top_attrs(masked_body):
    """Names of the attributes at a block body's own level."""
    flat = []
    depth = 0
    for c in masked_body:
        if c in "([{":
            depth += 1
            flat.append(" ")
        elif c in ")]}":
            depth -= 1
            flat.append(" ")
        else:
            flat.append(c if depth == 0 or c == "\n" else " ")
    return re.findall(r"^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=(?!=)", "".join(flat), re.M)


def attr(body, name):
    m = re.search(rf'^\s*{name}\s*=\s*(.+)$', body, re.M)
    return m.group(1).strip() if m else None


class Module:
    """The .tf files of one folder: its variables, outputs, locals, modules."""

    def __init__(self, folder):
        self.folder = folder
        self.files = {}
        for path in sorted(glob.glob(os.path.join(folder, "*.tf"))):
            with open(path, encoding="utf-8") as f:
                self.files[path] = f.read()
        self.variables, self.outputs, self.locals, self.modules = {}, {}, set(), {}
        for path, text in self.files.items():
            for kind, labels, body, masked in blocks(text):
                if kind == "variable":
                    self.variables[labels[0]] = (path, body)
                elif kind == "output":
                    self.outputs[labels[0]] = (path, body)
                elif kind == "locals":
                    self.locals.update(top_attrs(masked))
                elif kind == "module":
                    self.modules[labels[0]] = (path, body, top_attrs(masked))

    def uses(self, prefix):
        """{name: first file using it} of every `prefix.name` in the module's code."""
        found = {}
        for path, text in self.files.items():
            code = re.sub(r"(?m)^\s*#.*$", "", text)
            for m in re.finditer(rf"\b{prefix}\.([A-Za-z_][A-Za-z0-9_-]*)", code):
                found.setdefault(m.group(1), path)
        return found


def tf_folders():
    folders = [TF] + sorted(d for d in glob.glob(os.path.join(TF, "modules", "*")) if os.path.isdir(d))
    return [Module(d) for d in folders]


def structure_problems():
    problems = []
    rel = lambda p: os.path.relpath(p, ROOT)  # noqa: E731
    tf_files = sorted(glob.glob(os.path.join(TF, "**", "*.tf"), recursive=True))
    if not tf_files:
        return ["no .tf file under deploy/terraform"]
    for path in tf_files:
        if "/.terraform/" in path:
            continue
        with open(path, encoding="utf-8") as f:
            masked, problems_here = mask(f.read())
        problems += [f"{rel(path)}: {p}" for p in problems_here + bracket_problems(masked)]
    modules = {m.folder: m for m in tf_folders()}
    for mod in modules.values():
        for name, path in mod.uses("var").items():
            if name not in mod.variables:
                problems.append(f"{rel(path)}: var.{name} is not declared in {rel(mod.folder)}/variables.tf")
        for name, path in mod.uses("local").items():
            if name not in mod.locals:
                problems.append(f"{rel(path)}: local.{name} is not declared in any locals block")
        for name, (path, body, args) in mod.modules.items():
            source = re.search(r'^\s*source\s*=\s*"([^"]+)"', body, re.M)
            if not source or not source.group(1).startswith("./"):
                problems.append(f"{rel(path)}: module {name} has no local ./ source")
                continue
            folder = os.path.normpath(os.path.join(mod.folder, source.group(1)))
            missing = [f for f in ("main.tf", "variables.tf", "outputs.tf")
                       if not os.path.isfile(os.path.join(folder, f))]
            if missing:
                problems.append(f"{rel(path)}: module {name}: {rel(folder)} lacks {', '.join(missing)}")
                continue
            callee = modules.get(folder) or Module(folder)
            for arg in args:
                if arg not in MODULE_META and arg not in callee.variables:
                    problems.append(f"{rel(path)}: module {name} is given {arg}, not a variable of {rel(folder)}")
            for var, (_, vbody) in callee.variables.items():
                if "default" not in top_attrs(mask(vbody)[0]) and var not in args:
                    problems.append(f"{rel(path)}: module {name} lacks {var} (required by {rel(folder)})")
        code = "\n".join(re.sub(r"(?m)^\s*#.*$", "", t) for t in mod.files.values())
        for m in re.finditer(r"\bmodule\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)", code):
            name, out = m.groups()
            if name not in mod.modules:
                problems.append(f"{rel(mod.folder)}: module.{name} is used but not called")
                continue
            source = re.search(r'^\s*source\s*=\s*"([^"]+)"', mod.modules[name][1], re.M)
            folder = os.path.normpath(os.path.join(mod.folder, source.group(1)))
            callee = modules.get(folder) or Module(folder)
            if out not in callee.outputs:
                problems.append(f"{rel(mod.folder)}: module.{name}.{out} is not an output of {rel(folder)}")
    return sorted(set(problems))


def test_terraform_fmt_and_structure():
    problems = structure_problems()
    assert not problems, "\n".join(problems)
    exe = shutil.which("terraform")
    if not exe:
        print("terraform fmt skipped: terraform is not installed (checked brackets, modules and "
              "references without it)", flush=True)
        return
    r = subprocess.run([exe, "fmt", "-check", "-recursive", "-diff", TF], capture_output=True, text=True,
                       timeout=120, env={**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"})
    assert r.returncode == 0, (f"terraform fmt -check -recursive deploy/terraform failed "
                               f"(run `terraform fmt -recursive deploy/terraform`):\n{r.stdout}{r.stderr}")


def test_terraform_variables_and_outputs_described():
    problems = []
    for mod in tf_folders():
        where = os.path.relpath(mod.folder, ROOT)
        if not mod.variables:
            problems.append(f"{where}: no variables")
        for name, (path, body) in mod.variables.items():
            desc = attr(body, "description")
            if not desc or desc in ('""', "''"):
                problems.append(f"{where}: variable {name} has no description")
            if not attr(body, "type"):
                problems.append(f"{where}: variable {name} has no type")
            if re.search(r"(password|token)$", name) and attr(body, "sensitive") != "true":
                problems.append(f"{where}: variable {name} holds a secret but is not sensitive")
        for name, (path, body) in mod.outputs.items():
            desc = attr(body, "description")
            if not desc or desc in ('""', "''"):
                problems.append(f"{where}: output {name} has no description")
            value = attr(body, "value") or ""
            if re.search(r"random_password|random_id|secret_string", value) and attr(body, "sensitive") != "true":
                problems.append(f"{where}: output {name} comes from a generated secret but is not sensitive")
    assert not problems, "\n".join(problems)


def _read(*parts):
    with open(os.path.join(TF, *parts), encoding="utf-8") as f:
        return f.read()


def test_terraform_keeps_its_promises():
    lb = _read("modules", "loadbalancer", "main.tf")
    assert re.search(r'path\s*=\s*"/readyz"', lb), "the ALB's health check is not /readyz"
    assert re.search(r"deregistration_delay\s*=", lb), "the target group does not drain"
    root = _read("main.tf")
    worker = root[root.index('module "worker"'):]
    worker = worker[:worker.index("\n}\n")]
    assert re.search(r"target_group_arn\s*=\s*null", worker), "the worker must not be behind the ALB"
    assert "redis_tls" in worker and "redis_tls" in root[root.index('module "server"'):], \
        "servers and workers need the stunnel sidecar (hiredis has no TLS)"
    assert re.search(r'redis://:\$\{[^}]+\}@127\.0\.0\.1:6379', root), \
        "FINSYS_REDIS_URL must point at the sidecar's local end, an IP address"
    db = _read("modules", "database", "main.tf")
    for needle in (r"storage_encrypted\s*=\s*true", r"multi_az\s*=\s*var\.multi_az",
                   r"backup_retention_period\s*=\s*var\.", r"publicly_accessible\s*=\s*false",
                   r'"rds\.force_ssl"'):
        assert re.search(needle, db), f"modules/database lacks {needle}"
    cache = _read("modules", "cache", "main.tf")
    for needle in (r"transit_encryption_enabled\s*=\s*true", r"auth_token\s*=\s*var\.auth_token",
                   r"at_rest_encryption_enabled\s*=\s*true"):
        assert re.search(needle, cache), f"modules/cache lacks {needle}"
    sg = _read("modules", "security", "main.tf")
    for kind, labels, body, _ in blocks(sg):
        if kind == "resource" and labels[0] == "aws_vpc_security_group_ingress_rule" and "cidr_ipv4" in body:
            assert labels[1] == "alb_https", \
                f"ingress rule {labels[1]} opens to an address block: only the ALB's 443 may"
    for port in ("5432", "6379", "2049"):
        assert re.search(rf"from_port\s*=\s*{port}", sg), f"no security group rule for port {port}"


if __name__ == "__main__":
    import sys
    import traceback

    failed = 0
    for test_name, fn in list(globals().items()):
        if test_name.startswith("test_") and callable(fn):
            try:
                fn()
                print(f"ok    {test_name}")
            except Exception:  # noqa: BLE001 - report every failure
                failed += 1
                print(f"FAIL  {test_name}")
                traceback.print_exc(limit=3, file=sys.stdout)
    sys.exit(1 if failed else 0)
