-- title: Processes hidden from the /proc listing
-- why: pids that answer kill(pid, 0) but are not listed, or whose /proc entry is masked by a
--      mount, are what process-hiding rootkits leave behind.
-- params:
SELECT case_id, host_id, collection_id, pid, reason, comm, exe, detail
FROM hidden_processes
ORDER BY case_id, host_id, collection_id, pid;
