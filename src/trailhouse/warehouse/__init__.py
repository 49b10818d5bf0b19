"""The MaxCompute-style warehouse: projects, tables, MaxCompute SQL, quotas and bills."""
