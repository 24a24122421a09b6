"""The hni edit language: concept-graph edit scripts, checked against a concept library.

    >>> from hni_dsl import parse, format
    >>> print(format(parse("class  fire_engine :replace concept 02 with pool[7];drop edge 2 -> 4")), end="")
    class fire_engine: replace concept 2 with pool[7]; drop edge 2->4

This package never imports torch: reviewers can lint and plan scripts with only lark and pydantic.
"""

from .ast import Script
from .checker import CheckResult, check
from .checker import compile_script as compile  # noqa: A001 - the language's public verb
from .errors import Diagnostic, HniError, HniSemanticError, HniSyntaxError, LibraryError
from .formatter import format_script as format  # noqa: A001
from .library import Library, dump_library, library_sha256, load_library, parse_library, write_library
from .parser import parse
from .plan import Plan, PlanOutcome, StalePlanError, apply_plan, make_plan
from .transforms import Transform, TransformError, apply_transforms

__all__ = [
    "parse", "check", "compile", "format",
    "Script", "CheckResult", "Diagnostic",
    "HniError", "HniSyntaxError", "HniSemanticError", "LibraryError", "StalePlanError", "TransformError",
    "Library", "load_library", "parse_library", "dump_library", "write_library", "library_sha256",
    "Plan", "PlanOutcome", "make_plan", "apply_plan",
    "Transform", "apply_transforms",
]
