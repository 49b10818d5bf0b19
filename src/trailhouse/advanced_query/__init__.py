"""ActionTrail's advanced event query: saved templates, the history of statements, and the
search statements themselves, parsed and run over an account's own recent events."""
