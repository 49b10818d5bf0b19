"""One handler per RPC action, grouped by the part of the system they call."""
