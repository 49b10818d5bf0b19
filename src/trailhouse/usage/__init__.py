"""What an account's recorded events say about its use: access key usage and daily counts,
computed from the event log's index over the account's own history only."""
