-- title: Processes running a deleted or memory-only (memfd) executable
-- why: droppers delete their binary after starting it, fileless loaders run from memfd_create;
--      exe_sha256 matches the recovered copy stored in the collection (exe_recovered_path).
-- params:
SELECT case_id, host_id, collection_id, pid, ppid, comm, exe, exe_deleted, exe_memfd,
       exe_sha256, exe_recovered_path, "user", start_time
FROM processes
WHERE (exe_deleted OR exe_memfd)
  AND NOT is_collector
ORDER BY case_id, host_id, collection_id, pid;
