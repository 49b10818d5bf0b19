"""MaxCompute's documented examples of the mathematical, conditional, conversion, string,
collection, JSON, aggregate and window functions (the families after the first string and date
ones in maxcompute_examples.py), with the same layout: query, documented result, page.

Rows marked `verbatim=False` are built from the rules a page states, not copied from it.
"""

from __future__ import annotations

from typing import Any

from maxcompute_examples import Example, _examples, _page

_STORE = (
    '\'{"store": {"fruit":[{"weight":8,"type":"apple"},{"weight":9,"type":"pear"}], '
    '"bicycle":{"price":19.95,"color":"red"} }, "email":"amy@only_for_json_udf_test.net", '
    '"owner":"Tony" }\''
)
_NESTED = '\'{"a":"b","c":{"d":"e","f":"g","h":["h00","h11","h22"]},"i":"j"}\''
# JSON_TUPLE's page: the table `school` of one row, as its INSERT writes it.
_SCHOOL = (
    '(SELECT \'1\' AS id, \'{\n"school": "湖畔大学", "地址":"杭州", "SchoolRank": "00", \n'
    '"Class1":{"Student":[{"studentId":1,"scoreRankIn3Year":[1,2,[3,2,6]]}, \n'
    '{"studentId":2,"scoreRankIn3Year":[2,3,[4,3,1]]}]}}\' AS json) school'
)
_STUDENTS = (
    '[{"studentId":1,"scoreRankIn3Year":[1,2,[3,2,6]]},'
    '{"studentId":2,"scoreRankIn3Year":[2,3,[4,3,1]]}]'
)

FAMILY_EXAMPLES: list[Example] = [
    # Mathematical functions.
    *_examples(
        "ABS",
        "abs",
        [("abs(null)", None), ("abs(-1)", 1), ("abs(-1.2)", 1.2), ("abs('-2')", 2.0)],
    ),
    *_examples(
        "CEIL", "ceil", [("ceil(1.1)", 2), ("ceil(-1.1)", -1), ("ceil(null)", None)], "BIGINT"
    ),
    *_examples(
        "FLOOR",
        "floor",
        [
            ("floor(1.2)", 1),
            ("floor(1.9)", 1),
            ("floor(0.1)", 0),
            ("floor(-1.2)", -2),
            ("floor(-0.1)", -1),
            ("floor(0.0)", 0),
            ("floor(-0.0)", 0),
        ],
        "BIGINT",
    ),
    *_examples(
        "ROUND",
        "round",
        [
            ("round(125.315)", 125.0),
            ("round(125.315, 1)", 125.3),
            ("round(125.315, 2)", 125.32),
            ("round(125.315, 3)", 125.315),
            ("round(-125.315, 2)", -125.32),
            ("round(123.345, -2)", 100.0),
            ("round(null)", None),
            ("round(123.345, 4)", 123.345),
            ("round(123.345, -4)", 0.0),
        ],
    ),
    *_examples(
        "ROUND", "round", [("round(125.315, 0)", 125.0), ("round(7)", 7.0)], "DOUBLE", False
    ),
    *_examples("POW", "pow", [("pow(2, 3)", 8.0), ("pow(2, 16)", 65536.0), ("pow(2, null)", None)]),
    *_examples("SQRT", "sqrt", [("sqrt(4)", 2.0), ("sqrt(null)", None)]),
    *_examples(
        "EXP, LN, LOG, SIGN, PI, E",
        "mathematical-functions",
        [
            ("exp(0)", 1.0),
            ("exp(null)", None),
            ("ln(3.5)", 1.252762968495368),
            ("log(2, 16)", 4.0),
            ("log(2, null)", None),
            ("sign(-2.5)", -1.0),
            ("sign(2.5)", 1.0),
            ("sign(0)", 0.0),
            ("sign(null)", None),
            ("pi()", 3.141592653589793),
            ("e()", 2.718281828459045),
        ],
        verbatim=False,
    ),
    *_examples(
        "MONTHS_BETWEEN",
        "months-between",
        [
            ("months_between('2025-06-28 10:30:00', '2025-3-30')", 2.9495967741935485),
            ("months_between('2025-02-28 10:30:00', '2024-10-30')", 3.9495967741935485),
            ("months_between('2024-10-30', '2025-02-28 10:30:00')", -3.9495967741935485),
            ("months_between('2025-09-30', '2025-12-31')", -3.0),
            ("months_between('2025-06-15', null)", None),
            ("months_between(null, '2025-06-15')", None),
            ("months_between('2026-01-31', '2025-01-31')", 12.0),
        ],
    ),
    *_examples(
        "LAST_DAY",
        "last-day",
        [
            ("last_day('2013-06-08')", "2013-06-30"),
            ("last_day('2024-02-10 10:54:00')", "2024-02-29"),
            ("last_day(date '2013-06-08')", "2013-06-30"),
            ("last_day(datetime '2013-12-08 01:00:00')", "2013-12-31"),
            ("last_day('not a date')", None),
        ],
        "STRING",
        verbatim=False,
    ),
    # Trigonometric and logarithmic functions at points whose values are exact.
    *_examples(
        "ACOS, ASIN, ATAN, ATAN2, COS, SIN, TAN, COT, COSH, SINH, TANH, LOG10, LOG2, DEGREES, "
        "RADIANS, HEX, UNHEX, FACTORIAL, ISNAN",
        "mathematical-functions",
        [
            ("acos(1)", 0.0),
            ("asin(1)", 1.5707963267948966),
            ("atan(1)", 0.7853981633974483),
            ("atan2(1, 1)", 0.7853981633974483),
            ("cos(0)", 1.0),
            ("sin(0)", 0.0),
            ("tan(0)", 0.0),
            ("cot(1)", 0.6420926159343308),
            ("cosh(0)", 1.0),
            ("sinh(0)", 0.0),
            ("tanh(0)", 0.0),
            ("log10(100)", 2.0),
            ("log2(8)", 3.0),
            ("degrees(pi())", 180.0),
            ("radians(180)", 3.141592653589793),
            ("hex(255)", "FF"),
            ("unhex('41')", "A"),
            ("factorial(5)", 120),
            ("isnan(1.0)", False),
        ],
        verbatim=False,
    ),
    *_examples("LEAST", "least", [("least(5, 2, 7)", 2), ("least(3, 2.5, '1.1111')", 1.1111)]),
    # "NULL is considered the minimum value" (LEAST, GREATEST pages).
    *_examples(
        "LEAST, GREATEST",
        "least",
        [("least(1, null, 3)", None), ("greatest(1, null, 3)", 3), ("greatest(5, 9, 2)", 9)],
        verbatim=False,
    ),
    # Conversions (the type conversion page's rules and examples).
    *_examples(
        "CAST",
        "type-conversions",
        [
            ("cast(1.6 as bigint)", 1),
            ("cast('1.6' as bigint)", 1),
            ("cast('1' as double)", 1.0),
        ],
    ),
    *_examples(
        "CAST",
        "type-conversions",
        [
            ("cast(-1.6 as bigint)", -1),
            ("cast('12345678901234567' as bigint)", 12345678901234567),
            ("cast(true as bigint)", 1),
            ("cast(null as bigint)", None),
        ],
        verbatim=False,
    ),
    *_examples(
        "CAST",
        "type-conversions",
        [("cast('2015-10-01 00:00:00' as datetime)", "2015-10-01 00:00:00")],
        "DATETIME",
    ),
    # Conditional functions.
    *_examples("COALESCE", "coalesce", [("coalesce(null, null, 1, null, 3, 5, 7)", 1)]),
    *_examples(
        "IF, NVL, DECODE, CASE",
        "other-functions",
        [
            ("if(1 = 1, 'yes', 'no')", "yes"),
            ("if(null, 'yes', 'no')", "no"),
            ("nvl(null, 'x')", "x"),
            ("nvl('a', 'x')", "a"),
            ("decode(null, null, 'n', 1, 'one', 'other')", "n"),
            ("decode(2, 1, 'one', 'other')", "other"),
            ("decode(3, 1, 'one')", None),
            ("case when 1 = 2 then 'a' else 'b' end", "b"),
            ("case 2 when 1 then 'a' when 2 then 'b' end", "b"),
        ],
        verbatim=False,
    ),
    # String functions.
    *_examples("MD5", "md5", [("md5('Tech on the net')", "ddc4c4796880633333d77a60fcda9af6")]),
    *_examples("REPEAT", "repeat", [("repeat('abc', 5)", "abcabcabcabcabc")]),
    *_examples("ASCII", "ascii", [("ascii('abcde')", 97)]),
    *_examples("CHR", "chr", [("chr(100)", "d")]),
    *_examples(
        "LOWER, UPPER, SPACE, INITCAP, SPLIT, REGEXP_INSTR",
        "string-functions",
        [
            ("lower('ABCD')", "abcd"),
            ("upper('abcd')", "ABCD"),
            ("length(space(10))", 10),
            ("initcap('oh mY bABy')", "Oh My Baby"),
            ("split('a, b, c', ',')", ["a", " b", " c"]),
            ("regexp_instr('i love www.taobao.com', 'o')", 4),
            ("regexp_instr('i love', 'x')", 0),
        ],
        verbatim=False,
    ),
    *_examples(
        "SPLIT",
        "split",
        [
            ("SPLIT('a,b,c', ',')", ["a", "b", "c"]),
            ("SPLIT('a,b,c', ':')", ["a,b,c"]),
            ("SPLIT('a,,b', ',')", ["a", "", "b"]),
            ("SPLIT('a::b::c', '::')", ["a", "b", "c"]),
            # trimTailEmpty, true by default: trailing empty strings are dropped.
            ("SPLIT('a,b,c,,', ',')", ["a", "b", "c"]),
            ("SPLIT('a,b,c,,', ',', false)", ["a", "b", "c", "", ""]),
            (r"SPLIT('a\\b\\c', '\\\\')", ["a", "b", "c"]),
            ("SPLIT(NULL, ',')", None),
        ],
    ),
    *_examples(
        "SPLIT",
        "split",
        [
            # As Java's String.split, which the page's trimTailEmpty follows.
            ("SPLIT(',,,', ',')", []),
            ("SPLIT('', ',')", [""]),
            ("SPLIT('a,b,,', ',', true)", ["a", "b"]),
        ],
        verbatim=False,
    ),
    # Collection functions.
    *_examples(
        "SIZE, ARRAY_CONTAINS, SORT_ARRAY",
        "complex-type-functions",
        [
            ("size(array('a', 'b'))", 2),
            ("size(map('k1', 'v1', 'k2', 'v2'))", 2),
            ("array_contains(array('a', 'b'), 'a')", True),
            ("array_contains(array('a', 'b'), 'c')", False),
            ("sort_array(array(5, 3, 1))", [1, 3, 5]),
        ],
        verbatim=False,
    ),
    # GET_JSON_OBJECT of a STRING.
    *_examples(
        "GET_JSON_OBJECT",
        "get-json-object",
        [
            (f"get_json_object({_STORE}, '$.owner')", "Tony"),
            (f"get_json_object({_STORE}, '$.store.fruit[0]')", '{"weight":8,"type":"apple"}'),
            (f"get_json_object({_STORE}, '$.non_exist_key')", None),
            (
                'get_json_object(\'{"array":[["a",11],["b",22],["c",33]]}\', \'$.array[1][1]\')',
                "22",
            ),
            (f"get_json_object({_NESTED}, '$.c.h[*]')", '["h00","h11","h22"]'),
            (f"get_json_object({_NESTED}, '$.c.h')", '["h00","h11","h22"]'),
            (f"get_json_object({_NESTED}, '$.c.h[1]')", "h11"),
            ("get_json_object('{\"China.hangzhou\":{\"a\":1}}', '$[\\'China.hangzhou\\'].a')", "1"),
        ],
        "STRING",
    ),
    # GET_JSON_OBJECT of a JSON value: the page's examples.
    *_examples(
        "GET_JSON_OBJECT",
        "get-json-object",
        [
            ('GET_JSON_OBJECT(JSON \'{"name": "Alice", "age": 30}\', \'$.name\')', "Alice"),
            ("get_json_object(json '{\"a\":1, \"b\":2}', '$.a')", "1"),
            ("get_json_object(json '{\"a\":1, \"b\":2}', '$.c')", None),
            ("get_json_object(json '{\"a\":1, \"b\":2}', '$invalid_json_path')", None),
        ],
        "STRING",
    ),
    # MaxCompute's JSON type: a JSON value prints as its compact text, an object's keys sorted.
    *_examples(
        "JSON_OBJECT",
        "json-object",
        [
            ("json_object('a', 123)", '{"a":123}'),
            ("json_object('a', 123,'b','hello')", '{"a":123,"b":"hello"}'),
        ],
        "JSON",
    ),
    *_examples(
        "JSON_ARRAY",
        "json-array",
        [
            ("json_array('a', 45, true, 13, json '{\"a\":456}')", '["a",45,true,13,{"a":456}]'),
            ("json_array()", "[]"),
        ],
        "JSON",
    ),
    *_examples(
        "JSON_EXTRACT",
        "json-extract",
        [
            ("JSON_EXTRACT(JSON '{\"a\":1, \"b\":2}', '$.a')", "1"),
            ("JSON_EXTRACT(JSON '{\"a\":1, \"b\":2}', '$.c')", None),
        ],
        "JSON",
    ),
    *_examples(
        "JSON_EXISTS",
        "json-exists",
        [
            ("JSON_EXISTS(JSON '{\"a\":1, \"b\":2}', '$.a')", True),
            ("JSON_EXISTS(JSON '{\"a\":1, \"b\":2}', '$.c')", False),
            ("JSON_EXISTS(JSON '[1,2, {\"a\":34}]', '$[2].a')", True),
        ],
        "BOOLEAN",
    ),
    *_examples(
        "JSON_VALID",
        "json-valid",
        [("json_valid('\"abc\"')", True), ("json_valid('abc')", False)],
        "BOOLEAN",
    ),
    *_examples(
        "JSON_TYPE",
        "json-type",
        [
            ("json_type(json '[{\"a\":1}, 23]')", "array"),
            ("json_type(json '123')", "number"),
            ("json_type(json '\"123\"')", "string"),
        ],
        "STRING",
    ),
    *_examples(
        "JSON_LENGTH",
        "json-length",
        [
            ('JSON_LENGTH(JSON \'{"k1":"v31","k2":300}\')', 2),
            ("JSON_LENGTH(JSON '[1,2,3,4,5,6]')", 6),
            (
                'JSON_LENGTH(JSON \'{"name": "John", "age": 22, '
                '"skills":["PHP","MySQL","JavaScript"]}\')',
                3,
            ),
            ("JSON_LENGTH(JSON '{\"x\": 1, \"y\": [1, 2]}', '$.y')", 2),
            ("JSON_LENGTH(null)", None),
            ("JSON_LENGTH(JSON 'null')", 1),
            ("JSON_LENGTH(JSON '123')", 1),
            ("JSON_LENGTH(JSON '123.34')", 1),
            ("JSON_LENGTH(JSON 'true')", 1),
        ],
        "BIGINT",
    ),
    *_examples(
        "JSON_FORMAT",
        "json-format",
        [
            ("JSON_FORMAT(JSON '123')", "123"),
            ("JSON_FORMAT(JSON '\"123\"')", '"123"'),
            (
                'JSON_FORMAT(JSON \'{"name":"Alice", "age":3, "school":"Ali"}\')',
                '{"age":3,"name":"Alice","school":"Ali"}',
            ),
            (
                'JSON_FORMAT( \nJSON \n\'[\n  {\n    "id": 1,\n    "name":"Bob",\n'
                '    "score":98\n   },\n  {\n    "id":2,\n    "name":"Alex",\n'
                '    "score":88\n  }\n ]\')',
                '[{"id":1,"name":"Bob","score":98},{"id":2,"name":"Alex","score":88}]',
            ),
        ],
        "STRING",
    ),
    *_examples(
        "JSON_PARSE",
        "json-parse",
        [
            ('json_parse(\'{"a":1, "b":2}\')', '{"a":1,"b":2}'),
            ("json_parse('\"abc\"')", '"abc"'),
        ],
        "JSON",
    ),
    # TO_JSON and FROM_JSON (json_complex.py): the pages' examples.
    *_examples(
        "TO_JSON",
        "to-json",
        [
            ("TO_JSON(NAMED_STRUCT('a', 1, 'b', 2))", '{"a":1,"b":2}'),
            ("TO_JSON(NAMED_STRUCT('time', \"26/08/2015\"))", '{"time":"26/08/2015"}'),
            ("TO_JSON(ARRAY(NAMED_STRUCT('a', 1, 'b', 2)))", '[{"a":1,"b":2}]'),
            ("TO_JSON(MAP('a', NAMED_STRUCT('b', 1)))", '{"a":{"b":1}}'),
            ("TO_JSON(MAP('a', 1))", '{"a":1}'),
            ("TO_JSON(ARRAY((MAP('a', 1))))", '[{"a":1}]'),
            ('TO_JSON(NAMED_STRUCT("A", "B"))', '{"a":"B"}'),
            ('TO_JSON(NAMED_STRUCT("k1", CAST(NULL AS STRING), "k2", "v2"))', '{"k2":"v2"}'),
        ],
        "STRING",
    ),
    *_examples(
        "FROM_JSON",
        "from-json",
        [
            ("from_json('{\"a\":1, \"b\":0.8}', 'a int, b double')", {"a": 1, "b": 0.8}),
            ("from_json('{\"time\":\"26/08/2015\"}', 'time string')", {"time": "26/08/2015"}),
            (
                "from_json('{\"a\":1, \"b\":0.8}', 'a int, b double, c string')",
                {"a": 1, "b": 0.8, "c": None},
            ),
            ("from_json('[1, 2, 3, \"a\"]', 'array<bigint>')", [1, 2, 3]),
            (
                'from_json(\'{"a":1,"b":[1,2,3],"c":{},"d":"v"}\', \'map<string, string>\')',
                {"a": "1", "b": "[1,2,3]", "c": "{}", "d": "v"},
            ),
        ],
    ),
    # TO_JSON and FROM_JSON by their pages' rules: a STRUCT's keys lowered and NULL fields left
    # out at every depth; a STRUCT's keys read case-sensitively, a member of another JSON type
    # left out of an ARRAY or MAP and NULL in a STRUCT, JSON null a NULL of any type.
    *_examples(
        "TO_JSON",
        "to-json",
        [
            (
                "to_json(array(named_struct('X', cast(null as bigint)), named_struct('Y', true)))",
                '[{},{"y":true}]',
            ),
            (
                "to_json(map('K', named_struct('Z', 'q', 'w', cast(null as string))))",
                '{"K":{"z":"q"}}',
            ),
            ("to_json(from_json('{\"a\":1}', 'a int, b string'))", '{"a":1}'),
            ("to_json(from_json('[1,null,\"x\"]', 'array<bigint>'))", "[1,null]"),
            ("to_json(cast(null as array<bigint>))", None),
        ],
        "STRING",
        verbatim=False,
    ),
    *_examples(
        "FROM_JSON",
        "from-json",
        [
            ('from_json(\'{"A":1, "b":"x"}\', \'a int, b int\')', {"a": None, "b": None}),
            (
                'from_json(\'{"a":1,"C":{"x":"y"}}\', \'struct<a:int, `C`:map<string,string>>\')',
                {"a": 1, "C": {"x": "y"}},
            ),
            ("from_json('[1,null,2.5,true]', 'array<bigint>')", [1, None]),
            ("from_json('{\"k\":[true,1]}', 'map<string,array<boolean>>')", {"k": [True]}),
            ("from_json('not json', 'a int')", None),
            ("from_json('[1]', 'a int')", None),
            ("from_json(null, 'array<bigint>')", None),
        ],
        verbatim=False,
    ),
    # The JSON type's rules: keys sorted at every depth, a JSON value inside another, paths.
    *_examples(
        "JSON_OBJECT",
        "json-object",
        [
            (
                "json_object('b', 1, 'a', json '{\"d\":1,\"c\":[true,null]}')",
                '{"a":{"c":[true,null],"d":1},"b":1}',
            ),
            ("json_extract(json_object('k', json_array(1, 'x')), '$.k[1]')", '"x"'),
            ("json_extract(json '{\"a.b\":{\"c\":[1,2]}}', '$[\\'a.b\\'].c')", "[1,2]"),
        ],
        "JSON",
        verbatim=False,
    ),
    *_examples(
        "JSON_TYPE",
        "json-type",
        [
            ("json_type(json '{}')", "object"),
            ("json_type(json 'false')", "boolean"),
            ("json_type(json 'null')", "null"),
            ("json_type(json '-1.5e3')", "number"),
            ("json_type(null)", None),
        ],
        "STRING",
        verbatim=False,
    ),
    # The path syntax's rules: missing keys, [*] collecting matches as Hive's GET_JSON_OBJECT.
    *_examples(
        "GET_JSON_OBJECT",
        "get-json-object",
        [
            ("get_json_object('{\"a\":{\"b\":1}}', '$.a.x.y')", None),
            ('get_json_object(\'{"a":[{"b":1},{"b":"x"}]}\', \'$.a[*].b\')', '[1,"x"]'),
            ('get_json_object(\'{"a":[{"b":1},{"c":2}]}\', \'$.a[*].b\')', "1"),
            ("get_json_object('{\"a\":[]}', '$.a[*]')", None),
            ("get_json_object('{\"a\":[[1,2],[3]]}', '$.a[*][0]')", "[1,3]"),
            ("get_json_object('{\"a\":true,\"n\":null}', '$.n')", None),
            ("get_json_object('not json', '$.a')", None),
            ("get_json_object('not json', '$.a[*]')", None),
            ("get_json_object('{\"a\":1}', '$invalid_json_path')", None),
        ],
        verbatim=False,
    ),
]

_FOUR = (
    "(SELECT 'a' AS k, 1 AS x UNION ALL SELECT 'a' AS k, 2 AS x UNION ALL "
    "SELECT 'a' AS k, 2 AS x UNION ALL SELECT 'a' AS k, 3 AS x UNION ALL SELECT 'b' AS k, 5 AS x) t"
)

# Whole queries (aggregates, windows, JSON_TUPLE): (function, query, rows, page).
QUERY_EXAMPLES: list[tuple[str, str, list[list[Any]], str]] = [
    (
        "TO_JSON",
        "SELECT to_json(named_struct('K1', x, 'k2', y, 'b', z)), to_json(array(x, y)), "
        "to_json(map('m', x)) FROM (SELECT CAST(NULL AS STRING) AS x, 7 AS y, true AS z "
        "UNION ALL SELECT 'a\"é\n' AS x, CAST(NULL AS BIGINT) AS y, false AS z) t",
        [
            ['{"k2":7,"b":true}', "[null,7]", '{"m":null}'],
            ['{"k1":"a\\"é\\n","b":false}', '["a\\"é\\n",null]', '{"m":"a\\"é\\n"}'],
        ],
        _page("to-json"),
    ),
    (
        "COUNT, SUM, AVG, MAX, MIN",
        "SELECT count(*), count(x), count(DISTINCT x), sum(x), avg(x), max(x), min(x) FROM "
        "(SELECT 1 AS x UNION ALL SELECT 2 AS x UNION ALL SELECT NULL AS x UNION ALL "
        "SELECT 2 AS x) t",
        [[4, 3, 2, 5, 5 / 3, 2, 1]],
        _page("aggregate-functions"),
    ),
    (
        "MEDIAN, STDDEV, VARIANCE",
        "SELECT median(x), stddev_samp(x), var_samp(x) FROM (SELECT 1 AS x UNION ALL "
        "SELECT 2 AS x UNION ALL SELECT 3 AS x UNION ALL SELECT 4 AS x) t",
        [[2.5, 1.2909944487358056, 1.6666666666666667]],
        _page("aggregate-functions"),
    ),
    (
        "COLLECT_LIST, COLLECT_SET",
        "SELECT sort_array(collect_list(x)), sort_array(collect_set(x)) FROM "
        "(SELECT 1 AS x UNION ALL SELECT 2 AS x UNION ALL SELECT 2 AS x) t",
        [[[1, 2, 2], [1, 2]]],
        _page("aggregate-functions"),
    ),
    (
        "ROW_NUMBER, RANK, DENSE_RANK, LAG, LEAD",
        "SELECT k, x, row_number() OVER (PARTITION BY k ORDER BY x) AS rn, "
        "rank() OVER (PARTITION BY k ORDER BY x) AS r, "
        "dense_rank() OVER (PARTITION BY k ORDER BY x) AS dr, "
        "lag(x) OVER (PARTITION BY k ORDER BY x) AS lg, "
        "lead(x) OVER (PARTITION BY k ORDER BY x) AS ld, "
        f"lag(x, 2, 0) OVER (PARTITION BY k ORDER BY x) AS lg2 FROM {_FOUR} ORDER BY k, x, rn",
        [
            ["a", 1, 1, 1, 1, None, 2, 0],
            ["a", 2, 2, 2, 2, 1, 2, 0],
            ["a", 2, 3, 2, 2, 2, 3, 1],
            ["a", 3, 4, 4, 3, 2, None, 2],
            ["b", 5, 1, 1, 1, None, None, 0],
        ],
        _page("window-functions"),
    ),
    (
        "FIRST_VALUE, LAST_VALUE, SUM, COUNT, MAX over windows",
        # Ordered: the frame ends at the row (tied rows apart); unordered: the whole partition.
        "SELECT k, x, first_value(x) OVER (PARTITION BY k ORDER BY x) AS fv, "
        "last_value(x) OVER (PARTITION BY k ORDER BY x) AS lv, "
        "sum(x) OVER (PARTITION BY k) AS tot, "
        "sum(x) OVER (PARTITION BY k ORDER BY x) AS run, "
        "count(*) OVER (PARTITION BY k ORDER BY x) AS cnt, "
        f"max(x) OVER (PARTITION BY k) AS mx FROM {_FOUR} ORDER BY k, x, run",
        [
            ["a", 1, 1, 1, 8, 1, 1, 3],
            ["a", 2, 1, 2, 8, 3, 2, 3],
            ["a", 2, 1, 2, 8, 5, 3, 3],
            ["a", 3, 1, 3, 8, 8, 4, 3],
            ["b", 5, 5, 5, 5, 5, 1, 5],
        ],
        _page("window-functions"),
    ),
    (
        "FIRST_VALUE, LAST_VALUE without ORDER BY",
        # Without ORDER BY the frame is the whole partition.
        "SELECT k, first_value(x) OVER (PARTITION BY k) AS fv, "
        "last_value(x) OVER (PARTITION BY k) AS lv, count(*) OVER (PARTITION BY k) AS n FROM "
        "(SELECT 'a' AS k, 1 AS x UNION ALL SELECT 'a' AS k, 1 AS x UNION ALL "
        "SELECT 'b' AS k, 5 AS x) t ORDER BY k",
        [["a", 1, 1, 2], ["a", 1, 1, 2], ["b", 5, 5, 1]],
        _page("window-functions"),
    ),
    (
        "PERCENT_RANK, CUME_DIST, NTILE",
        "SELECT x, percent_rank() OVER (ORDER BY x), cume_dist() OVER (ORDER BY x), "
        "ntile(2) OVER (ORDER BY x) FROM (SELECT 1 AS x UNION ALL SELECT 2 AS x UNION ALL "
        "SELECT 3 AS x UNION ALL SELECT 4 AS x) t ORDER BY x",
        [[1, 0.0, 0.25, 1], [2, 1 / 3, 0.5, 1], [3, 2 / 3, 0.75, 2], [4, 1.0, 1.0, 2]],
        _page("window-functions"),
    ),
    (
        "JSON_TUPLE",
        'SELECT json_tuple(\'{"name":"Alice","age":"30","city":"Shanghai"}\', '
        "'name', 'age', 'city') AS (name, age, city)",
        [["Alice", "30", "Shanghai"]],
        _page("json-tuple"),
    ),
    (
        "JSON_TUPLE",
        f'SELECT json_tuple(school.json,"SchoolRank","Class1") as (item0, item1) from {_SCHOOL}',
        [["00", '{"Student":' + _STUDENTS + "}"]],
        _page("json-tuple"),
    ),
    (
        # The page's query; its printed result is not in the stored page: this is Class1's
        # Student array as the page's first example prints Class1.
        "JSON_TUPLE",
        f'select json_tuple(school.json,"school","[\'Class1\'].Student") as (item0,item1) '
        f"from {_SCHOOL}",
        [["湖畔大学", _STUDENTS]],
        _page("json-tuple"),
    ),
    (
        # Built from the page's rules: a key is a path without its `$` (`.`, `['']`, `[n]`,
        # `[*]`), read as GET_JSON_OBJECT with odps.sql.udf.getjsonobj.new=true; a key that
        # starts with `$`, or an empty one, gives NULL.
        "JSON_TUPLE",
        "SELECT json_tuple(school.json, 'Class1.Student[*].studentId', "
        "'Class1.Student[0].scoreRankIn3Year', '地址', '$.school', '') AS (a, b, c, d, e) "
        f"FROM {_SCHOOL}",
        [["[1,2]", "[1,2,[3,2,6]]", "杭州", None, None]],
        _page("json-tuple"),
    ),
    (
        "JSON_TUPLE",
        f"SELECT school.id, q.item0, q.item1 FROM {_SCHOOL} LATERAL VIEW "
        "json_tuple(school.json, 'Class1.Student[1].studentId', \"['Class1']['Student'][1]"
        "['scoreRankIn3Year'][2]\") q AS item0, item1",
        [["1", "2", "[4,3,1]"]],
        _page("json-tuple"),
    ),
    (
        "JSON_TUPLE",
        "SELECT json_tuple(j, 'a', 'b', 'zz') AS (x, y, z) FROM "
        '(SELECT \'{"a":1,"b":"x"}\' AS j) t',
        [["1", "x", None]],
        _page("json-tuple"),
    ),
    (
        "JSON_TUPLE",
        'SELECT q.x, q.y FROM (SELECT \'{"a":{"k":[1]},"b":"x"}\' AS j) t '
        "LATERAL VIEW json_tuple(j, 'a', 'b') q AS x, y",
        [['{"k":[1]}', "x"]],
        _page("json-tuple"),
    ),
]

FAMILY_REFUSED: list[tuple[str, str, str]] = [
    ("trunc(125.815, 1)", "ODPS-0130071", "function TRUNC is a MaxCompute built-in"),
    ("cbrt(27)", "ODPS-0130071", "function CBRT is a MaxCompute built-in"),
    ("conv('100', 2, 10)", "ODPS-0130071", "function CONV is a MaxCompute built-in"),
    ("shiftleft(1, 2)", "ODPS-0130071", "function SHIFTLEFT is a MaxCompute built-in"),
    (
        "json_extract(JSON '{\"a\":1, \"b\":2}', '$a')",
        "ODPS-0130071",
        "Param json path $a is invalid",
    ),
    ("json_parse('abc')", "ODPS-0130071", 'Invalid input syntax for type json, detail:Token "abc"'),
    ("json_extract('{}', '$.a')", "ODPS-0130121", "function JSON_EXTRACT takes a JSON value"),
    (
        "json_valid(concat('{', '}'))",
        "ODPS-0130071",
        "JSON_VALID of a value that is not a constant",
    ),
    (
        "json_parse(concat('{', '}'))",
        "ODPS-0130071",
        "JSON_PARSE of a value that is not a constant",
    ),
    (
        "map_keys(from_json('{\"a\":1,\"b\":2}','map<string,string>'))",
        "ODPS-0130071",
        "function MAP_KEYS is a MaxCompute built-in",
    ),
    ("to_json(concat('a'))", "ODPS-0130121", "function TO_JSON takes an ARRAY, MAP or STRUCT"),
    ("from_json(concat('[1]'), 'array<bigint>')", "ODPS-0130071", "FROM_JSON of a value that"),
    ("from_json('[1]', 'array<bigint')", "ODPS-0130121", "the schema 'array<bigint' is not a type"),
    ("from_json('[1]', 'a int,')", "ODPS-0130121", "the schema 'a int,' is not a type"),
    ("from_json('[1]', 'array<foo>')", "ODPS-0130121", "FOO is not a MaxCompute type"),
    ("from_json('[1]', 'array<date>')", "ODPS-0130071", "FROM_JSON: the type DATE in the schema"),
    ("from_json('[1]', 'map<bigint,string>')", "ODPS-0130071", "MAP whose keys are BIGINT"),
    ("from_json('[1]', concat('a int'))", "ODPS-0130071", "the schema must be a string constant"),
    ("to_json(array(0.0001))", "ODPS-0130071", "TO_JSON of the DOUBLE 0.0001 is not supported"),
    ("map_values(map('a', 1))", "ODPS-0130071", "function MAP_VALUES is a MaxCompute built-in"),
    (
        "regexp_instr('abc', 'b', 1, 1)",
        "ODPS-0130071",
        "REGEXP_INSTR: start_position, occurrence and return_option are not supported",
    ),
    ("get_json_object('{}', '$.a[*].b[?(@.c)]')", "ODPS-0130071", "unsupported JSON path"),
]
