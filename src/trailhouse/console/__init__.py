"""The web console: pages for people, over the same RPC actions the API serves.

Sign-in with an AccessKey pair opens a server-side session (`sessions`); every change the pages
make is a POST with the session's CSRF token (`csrf`); each page's data comes from
`/console/api/<Action>`, which runs the action through the API's dispatcher for the signed-in
caller (`routes`), so permissions, errors and self-audit are exactly the API's.
"""
