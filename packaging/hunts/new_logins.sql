-- title: Logins (current sessions and wtmp history) since a given time
-- why: an intruder's interactive access; `since` is RFC 3339 UTC, e.g. 2026-12-01T00:00:00Z.
-- params: since
SELECT case_id, host_id, collection_id, session_type, "user", tty, remote_host, remote_address,
       login_time, logout_time, source
FROM logins
WHERE session_type IN ('login', 'current')
  AND login_time >= ?
ORDER BY login_time, case_id, host_id, collection_id;
