"""Compatibility report: on which kernels will BPF objects load, without booting any of them."""

from __future__ import annotations

from ..btf.core import RelocState
from .features import KernelFeatures, SectionRule, section_rule
from .html import render_html
from .run import CheckResult, check
from .verdict import (
    Checker,
    CheckRows,
    FeatureOutcome,
    FeatureRow,
    KernelRef,
    KernelReport,
    RelocOutcome,
    RelocRow,
    Verdict,
)

__all__ = [
    "CheckResult",
    "CheckRows",
    "Checker",
    "FeatureOutcome",
    "FeatureRow",
    "KernelFeatures",
    "KernelRef",
    "KernelReport",
    "RelocOutcome",
    "RelocRow",
    "RelocState",
    "SectionRule",
    "Verdict",
    "check",
    "render_html",
    "section_rule",
]
