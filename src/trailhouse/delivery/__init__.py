"""Delivery: trails' events from the log into their warehouse tables, exactly once.

`engine` follows the log for every enabled trail; `state` is how far each trail got; `leases`
share the trails among delivery workers; `destination` resolves where a trail writes; `history`
backfills the last 90 days; `lags` keeps recent delivery lags. Trail rules and lifecycle stay in
`trailhouse.trails`.
"""
