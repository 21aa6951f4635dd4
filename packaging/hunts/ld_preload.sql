-- title: LD_PRELOAD in a process environment, or a non-empty /etc/ld.so.preload
-- why: user-land rootkits (and credential sniffers) load through the dynamic linker.
-- params:
SELECT case_id, host_id, collection_id, pid, comm, exe, 'environ' AS source,
       regexp_extract(array_join(environ, chr(10)), 'LD_PRELOAD=[^\n]*') AS value
FROM processes
WHERE regexp_like(array_join(environ, chr(10)), '(^|\n)LD_PRELOAD=')
  AND NOT is_collector
UNION ALL
SELECT case_id, host_id, collection_id, CAST(NULL AS bigint) AS pid, CAST(NULL AS varchar) AS comm,
       CAST(NULL AS varchar) AS exe, ld_so_preload.path AS source, ld_so_preload.content AS value
FROM system
WHERE regexp_like(coalesce(ld_so_preload.content, ''), '(^|\n)[ \t]*[^#\s]')
ORDER BY case_id, host_id, collection_id, pid;
