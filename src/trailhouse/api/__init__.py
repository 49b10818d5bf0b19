"""The ActionTrail RPC protocol: signature check, action dispatch, the JSON error envelope."""
