"""The hni edit language: concept-graph edit scripts, checked against a concept library.

    >>> from hni_dsl import parse, format
    >>> print(format(parse("class  fire_engine :replace concept 02 with pool[7];drop edge 2 -> 4")), end="")
    class fire_engine: replace concept 2 with pool[7]; drop edge 2->4

Every diagnostic has a stable code; ``explain("E104")`` says what it means and how to fix it.

This package never imports torch: reviewers can lint and plan scripts with only lark and pydantic.
"""

from .ast import Script
from .checker import CheckResult, check
from .checker import compile_script as compile
from .codes import Code, UnknownCodeError, explain, list_codes
from .errors import Diagnostic, HniError, HniSemanticError, HniSyntaxError, LibraryError
from .formatter import format_script as format
from .library import Library, dump_library, library_sha256, load_library, parse_library, write_library
from .parser import parse
from .plan import Plan, PlanMismatchError, PlanOutcome, StalePlanError, apply_plan, make_plan
from .transforms import Transform, TransformError, apply_transforms

__all__ = [
    "CheckResult",
    "Code",
    "Diagnostic",
    "HniError",
    "HniSemanticError",
    "HniSyntaxError",
    "Library",
    "LibraryError",
    "Plan",
    "PlanMismatchError",
    "PlanOutcome",
    "Script",
    "StalePlanError",
    "Transform",
    "TransformError",
    "UnknownCodeError",
    "apply_plan",
    "apply_transforms",
    "check",
    "compile",
    "dump_library",
    "explain",
    "format",
    "library_sha256",
    "list_codes",
    "load_library",
    "make_plan",
    "parse",
    "parse_library",
    "write_library",
]
