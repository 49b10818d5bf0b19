"""Identity: accounts, RAM users, access keys and request signatures."""
