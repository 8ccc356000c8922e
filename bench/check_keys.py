#!/usr/bin/env python3
"""Checks a make bench latest.json against bench/keys.txt: every key there,
of its type (a number is never null). Prints what is wrong; exits 1 if
anything is.

  check_keys.py LATEST_JSON [KEYS_FILE]
"""
import json
import os
import sys


def check(results, keys):
    problems = []
    for line in keys:
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        key, kind = line.split()
        value, found = results, True
        for part in key.split("."):
            if isinstance(value, dict) and part in value:
                value = value[part]
            else:
                found = False
                break
        if not found:
            problems.append(f"{key}: missing")
        elif kind == "bool" and not isinstance(value, bool):
            problems.append(f"{key}: {value!r} is not a boolean")
        elif kind == "number" and (isinstance(value, bool)
                                   or not isinstance(value, (int, float))):
            problems.append(f"{key}: {value!r} is not a number")
    return problems


def main(argv):
    keys_path = argv[2] if len(argv) > 2 else os.path.join(os.path.dirname(__file__), "keys.txt")
    with open(argv[1]) as f:
        results = json.load(f)
    with open(keys_path) as f:
        problems = check(results, f.readlines())
    for p in problems:
        print(f"{argv[1]}: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
