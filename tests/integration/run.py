"""Runs every test_* function of the tests/integration/test_*.py modules, in
file and definition order, and prints "integration: N passed, N failed".
Arguments, if any, are substrings selecting tests by name.

With FINSYS_TEST_QUEUE (a file), several runners, each against a stack of
its own (scripts/test.sh's integration shards), share the modules: each
takes the next module not yet taken, in file order, so that they end about
together. The test_zz_* modules (checks of the whole run's logs) run last in
every runner, on what that runner did."""

import fcntl
import importlib.util
import inspect
import os
import sys
import time
import traceback

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)

selected = sys.argv[1:]
queue = os.environ.get("FINSYS_TEST_QUEUE")
passed = failed = 0

names = sorted(n for n in os.listdir(here) if n.startswith("test_") and n.endswith(".py"))
shared = [n for n in names if not n.startswith("test_zz_")]
last = [n for n in names if n.startswith("test_zz_")]


def claim():
    """The index in shared of the next module no runner has taken."""
    with open(queue, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        n = int(f.read().strip() or 0)
        f.seek(0)
        f.truncate()
        f.write(str(n + 1))
        f.flush()
        return n


def modules():
    if queue is None:
        yield from shared
    else:
        i = claim()
        while i < len(shared):
            yield shared[i]
            i = claim()
    yield from last


for name in modules():
    spec = importlib.util.spec_from_file_location(name[:-3], os.path.join(here, name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tests = [(n, f) for n, f in vars(module).items()
             if n.startswith("test_") and inspect.isfunction(f) and f.__module__ == module.__name__]
    tests.sort(key=lambda t: t[1].__code__.co_firstlineno)
    for test_name, fn in tests:
        full = f"{name[:-3]}.{test_name}"
        if selected and not any(s in full for s in selected):
            continue
        start = time.monotonic()
        try:
            fn()
            passed += 1
            print(f"ok    {full} ({time.monotonic() - start:.2f}s)", flush=True)
        except Exception:  # noqa: BLE001 - a test's failure of any kind is reported
            failed += 1
            print(f"FAIL  {full}", flush=True)
            traceback.print_exc(limit=3, file=sys.stdout)
print(f"integration: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
