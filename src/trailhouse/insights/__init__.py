"""ActionTrail Insights: unusual API call rates, API error rates, AccessKey call rates and IP
addresses, computed over each account's own events as they arrive (docs/insights.md)."""
