"""Runs every test_* function of the tests/integration/test_*.py modules, in
file and definition order, and prints "integration: N passed, N failed".
Arguments, if any, are substrings selecting tests by name."""

import importlib.util
import inspect
import os
import sys
import time
import traceback

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)

selected = sys.argv[1:]
passed = failed = 0
for name in sorted(os.listdir(here)):
    if not (name.startswith("test_") and name.endswith(".py")):
        continue
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
