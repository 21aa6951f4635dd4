-- title: Tainted kernels and the modules that taint them
-- why: out-of-tree, unsigned or force-loaded modules are how kernel rootkits arrive.
-- params:
SELECT case_id, host_id, collection_id, 'kernel' AS source, kernel_release AS name,
       CAST(tainted AS varchar) AS taint, array_join(tainted_flags, ',') AS detail
FROM system
WHERE tainted <> 0
UNION ALL
SELECT case_id, host_id, collection_id, 'module' AS source, name, taint,
       CASE WHEN missing_from_proc_modules THEN 'missing from /proc/modules' END AS detail
FROM kernel_modules
WHERE (taint IS NOT NULL AND taint <> '') OR coalesce(missing_from_proc_modules, false)
ORDER BY case_id, host_id, collection_id, source, name;
