"""MaxCompute's OpenAPI (version 2022-01-04, ROA style under `/api/v1`) for the official
`alibabacloud_maxcompute20220104` SDK: the project, table, quota and job reads, answered from
the warehouse services (`docs/maxcompute-openapi.md`)."""
