"""Trails: which events to capture and where to deliver them; their rules and lifecycle."""
