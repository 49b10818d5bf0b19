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
from trailhouse.warehouse.sql.types import maxcompute_type as result_type_name

# MaxCompute's codes of a query that fails while running (its PROCESSOR module, ODPS-012xxxx):
# a value that does not convert, a division by zero or an overflow, and any other bad argument.
ILLEGAL_CAST = "ODPS-0123091"
DATA_OVERFLOW = "ODPS-0121145"
INVALID_ARGUMENT = "ODPS-0121095"
_OVERFLOW = re.compile(r"division by zero|overflow|out of range", re.IGNORECASE)
_BARE_OVERFLOW = re.compile(r"overflow\.?", re.IGNORECASE)
_QUOTED = re.compile(r"'[^']*'")
# In the engine's own words (DuckDB's "Conversion Error: Could not convert …", Spark's
# "[CAST_INVALID_INPUT] … cannot be cast to …").
_CAST_FAILED = re.compile(
    r"Conversion Error|Could not (?:convert|cast)|cannot be cast|CAST_INVALID_INPUT",
    re.IGNORECASE,
)


# A value that does not convert, in each engine's words, before `scrub` renames its types:
# the value, then the engine's name of the type it was to become. DuckDB names the type after
# "to" ("Could not convert string 'x' to INT32", double quotes for a DECIMAL) or in the message's
# first word ("invalid timestamp field format: "-", expected format is (YYYY-MM-DD …)"; "date
# field value out of range: "2020-13-01""); Spark after "cannot be cast to" ("The value '-' of the
# type "STRING" cannot be cast to "TIMESTAMP" because it is malformed").
_NOT_CONVERTED = (
    re.compile(r"Could not convert string ['\"](?P<value>.*?)['\"] to (?P<type>[\w(), ]+?)\s*$"),
    re.compile(
        r"^(?:invalid )?(?P<type>timestamp|date|time) field (?:format|value out of range): "
        r"\"(?P<value>.*?)\"(?:, expected format is .*)?$",
        re.IGNORECASE,
    ),
    re.compile(
        r"Type \w+ with value '?(?P<value>.*?)'? can't be cast to the destination type "
        r"(?P<type>\S+)\s*$"
    ),
    re.compile(
        r"The value '(?P<value>.*?)' of the type \"\w+\" cannot be cast to \"(?P<type>[^\"]+)\""
    ),
)
# A number that does not fit its type, in DuckDB's words ("Type DOUBLE with value 1e+20 can't be
# cast because the value is out of range for the destination type INT64") and Spark's ("The
# value 1.0E20D of the type "DOUBLE" cannot be cast to "BIGINT" due to an overflow").
_OUT_OF_RANGE = (
    re.compile(
        r"Type \w+ with value (?P<value>.*?) can't be cast because the value is out of range "
        r"for the destination type (?P<type>\S+)\s*$"
    ),
    re.compile(
        r"The value (?P<value>\S+) of the type \"\w+\" cannot be cast to \"(?P<type>[^\"]+)\" "
        r"due to an overflow"
    ),
)
# DuckDB's text that is not JSON: "Malformed JSON at byte 3 of input: unexpected end of data.
# Input: "[1,"".
_NOT_JSON = re.compile(r"Malformed JSON at byte (\d+) of input: (.*?)\.?\s+Input: \"(.*)\"\s*$")
# A date or time part in its format as MaxCompute writes it.
_FORMATS = {"DATE": "yyyy-mm-dd", "DATETIME": "yyyy-mm-dd hh:mi:ss"}


def runtime_failure(engine_message: str) -> str:
    """A query that failed while running (a value that does not convert, an overflow), in
    plain words: the value and MaxCompute's name of the type it could not become, never the
    engine's own format strings or type names."""
    first = engine_first_line(engine_message)
    for pattern in _OUT_OF_RANGE:
        found = pattern.search(first)
        if found is not None:
            wanted = _maxcompute_name(found.group("type"))
            return f"the value {found.group('value')} is out of range for {wanted}"
    not_json = _NOT_JSON.search(first)
    if not_json is not None:
        at, fault, value = not_json.groups()
        return f"the value '{value}' is not valid JSON (at byte {at}: {fault})"
    for pattern in _NOT_CONVERTED:
        found = pattern.search(first)
        if found is not None:
            wanted = _maxcompute_name(found.group("type"))
            expected = _FORMATS.get(wanted)
            said = f"the value '{found.group('value')}' cannot be converted to {wanted}"
            return f"{said} (expected {expected})" if expected else said
    return scrub(engine_message)


def _maxcompute_name(engine_type: str) -> str:
    """MaxCompute's name of a type as either engine names it in an error (`INT32`, `TIMESTAMP`,
    `DECIMAL(10,2)`, `INTEGER[]`)."""
    name = engine_type.strip().upper()
    if name in ("TIMESTAMP", "TIMESTAMP_NTZ", "TIME"):  # MaxCompute has no TIME type
        return "DATETIME"
    found = maxcompute_type(name)
    if found != name:
        return found
    return result_type_name(name)


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
    # Before the cast (DuckDB says a cast overflowed as a cast), and not in the value quoted
    # (a value 'overflow' that does not convert is a cast).
    if _OVERFLOW.search(_QUOTED.sub("", detail)):
        if _BARE_OVERFLOW.fullmatch(detail):  # Spark's whole message, naming nothing
            detail = "a value is out of the range of its type"
        return Diagnosis(DATA_OVERFLOW, f"Data overflow - {detail}")
    if _CAST_FAILED.search(engine_message):
        return Diagnosis(ILLEGAL_CAST, f"Illegal type cast - {detail}")
    return Diagnosis(INVALID_ARGUMENT, f"Invalid argument - {detail}")
