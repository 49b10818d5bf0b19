"""Detections: Sigma rules over an account's events, evaluated as events arrive and over the
warehouse's history, and the findings they produce (docs/detections.md)."""
