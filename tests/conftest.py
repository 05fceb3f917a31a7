"""Every native scheduler and worker a test starts checks its state machine's invariants
(DN_VALIDATE: after each transition and each stimulus) and aborts on a violation, so a
broken invariant fails the test that caused it. Stock processes ignore the variable."""
from __future__ import annotations

import os

os.environ.setdefault("DN_VALIDATE", "1")
