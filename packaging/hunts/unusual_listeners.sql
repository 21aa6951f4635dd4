-- title: Listening TCP sockets and wildcard-bound UDP sockets on ports outside a usual set
-- why: backdoors and bind shells listen; edit the port list to match the fleet's services.
-- params:
SELECT c.case_id, c.host_id, c.collection_id, c.protocol, c.family, c.local_address,
       c.local_port, c.state, c.inode, owner AS pid, p.comm, p.exe
FROM connections c
LEFT JOIN UNNEST(c.pids) AS t(owner) ON true
LEFT JOIN processes p
  ON p.case_id = c.case_id AND p.host_id = c.host_id AND p.collection_id = c.collection_id
 AND p.pid = owner
WHERE ((c.protocol = 'tcp' AND c.state = 'LISTEN')
       OR (c.protocol = 'udp' AND c.local_address IN ('0.0.0.0', '::')
           AND coalesce(c.remote_port, 0) = 0))
  AND c.local_port NOT IN (22, 25, 53, 67, 68, 80, 111, 123, 323, 443, 546, 587, 2049, 5355)
ORDER BY c.case_id, c.host_id, c.collection_id, c.protocol, c.local_port, owner;
