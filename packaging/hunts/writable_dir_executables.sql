-- title: Processes whose executable lives in a world-writable or temporary directory
-- why: anything may be dropped into /tmp, /var/tmp or /dev/shm and run from there.
-- params:
SELECT case_id, host_id, collection_id, pid, ppid, comm, exe, exe_sha256, "user", start_time
FROM processes
WHERE NOT is_collector
  AND (exe_in_temp_dir
       OR regexp_like(exe, '^/(tmp|var/tmp|dev/shm|run/shm|dev/mqueue|var/crash|run/user/[0-9]+)/'))
ORDER BY case_id, host_id, collection_id, pid;
