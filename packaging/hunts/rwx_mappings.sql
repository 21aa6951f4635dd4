-- title: Writable+executable or anonymous executable memory
-- why: injected shellcode and unpacked payloads need executable memory that no file backs;
--      JIT runtimes (Java, Node, browsers) also show here: judge by the owning process.
-- params:
SELECT m.case_id, m.host_id, m.collection_id, m.pid, p.comm, p.exe, m.start, m."end", m.perms,
       m.path, m.writable_executable, m.anonymous_executable
FROM memory_maps m
LEFT JOIN processes p
  ON p.case_id = m.case_id AND p.host_id = m.host_id AND p.collection_id = m.collection_id
 AND p.pid = m.pid
WHERE (m.writable_executable OR m.anonymous_executable)
  AND NOT coalesce(p.is_collector, false)
ORDER BY m.case_id, m.host_id, m.collection_id, m.pid, m.start;
