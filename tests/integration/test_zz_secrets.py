"""Runs last (its name): no secret the run made appears in any log. Every
API key, webhook signing secret and password the suite saw (harness.SECRETS,
collected from the answers that carried them) is searched for in the main
server's log and in the log of every process the tests started (Proc logs:
*.log under FINSYS_TEST_TMP)."""

import glob
import os

from harness import SECRETS, TEST_TMP


def test_zz_no_secret_in_any_log():
    logs = sorted(set(glob.glob(os.path.join(TEST_TMP, "*.log"))
                      + glob.glob(os.path.join(TEST_TMP, "**", "*.log"), recursive=True)))
    assert os.path.join(TEST_TMP, "server.log") in logs, logs[:20]
    assert len(SECRETS) >= 2
    found = []
    for path in logs:
        with open(path, errors="replace") as f:
            text = f.read()
        found += [(os.path.basename(path), s[:8] + "...") for s in SECRETS if s in text]
    print(f"{len(SECRETS)} secrets searched for in {len(logs)} logs")
    assert not found, found
