-- title: Sockets connected to a given remote address, with the owning processes
-- why: "who talks to this IP?" for an address from a GuardDuty finding or threat intel.
-- params: address
SELECT c.case_id, c.host_id, c.collection_id, c.protocol, c.local_address, c.local_port,
       c.remote_address, c.remote_port, c.state, owner AS pid, p.comm, p.exe, p.cmdline
FROM connections c
LEFT JOIN UNNEST(c.pids) AS t(owner) ON true
LEFT JOIN processes p
  ON p.case_id = c.case_id AND p.host_id = c.host_id AND p.collection_id = c.collection_id
 AND p.pid = owner
WHERE c.remote_address = ?
ORDER BY c.case_id, c.host_id, c.collection_id, c.local_port, owner;
