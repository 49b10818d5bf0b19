"""What a user reads when a query fails while running: MaxCompute's runtime codes (`Illegal type
cast`, `Data overflow`, `Invalid argument`) and, for a regular expression that does not compile,
its fault in plain words (RE2's or Java's terms never reach the user). The engine's message is
scrubbed of engine words first (`diagnostics.scrub`).
"""

from __future__ import annotations

import re

from trailhouse.warehouse.sql.diagnostics import (
    Diagnosis,
    engine_first_line,
    maxcompute_type,
    scrub,
    without_colours,
)

# MaxCompute's codes of a query that fails while running (its PROCESSOR module, ODPS-012xxxx):
# a value that does not convert, a division by zero or an overflow, and any other bad argument.
ILLEGAL_CAST = "ODPS-0123091"
DATA_OVERFLOW = "ODPS-0121145"
INVALID_ARGUMENT = "ODPS-0121095"
_OVERFLOW = re.compile(r"division by zero|overflow|out of range", re.IGNORECASE)
# In the engine's own words (DuckDB's "Conversion Error: Could not convert …", Spark's
# "[CAST_INVALID_INPUT] … cannot be cast to …").
_CAST_FAILED = re.compile(
    r"Conversion Error|Could not (?:convert|cast)|cannot be cast|CAST_INVALID_INPUT",
    re.IGNORECASE,
)


def runtime_failure(engine_message: str) -> str:
    """A query that failed while running (a value that does not convert, an overflow), in
    plain words."""
    text = scrub(engine_message)
    conversion = re.match(r"Could not convert string '(.*)' to (\w+)", text)
    if conversion is not None:
        wanted = maxcompute_type(conversion.group(2))
        return f"the value '{conversion.group(1)}' cannot be converted to {wanted}"
    return text


# A regular expression that does not compile, in each engine's words: DuckDB's RE2 names the
# fault and the part of the pattern at fault ("missing ): a("), Spark names the function and the
# pattern ("`regexp` in `regexp_replace` is invalid: 'a('").
_RE2_FAULT = re.compile(
    r"^(missing \)|missing \]|unexpected \)|invalid escape sequence|invalid character class range"
    r"|invalid character class|no argument for repetition operator|bad repetition operator"
    r"|invalid nested repetition operator|invalid repetition size|invalid perl operator"
    r"|invalid named capture group|trailing \\|invalid UTF-8): (.*)$",
    re.DOTALL,
)
_SPARK_PATTERN = re.compile(
    r"INVALID_PARAMETER_VALUE\.PATTERN\].*?in `(\w+)` is invalid: '(.*)'\.", re.DOTALL
)
# The fault in plain words, by RE2's name of it or Python's (for Spark, which names none).
_REGEX_FAULTS = (
    (("missing )", "unterminated subpattern"), "a group opened with ( is not closed"),
    (("missing ]", "unterminated character set"), "a [ character class is not closed"),
    (("unexpected )", "unbalanced parenthesis"), "a ) closes no group"),
    (("invalid escape sequence", "bad escape"), "a backslash escape is not valid"),
    (("invalid character class range", "bad character range"), "a character range runs backwards"),
    (
        ("no argument for repetition operator", "bad repetition operator", "nothing to repeat"),
        "a repetition operator (*, +, ?, {n}) has nothing before it to repeat",
    ),
    (
        ("invalid nested repetition operator", "multiple repeat"),
        "two repetition operators follow each other",
    ),
    (("invalid repetition size",), "a {n,m} repetition count is not valid"),
    (("trailing \\", "bad escape (end of pattern)"), "the pattern ends with a lone backslash"),
    (("invalid perl operator", "unknown extension"), "a (? group is not valid"),
    (("invalid named capture group", "bad character in group name"), "a named group is not valid"),
)


def _regex_fault(name: str) -> str:
    for names, words in _REGEX_FAULTS:
        if any(name.startswith(n) for n in names):
            return words
    return "it does not compile"


def _python_fault(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        return _regex_fault(str(exc.msg))
    return "it does not compile"


def regex_failure(engine_message: str) -> Diagnosis | None:
    """A regular expression that does not compile, as MaxCompute's Invalid argument naming the
    pattern and the fault in plain words; None for any other failure."""
    first = engine_first_line(engine_message)
    text = without_colours(engine_message)
    found = _RE2_FAULT.match(first)
    if found is not None:
        fault, part = found.group(1), found.group(2)
        return Diagnosis(
            INVALID_ARGUMENT,
            f"Invalid argument - the regular expression is not valid: {_regex_fault(fault)} "
            f"(at '{part}')",
        )
    spark = _SPARK_PATTERN.search(text)
    if spark is not None:
        function, pattern = spark.group(1).upper(), spark.group(2)
        return Diagnosis(
            INVALID_ARGUMENT,
            f"Invalid argument - the regular expression '{pattern}' of {function} is not "
            f"valid: {_python_fault(pattern)}",
        )
    return None


def runtime_error(engine_message: str) -> Diagnosis:
    """A query that failed while running, as MaxCompute reports it: `Illegal type cast` for a
    value that does not convert, `Data overflow` for a division by zero or a value out of its
    type's range, `Invalid argument` for anything else (a regular expression that does not
    compile: its fault in plain words)."""
    regex = regex_failure(engine_message)
    if regex is not None:
        return regex
    detail = runtime_failure(engine_message)
    if _CAST_FAILED.search(engine_message):
        return Diagnosis(ILLEGAL_CAST, f"Illegal type cast - {detail}")
    if _OVERFLOW.search(detail):
        return Diagnosis(DATA_OVERFLOW, f"Data overflow - {detail}")
    return Diagnosis(INVALID_ARGUMENT, f"Invalid argument - {detail}")
