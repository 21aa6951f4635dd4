-- vestige record artifacts as Athena (Glue) tables, one per artifact kind.
--
-- Each table reads the zstd-compressed JSONL record artifacts of every indexed collection through
-- symlink manifests written by packaging/athena/index-case.py:
--
--   ${INDEX_LOCATION}<table>/case_id=<case>/host_id=<host>/collection_id=<collection>/symlink.txt
--
-- Each symlink.txt holds the s3:// URI of one `artifacts/<table>.jsonl.zst` object in the evidence
-- bucket, so a query reads exactly the record artifacts of the collections it selects, partitioned
-- by case, host and collection. The evidence bucket itself is never written to.
--
-- ${INDEX_LOCATION} (an s3:// URI ending in '/') and ${DATABASE} are filled in by
-- `index-case.py ddl`. The same file is the schema of the local engine (packaging/hunts/hunt.py):
-- column names and types below are the only column list; keep one column per line.
-- Columns are a subset of each record's fields (README: "Record artifacts"); fields not listed
-- are ignored, and a field missing from a record reads as NULL.

CREATE DATABASE IF NOT EXISTS `${DATABASE}`;

CREATE EXTERNAL TABLE IF NOT EXISTS `${DATABASE}`.`processes` (
  `pid` bigint,
  `ppid` bigint,
  `comm` string,
  `comm_hex` string,
  `cmdline` array<string>,
  `cmdline_hex` string,
  `exe` string,
  `exe_hex` string,
  `exe_deleted` boolean,
  `exe_memfd` boolean,
  `exe_in_temp_dir` boolean,
  `exe_sha256` string,
  `exe_size` bigint,
  `exe_recovered_path` string,
  `uid` bigint,
  `user` string,
  `start_time` string,
  `state` string,
  `threads` bigint,
  `rss_bytes` bigint,
  `tty` string,
  `session` bigint,
  `pgid` bigint,
  `cwd` string,
  `cwd_hex` string,
  `root` string,
  `root_hex` string,
  `environ` array<string>,
  `environ_hex` string,
  `namespaces` struct<pid:bigint,net:bigint,mnt:bigint,user:bigint,uts:bigint,ipc:bigint,cgroup:bigint>,
  `cgroup` string,
  `container_runtime` string,
  `container_id` string,
  `is_kernel_thread` boolean,
  `is_collector` boolean
)
PARTITIONED BY (`case_id` string, `host_id` string, `collection_id` string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '${INDEX_LOCATION}processes/';

CREATE EXTERNAL TABLE IF NOT EXISTS `${DATABASE}`.`connections` (
  `protocol` string,
  `family` string,
  `local_address` string,
  `local_port` bigint,
  `remote_address` string,
  `remote_port` bigint,
  `state` string,
  `inode` bigint,
  `pids` array<bigint>,
  `uid` bigint,
  `netns` bigint,
  `socket_type` string
)
PARTITIONED BY (`case_id` string, `host_id` string, `collection_id` string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '${INDEX_LOCATION}connections/';

CREATE EXTERNAL TABLE IF NOT EXISTS `${DATABASE}`.`memory_maps` (
  `pid` bigint,
  `start` string,
  `end` string,
  `size` bigint,
  `perms` string,
  `offset` bigint,
  `device` string,
  `inode` bigint,
  `path` string,
  `deleted` boolean,
  `memfd` boolean,
  `writable_executable` boolean,
  `anonymous_executable` boolean
)
PARTITIONED BY (`case_id` string, `host_id` string, `collection_id` string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '${INDEX_LOCATION}memory_maps/';

CREATE EXTERNAL TABLE IF NOT EXISTS `${DATABASE}`.`open_files` (
  `pid` bigint,
  `fd` bigint,
  `target` string,
  `kind` string,
  `deleted` boolean,
  `pos` bigint,
  `flags` string
)
PARTITIONED BY (`case_id` string, `host_id` string, `collection_id` string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '${INDEX_LOCATION}open_files/';

CREATE EXTERNAL TABLE IF NOT EXISTS `${DATABASE}`.`hidden_processes` (
  `pid` bigint,
  `reason` string,
  `comm` string,
  `exe` string,
  `detail` string
)
PARTITIONED BY (`case_id` string, `host_id` string, `collection_id` string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '${INDEX_LOCATION}hidden_processes/';

CREATE EXTERNAL TABLE IF NOT EXISTS `${DATABASE}`.`kernel_modules` (
  `name` string,
  `size` bigint,
  `state` string,
  `taint` string,
  `refcount` bigint,
  `used_by` array<string>,
  `address` string,
  `source` string,
  `missing_from_proc_modules` boolean
)
PARTITIONED BY (`case_id` string, `host_id` string, `collection_id` string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '${INDEX_LOCATION}kernel_modules/';

CREATE EXTERNAL TABLE IF NOT EXISTS `${DATABASE}`.`system` (
  `hostname` string,
  `kernel_release` string,
  `kernel_version` string,
  `kernel_cmdline` string,
  `boot_id` string,
  `boot_time` string,
  `captured_at` string,
  `tainted` bigint,
  `tainted_flags` array<string>,
  `ld_so_preload` struct<path:string,content:string,truncated:boolean>
)
PARTITIONED BY (`case_id` string, `host_id` string, `collection_id` string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '${INDEX_LOCATION}system/';

CREATE EXTERNAL TABLE IF NOT EXISTS `${DATABASE}`.`logins` (
  `source` string,
  `session_type` string,
  `user` string,
  `tty` string,
  `remote_host` string,
  `remote_address` string,
  `pid` bigint,
  `login_time` string,
  `logout_time` string,
  `end_reason` string,
  `duration_seconds` bigint
)
PARTITIONED BY (`case_id` string, `host_id` string, `collection_id` string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '${INDEX_LOCATION}logins/';

CREATE EXTERNAL TABLE IF NOT EXISTS `${DATABASE}`.`users` (
  `user` string,
  `uid` bigint,
  `gid` bigint,
  `home` string,
  `shell` string,
  `login_shell` boolean,
  `password_state` string,
  `has_password` boolean,
  `authorized_keys` bigint,
  `has_authorized_keys` boolean,
  `is_root_uid` boolean
)
PARTITIONED BY (`case_id` string, `host_id` string, `collection_id` string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '${INDEX_LOCATION}users/';
