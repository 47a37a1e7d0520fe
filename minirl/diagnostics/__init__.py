"""Preflight and live training diagnostics: say when GRPO cannot learn, and why.

- :func:`check_preflight` / :func:`run_preflight` sample a few groups before training and stop the run when most of
  them have all-equal rewards (zero advantages, nothing to learn), with advice on what to change.
- :class:`LiveDiagnostics` watches the step metrics and warns, once in a while, about zero-variance groups, entropy
  collapse, truncation, KL and grad-norm spikes, and reward hacking.

``docs/troubleshooting.md`` explains each symptom and its fix.
"""

from minirl.diagnostics.advice import RunSettings
from minirl.diagnostics.live import KINDS, LiveDiagnostics
from minirl.diagnostics.preflight import (
    PreflightFailed,
    PreflightInputs,
    PreflightReport,
    RewardSummary,
    check_preflight,
    run_preflight,
)

__all__ = [
    "KINDS",
    "LiveDiagnostics",
    "PreflightFailed",
    "PreflightInputs",
    "PreflightReport",
    "RewardSummary",
    "RunSettings",
    "check_preflight",
    "run_preflight",
]
