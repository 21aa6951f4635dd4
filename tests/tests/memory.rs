//! Memory evidence end to end: process memory dumps of real processes (the zoo's RWX member,
//! dedicated children for caps and for a process that exits mid-dump) and full RAM in LiME
//! format from a synthetic /proc/kcore, each through the real binary.

use e2e::zoo::{run_zoo, ZooRun};
use e2e::{manifest, summary, vestige};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn hexnum(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

/// Runs `vestige collect --out DIR/out --quiet ARGS` and returns (summary, collection root).
fn collect(dir: &Path, args: &[&str]) -> (Value, PathBuf) {
    let out_dir = dir.join("out");
    let mut all = vec!["collect", "--out", out_dir.to_str().unwrap(), "--quiet"];
    all.extend_from_slice(args);
    let out = vestige(&all);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = summary(&out);
    let root = PathBuf::from(s["location"].as_str().unwrap());
    (s, root)
}

fn entry(root: &Path, name: &str) -> Value {
    manifest(root)["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("no artifact {name}"))
        .clone()
}

fn stored_raw(root: &Path, rel: &str) -> Vec<u8> {
    let stored = std::fs::read(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    zstd::decode_all(&stored[..]).expect("zstd")
}

fn verify_ok(root: &Path, s: &Value) {
    let v = vestige(&[
        "verify",
        root.to_str().unwrap(),
        "--manifest-sha256",
        s["manifest_sha256"].as_str().unwrap(),
    ]);
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stdout)
    );
}

// ---------------------------------------------------------------------------------------------
// The zoo: selectors and the RWX member's pattern

const ZOO_SPEC: &str = "name: memory-zoo
artifacts:
  - name: process_memory
    timeout: 120s
    collect:
      process_memory:
        file_backed: false
        max_process_bytes: 64MiB
  - name: processes
    collect: processes
";

static ZOO: OnceLock<Result<ZooRun, String>> = OnceLock::new();

fn zoo() -> &'static ZooRun {
    let run = ZOO.get_or_init(|| {
        let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("memory-zoo");
        let spec = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("memory-zoo.yaml");
        std::fs::write(&spec, ZOO_SPEC).unwrap();
        run_zoo(&work, &["--spec", spec.to_str().unwrap()])
    });
    match run {
        Ok(z) => z,
        Err(e) => panic!("the process zoo did not run: {e}"),
    }
}

/// Index records of the zoo's process_memory artifact for `pid`.
fn index_of(z: &ZooRun, pid: u64) -> (Vec<Value>, Value) {
    let recs: Vec<Value> = z
        .records("process_memory")
        .into_iter()
        .filter(|r| r["pid"] == pid)
        .collect();
    let procs: Vec<&Value> = recs.iter().filter(|r| r["record"] == "process").collect();
    assert_eq!(procs.len(), 1, "one process record for pid {pid}: {recs:?}");
    let p = procs[0].clone();
    let regions = recs
        .into_iter()
        .filter(|r| r["record"] == "region")
        .collect();
    (regions, p)
}

/// A pattern written into a zoo process's rwx mapping is in the memory dump at its recorded offset;
/// regions lie end to end, each hashed, and file-backed ones are left out when asked.
#[test]
fn zoo_rwx_pattern_is_in_the_dump_at_its_recorded_address() {
    let z = zoo();
    let member = z.member("rwx");
    let addr = member["addr"].as_u64().unwrap();
    let len = member["len"].as_u64().unwrap();
    let (regions, p) = index_of(z, z.pid("rwx"));
    assert_eq!(p["status"], "ok", "{p}");
    let reasons: Vec<&str> = p["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        reasons.contains(&"wx_mapping") && reasons.contains(&"anon_exec"),
        "{p}"
    );
    let r = regions
        .iter()
        .find(|r| hexnum(&r["start"]) <= addr && addr + len <= hexnum(&r["end"]))
        .unwrap_or_else(|| panic!("no region holds {addr:#x}: {regions:?}"));
    assert_eq!(r["perms"], "rwxp", "{r}");
    assert_eq!(r["status"], "ok", "{r}");
    assert_eq!(r["bytes"], hexnum(&r["end"]) - hexnum(&r["start"]));

    // The dump holds the pattern at dump_offset + (addr - start).
    let dump_path = p["dump_path"].as_str().unwrap();
    assert_eq!(r["dump_path"], dump_path);
    let dump = stored_raw(&z.root, dump_path);
    assert_eq!(dump.len() as u64, p["bytes"].as_u64().unwrap());
    assert_eq!(e2e::sha256_hex(&dump), p["dump_sha256"].as_str().unwrap());
    let at = (r["dump_offset"].as_u64().unwrap() + (addr - hexnum(&r["start"]))) as usize;
    let got = &dump[at..at + len as usize];
    assert_eq!(
        e2e::sha256_hex(got),
        member["pattern_sha256"],
        "pattern bytes at {addr:#x}"
    );
    let marker = member["marker"].as_str().unwrap().as_bytes();
    assert_eq!(&got[..16], &[0xc3u8; 16]);
    assert_eq!(&got[16..16 + marker.len()], marker);
    // Each stored region's hash covers exactly its bytes.
    let off = r["dump_offset"].as_u64().unwrap() as usize;
    let bytes = r["bytes"].as_u64().unwrap() as usize;
    assert_eq!(
        e2e::sha256_hex(&dump[off..off + bytes]),
        r["sha256"].as_str().unwrap()
    );
    // Regions are laid end to end in the dump.
    let mut next = 0;
    for r in &regions {
        assert_eq!(r["dump_offset"], next, "{r}");
        next += r["bytes"].as_u64().unwrap();
    }
    assert_eq!(next, dump.len() as u64);
    // file_backed: false left the interpreter's own file mappings out.
    assert!(regions.iter().any(|r| r["status"] == "skipped_file_backed"));
}

/// [hostile] The anomaly selectors dump the deleted and memfd executables' processes only: not
/// plain members, not a binary merely named "(deleted)", never vestige itself.
#[test]
fn zoo_selectors_pick_suspicious_processes_only() {
    let z = zoo();
    let reasons = |name: &str| -> Vec<String> {
        let (_, p) = index_of(z, z.pid(name));
        p["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_owned())
            .collect()
    };
    assert!(reasons("deleted_exe").contains(&"deleted_exe".to_owned()));
    assert!(
        reasons("linked_exe").contains(&"deleted_exe".to_owned()),
        "unlinked name"
    );
    assert_eq!(reasons("memfd_exe"), ["memfd_exe"]);
    // Plain members are not dumped, and vestige never dumps itself.
    let dumped: Vec<u64> = z
        .records("process_memory")
        .iter()
        .filter(|r| r["record"] == "process")
        .map(|r| r["pid"].as_u64().unwrap())
        .collect();
    // A binary whose real name ends in " (deleted)" is still on disk: not deleted.
    let literal = z.pid("literal_exe");
    let literal_reasons = z
        .records("process_memory")
        .into_iter()
        .find(|r| r["record"] == "process" && r["pid"] == literal)
        .map(|r| r["reasons"].clone());
    assert!(
        literal_reasons.is_none(),
        "literal_exe is not selected: {literal_reasons:?}"
    );
    for plain in [
        "tcp_server",
        "tcp_client",
        "udp",
        "unix",
        "cmdline",
        "threads",
        "deleted_file",
    ] {
        assert!(!dumped.contains(&z.pid(plain)), "{plain} is not suspicious");
    }
    let vestige_pid = manifest(&z.root)["collector"]["pid"].as_u64().unwrap();
    assert!(!dumped.contains(&vestige_pid));
    let e = entry(&z.root, "process_memory");
    assert_eq!(e["status"], "ok", "{e}");
    for pid in &dumped {
        let d = entry(&z.root, &format!("process_memory.{pid}.mem"));
        assert_eq!(d["status"], "ok", "{d}");
    }
    verify_ok(&z.root, &z.summary);
}

// ---------------------------------------------------------------------------------------------
// Dedicated children

/// A python child holding `mib` MiB of anonymous memory filled from `fill` (a python
/// expression for a bytes object of `n` bytes); prints its address and waits.
fn child(mib: u64, fill: &str) -> (Child, u64) {
    let script = format!(
        "import mmap,ctypes,sys,os\n\
n={mib}<<20\n\
m=mmap.mmap(-1,n,flags=mmap.MAP_PRIVATE|mmap.MAP_ANONYMOUS,prot=mmap.PROT_READ|mmap.PROT_WRITE)\n\
m.write({fill})\n\
print(ctypes.addressof(ctypes.c_char.from_buffer(m)),flush=True)\n\
sys.stdin.read()\n"
    );
    let mut c =
        Command::new(std::env::var_os("VESTIGE_TEST_PYTHON").unwrap_or_else(|| "python3".into()))
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
    let mut line = String::new();
    BufReader::new(c.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("child said {line:?}"));
    (c, addr)
}

/// The counting pattern the children write: byte k is k * 7 mod 251.
const COUNTING: &str =
    "bytes((k*7)%251 for k in range(251))*(n//251)+bytes((k*7)%251 for k in range(n%251))";

/// The per-process and total caps limit what is dumped, the dump matches the recorded bytes, and
/// reaching a cap is not an error.
#[test]
fn caps_limit_each_process_and_the_total() {
    let dir = tmp("memory-caps");
    let spec = dir.join("caps.yaml");
    std::fs::write(
        &spec,
        "name: caps\nartifacts:\n  - name: pm\n    collect:\n      process_memory:\n        select: []\n        file_backed: false\n        max_process_bytes: 3MiB\n        max_total_bytes: 4MiB\n",
    )
    .unwrap();
    let (mut a, _) = child(8, COUNTING);
    let (mut b, _) = child(8, COUNTING);
    let (pa, pb) = (a.id().min(b.id()), a.id().max(b.id()));
    let (s, root) = collect(
        &dir,
        &[
            "--spec",
            spec.to_str().unwrap(),
            "--pid",
            &pa.to_string(),
            "--pid",
            &pb.to_string(),
        ],
    );
    let _ = (a.kill(), b.kill(), a.wait(), b.wait());
    let recs = e2e::artifact_records(&root, "pm");
    let proc_of = |pid: u32| {
        recs.iter()
            .find(|r| r["record"] == "process" && r["pid"] == pid)
            .unwrap_or_else(|| panic!("no process record for {pid}"))
            .clone()
    };
    let first = proc_of(pa);
    let second = proc_of(pb);
    assert_eq!(first["bytes"], 3u64 << 20, "per-process cap: {first}");
    assert_eq!(
        second["bytes"],
        1u64 << 20,
        "what the total cap left: {second}"
    );
    assert_eq!(first["reasons"], serde_json::json!(["pid"]));
    for (pid, p) in [(pa, &first), (pb, &second)] {
        let regions: Vec<&Value> = recs
            .iter()
            .filter(|r| r["record"] == "region" && r["pid"] == pid)
            .collect();
        let statuses: Vec<&str> = regions
            .iter()
            .map(|r| r["status"].as_str().unwrap())
            .collect();
        assert_eq!(
            statuses
                .iter()
                .filter(|s| **s == "truncated_at_cap")
                .count(),
            1,
            "{statuses:?}"
        );
        let cut = statuses
            .iter()
            .position(|s| *s == "truncated_at_cap")
            .unwrap();
        assert!(
            statuses[cut + 1..].iter().all(|s| s.starts_with("skipped")),
            "nothing stored after the cap: {statuses:?}"
        );
        let total: u64 = regions.iter().map(|r| r["bytes"].as_u64().unwrap()).sum();
        assert_eq!(total, p["bytes"].as_u64().unwrap());
        let dump = stored_raw(&root, p["dump_path"].as_str().unwrap());
        assert_eq!(dump.len() as u64, total);
    }
    let e = entry(&root, "pm");
    assert_eq!(e["status"], "ok", "caps are by design, not errors: {e}");
    verify_ok(&root, &s);
}

/// --pid adds process memory to a built-in profile, first and said in the stored spec; the pid's
/// memory is dumped exactly and a pid that does not exist is recorded not_found with a warning.
#[test]
fn explicit_pid_joins_a_builtin_profile_and_a_missing_pid_is_recorded() {
    let dir = tmp("memory-pid");
    let (mut c, addr) = child(2, COUNTING);
    let pid = c.id();
    let (s, root) = collect(
        &dir,
        &[
            "--spec",
            "minimal",
            "--pid",
            &pid.to_string(),
            "--pid",
            "999999999",
        ],
    );
    let _ = (c.kill(), c.wait());
    let m = manifest(&root);
    let names: Vec<&str> = m["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    // The added artifact runs first (after the stored spec), before processes.
    let pm = names.iter().position(|n| *n == "process_memory").unwrap();
    assert!(
        pm < names.iter().position(|n| *n == "processes").unwrap(),
        "{names:?}"
    );
    let stored_spec = stored_raw(&root, m["spec"]["path"].as_str().unwrap());
    assert!(String::from_utf8_lossy(&stored_spec).contains(&format!("--pid {pid}")));
    let recs = e2e::artifact_records(&root, "process_memory");
    let missing = recs
        .iter()
        .find(|r| r["pid"] == 999_999_999u64)
        .expect("missing pid recorded");
    assert_eq!(missing["status"], "not_found", "{missing}");
    let p = recs
        .iter()
        .find(|r| r["record"] == "process" && r["pid"] == pid)
        .unwrap();
    assert_eq!(p["status"], "ok", "{p}");
    let r = recs
        .iter()
        .find(|r| {
            r["record"] == "region"
                && r["pid"] == pid
                && hexnum(&r["start"]) <= addr
                && addr < hexnum(&r["end"])
        })
        .unwrap();
    let dump = stored_raw(&root, p["dump_path"].as_str().unwrap());
    let at = (r["dump_offset"].as_u64().unwrap() + addr - hexnum(&r["start"])) as usize;
    let want: Vec<u8> = (0..4096u64).map(|k| ((k % 251) * 7 % 251) as u8).collect();
    assert_eq!(&dump[at..at + 4096], &want[..]);
    let e = entry(&root, "process_memory");
    assert_eq!(
        e["status"], "partial",
        "a named pid that is not there is a warning: {e}"
    );
    assert!(e["warnings"][0].as_str().unwrap().contains("999999999"));
    verify_ok(&root, &s);
}

/// [fault] A process killed while its memory is dumped is recorded vanished, and what was read
/// before is stored, hashed and listed as partial.
#[test]
fn a_process_that_exits_mid_dump_is_recorded_not_fatal() {
    let dir = tmp("memory-exit");
    // Incompressible bytes at the slowest zstd level: the dump takes seconds, so the kill
    // below lands while it is being read.
    let spec = dir.join("slow.yaml");
    std::fs::write(
        &spec,
        "name: slow\nzstd_level: 19\nartifacts:\n  - name: pm\n    collect:\n      process_memory:\n        select: []\n        file_backed: false\n",
    )
    .unwrap();
    let (mut c, _) = child(192, "os.urandom(n)");
    let pid = c.id();
    let out_dir = dir.join("out");
    let mut run = Command::new(e2e::vestige_bin())
        .args([
            "collect",
            "--out",
            out_dir.to_str().unwrap(),
            "--quiet",
            "--spec",
        ])
        .arg(&spec)
        .args(["--pid", &pid.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the child once its dump object exists and holds some bytes.
    let started = Instant::now();
    let killed_mid_dump = loop {
        let part = find_file(&out_dir, &format!("{pid}.mem.zst.part"));
        if part
            .as_ref()
            .is_some_and(|p| std::fs::metadata(p).map(|m| m.len() > 0).unwrap_or(false))
        {
            let _ = c.kill();
            break true;
        }
        if started.elapsed() > Duration::from_secs(60) || run.try_wait().unwrap().is_some() {
            let _ = c.kill();
            break false;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = c.wait();
    let out = run.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        killed_mid_dump,
        "the dump finished before the child could be killed"
    );
    let s = summary(&out);
    let root = PathBuf::from(s["location"].as_str().unwrap());
    let recs = e2e::artifact_records(&root, "pm");
    let p = recs.iter().find(|r| r["record"] == "process").unwrap();
    assert_eq!(p["status"], "vanished", "{p}");
    assert!(recs
        .iter()
        .any(|r| r["record"] == "region" && r["status"] == "vanished"));
    // What was read before the exit is stored, hashed and listed.
    let d = entry(&root, &format!("pm.{pid}.mem"));
    assert_eq!(d["status"], "partial", "{d}");
    assert_eq!(d["raw_bytes"], p["bytes"]);
    assert_eq!(entry(&root, "pm")["status"], "partial");
    verify_ok(&root, &s);
}

fn find_file(dir: &Path, suffix: &str) -> Option<PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(f) = find_file(&p, suffix) {
                return Some(f);
            }
        } else if p.to_string_lossy().ends_with(suffix) {
            return Some(p);
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Full RAM from a synthetic kcore

/// An ELF64 core file with one PT_LOAD per (vaddr, paddr, bytes), built independently of
/// vestige's parser.
fn kcore(segments: &[(u64, u64, &[u8])]) -> Vec<u8> {
    let phnum = segments.len() as u16 + 1;
    let mut f = Vec::new();
    f.extend_from_slice(b"\x7fELF\x02\x01\x01\x00");
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&4u16.to_le_bytes()); // ET_CORE
    f.extend_from_slice(&62u16.to_le_bytes());
    f.extend_from_slice(&1u32.to_le_bytes());
    f.extend_from_slice(&0u64.to_le_bytes());
    f.extend_from_slice(&64u64.to_le_bytes());
    f.extend_from_slice(&0u64.to_le_bytes());
    f.extend_from_slice(&0u32.to_le_bytes());
    for v in [64u16, 56, phnum, 0, 0, 0] {
        f.extend_from_slice(&v.to_le_bytes());
    }
    let mut at = 64 + 56 * phnum as u64 + 100; // a gap before the data, as in real files
    let mut ph = |t: u32, off: u64, vaddr: u64, paddr: u64, size: u64| {
        f.extend_from_slice(&t.to_le_bytes());
        f.extend_from_slice(&7u32.to_le_bytes());
        for v in [off, vaddr, paddr, size, size, 4096] {
            f.extend_from_slice(&v.to_le_bytes());
        }
    };
    ph(4, 0, 0, 0, 0);
    let mut offsets = Vec::new();
    for (vaddr, paddr, bytes) in segments {
        ph(1, at, *vaddr, *paddr, bytes.len() as u64);
        offsets.push(at);
        at += bytes.len() as u64;
    }
    f.resize(offsets.first().copied().unwrap_or(at) as usize, 0xee);
    for (_, _, bytes) in segments {
        f.extend_from_slice(bytes);
    }
    f
}

fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Parses a LiME stream into (start, end inclusive, bytes) ranges.
fn parse_lime(mut b: &[u8]) -> Vec<(u64, u64, Vec<u8>)> {
    let mut out = Vec::new();
    while !b.is_empty() {
        assert!(b.len() >= 32, "truncated header");
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
        assert_eq!(u32_at(0), 0x4C69_4D45, "magic");
        assert_eq!(u32_at(4), 1, "version");
        let (start, end) = (u64_at(8), u64_at(16));
        assert_eq!(&b[24..32], &[0u8; 8], "reserved");
        let len = (end - start + 1) as usize;
        out.push((start, end, b[32..32 + len].to_vec()));
        b = &b[32 + len..];
    }
    out
}

const IOMEM: &str = "00000000-00000fff : Reserved
00001000-00009fff : System RAM
0000a000-000fffff : Reserved
00100000-003fffff : System RAM
  00200000-002fffff : Kernel code
00400000-004fffff : PCI Bus 0000:00
";

fn ram_spec(dir: &Path, kcore: &Path, iomem: &Path) -> PathBuf {
    let spec = dir.join("ram.yaml");
    std::fs::write(
        &spec,
        format!(
            "name: ram-test\nartifacts:\n  - name: ram\n    collect:\n      ram:\n        kcore: {}\n        iomem: {}\n",
            kcore.display(),
            iomem.display()
        ),
    )
    .unwrap();
    spec
}

/// A LiME image from a synthetic kcore and iomem matches the RAM byte for byte, one range per
/// segment, with its ranges recorded.
#[test]
fn lime_from_a_synthetic_kcore_matches_it_byte_for_byte() {
    let dir = tmp("memory-ram");
    let low = noise(0x9000, 1); // physical 0x1000-0x9fff
    let high_a = noise(0x10_0000, 2); // physical 0x100000-0x1fffff
    let high_b = noise(0x20_0000, 3); // physical 0x200000-0x3fffff
    let text = noise(0x8000, 4); // kernel text: no physical address
    let reserved = noise(0x1000, 5); // physical 0xa000, not System RAM
    let file = kcore(&[
        (0xffff_ffff_8100_0000, u64::MAX, &text),
        (0xffff_8880_0000_1000, 0x1000, &low),
        (0xffff_8880_0000_a000, 0xa000, &reserved),
        (0xffff_8880_0010_0000, 0x10_0000, &high_a),
        (0xffff_8880_0020_0000, 0x20_0000, &high_b),
    ]);
    let kcore_path = dir.join("kcore");
    let iomem_path = dir.join("iomem");
    std::fs::write(&kcore_path, &file).unwrap();
    std::fs::write(&iomem_path, IOMEM).unwrap();
    let spec = ram_spec(&dir, &kcore_path, &iomem_path);
    let (s, root) = collect(&dir, &["--spec", spec.to_str().unwrap()]);
    let lime_entry = entry(&root, "ram.lime");
    assert_eq!(lime_entry["status"], "ok", "{lime_entry}");
    let lime = stored_raw(&root, lime_entry["path"].as_str().unwrap());
    let ranges = parse_lime(&lime);
    let got: Vec<(u64, u64)> = ranges.iter().map(|r| (r.0, r.1)).collect();
    // The second System RAM range spans two segments: two LiME ranges, back to back.
    assert_eq!(
        got,
        [
            (0x1000, 0x9fff),
            (0x10_0000, 0x1f_ffff),
            (0x20_0000, 0x3f_ffff)
        ]
    );
    assert!(ranges[0].2 == low, "low RAM byte for byte");
    assert!(
        ranges[1].2 == high_a && ranges[2].2 == high_b,
        "high RAM byte for byte"
    );
    assert_eq!(lime.len(), 3 * 32 + low.len() + high_a.len() + high_b.len());
    assert_eq!(lime_entry["raw_sha256"], e2e::sha256_hex(&lime));
    let recs = e2e::artifact_records(&root, "ram");
    assert_eq!(recs.len(), 3);
    assert!(recs.iter().all(|r| r["status"] == "ok"), "{recs:?}");
    assert_eq!(recs[1]["lime_offset"], 32 + low.len());
    assert_eq!(entry(&root, "ram")["status"], "ok");
    verify_ok(&root, &s);
}

/// RAM that kcore does not hold is recorded not_in_kcore, and the size cap cuts the image
/// (truncated_at_cap, artifact partial).
#[test]
fn ram_that_kcore_does_not_hold_is_recorded_and_caps_apply() {
    let dir = tmp("memory-ram-gap");
    let low = noise(0x9000, 7);
    let file = kcore(&[(0xffff_8880_0000_1000, 0x1000, &low)]);
    let kcore_path = dir.join("kcore");
    let iomem_path = dir.join("iomem");
    std::fs::write(&kcore_path, &file).unwrap();
    std::fs::write(&iomem_path, IOMEM).unwrap();
    let spec = ram_spec(&dir, &kcore_path, &iomem_path);
    let text = std::fs::read_to_string(&spec).unwrap() + "        max_bytes: 16KiB\n";
    std::fs::write(&spec, text).unwrap();
    let (s, root) = collect(&dir, &["--spec", spec.to_str().unwrap()]);
    let lime = stored_raw(&root, entry(&root, "ram.lime")["path"].as_str().unwrap());
    let ranges = parse_lime(&lime);
    assert_eq!(ranges.len(), 1);
    assert_eq!(
        (ranges[0].0, ranges[0].1),
        (0x1000, 0x4fff),
        "cut at 16 KiB"
    );
    assert!(ranges[0].2 == low[..0x4000]);
    let recs = e2e::artifact_records(&root, "ram");
    let st: Vec<&str> = recs.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(st, ["truncated_at_cap", "not_in_kcore"]);
    let e = entry(&root, "ram");
    assert_eq!(e["status"], "partial", "{e}");
    assert!(
        e["warnings"][0].as_str().unwrap().contains("0x100000"),
        "{e}"
    );
    verify_ok(&root, &s);
}

/// [fault] A missing kcore, an iomem showing zeros and a file that is not an ELF core each fail the
/// RAM artifact with a clear error, not the run.
#[test]
fn ram_errors_are_clear_and_not_fatal() {
    let dir = tmp("memory-ram-errors");
    let iomem_path = dir.join("iomem");
    std::fs::write(&iomem_path, IOMEM).unwrap();
    // No kcore (as on these machines): the flag's artifact fails, the run does not.
    let spec = ram_spec(&dir, &dir.join("no-kcore"), &iomem_path);
    let (s, root) = collect(&dir, &["--spec", spec.to_str().unwrap()]);
    let e = entry(&root, "ram");
    assert_eq!(e["status"], "error", "{e}");
    assert!(
        e["error"].as_str().unwrap().contains("does not exist"),
        "{e}"
    );
    assert_eq!(s["errors"], 1);

    // iomem read without privilege shows zeros.
    let hidden = dir.join("iomem-hidden");
    std::fs::write(
        &hidden,
        "00000000-00000000 : Reserved\n00000000-00000000 : System RAM\n",
    )
    .unwrap();
    let spec = ram_spec(&dir, &dir.join("no-kcore"), &hidden);
    let (_, root) = collect(&dir, &["--spec", spec.to_str().unwrap()]);
    let e = entry(&root, "ram");
    assert!(
        e["error"].as_str().unwrap().contains("CAP_SYS_ADMIN"),
        "{e}"
    );

    // Not an ELF core.
    let bogus = dir.join("bogus-kcore");
    std::fs::write(&bogus, b"MZ this is not ELF").unwrap();
    let spec = ram_spec(&dir, &bogus, &iomem_path);
    let (_, root) = collect(&dir, &["--spec", spec.to_str().unwrap()]);
    let e = entry(&root, "ram");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("not a little-endian ELF64"),
        "{e}"
    );

    // --ram on the live host: this machine has no /proc/kcore.
    if !Path::new("/proc/kcore").exists() {
        let (_, root) = collect(&dir, &["--spec", "minimal", "--ram"]);
        let m = manifest(&root);
        let names: Vec<&str> = m["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap())
            .collect();
        assert_eq!(names[1], "ram", "right after the stored spec: {names:?}");
        let e = entry(&root, "ram");
        assert_eq!(e["status"], "error");
        assert!(e["error"].as_str().unwrap().contains("/proc/kcore"), "{e}");
    }
}

/// A System RAM range whose kcore segment cannot be read to its end (the file ends inside
/// it): the LiME range keeps its promised length, the unread bytes are zeros, and the range
/// record, the artifact's status and its warning say so; the collection still verifies.
#[test]
fn unreadable_ram_is_zero_filled_and_recorded() {
    let dir = tmp("memory-ram-unreadable");
    let low = noise(0x9000, 11); // physical 0x1000-0x9fff
    let high = noise(0x30_0000, 12); // physical 0x100000-0x3fffff
    let mut file = kcore(&[
        (0xffff_8880_0010_0000, 0x10_0000, &high),
        (0xffff_8880_0000_1000, 0x1000, &low),
    ]);
    // The low segment's data comes last: cutting the file leaves 0x6000 of its 0x9000 bytes.
    file.truncate(file.len() - 0x3000);
    let kcore_path = dir.join("kcore");
    let iomem_path = dir.join("iomem");
    std::fs::write(&kcore_path, &file).unwrap();
    std::fs::write(&iomem_path, IOMEM).unwrap();
    let spec = ram_spec(&dir, &kcore_path, &iomem_path);
    let (s, root) = collect(&dir, &["--spec", spec.to_str().unwrap()]);

    let lime_entry = entry(&root, "ram.lime");
    assert_eq!(lime_entry["status"], "partial", "{lime_entry}");
    let lime = stored_raw(&root, lime_entry["path"].as_str().unwrap());
    let ranges = parse_lime(&lime);
    let got: Vec<(u64, u64)> = ranges.iter().map(|r| (r.0, r.1)).collect();
    assert_eq!(got, [(0x1000, 0x9fff), (0x10_0000, 0x3f_ffff)]);
    assert!(ranges[0].2[..0x6000] == low[..0x6000], "what was readable");
    assert!(
        ranges[0].2[0x6000..].iter().all(|b| *b == 0),
        "zeros stand in for the rest"
    );
    assert!(ranges[1].2 == high, "the readable range is untouched");

    let recs = e2e::artifact_records(&root, "ram");
    assert_eq!(recs.len(), 2);
    let low_rec = &recs[0];
    assert_eq!(low_rec["status"], "zero_filled", "{low_rec}");
    assert_eq!(low_rec["zero_filled_bytes"], 0x3000);
    assert_eq!(low_rec["bytes"], 0x9000);
    let why = low_rec["error"].as_str().unwrap();
    assert!(
        why.contains("physical 0x7000") && why.contains("end of file"),
        "{why}"
    );
    assert_eq!(recs[1]["status"], "ok");
    assert_eq!(recs[1]["zero_filled_bytes"], 0);
    let e = entry(&root, "ram");
    assert_eq!(e["status"], "partial", "{e}");
    assert!(
        e["warnings"][0].as_str().unwrap().contains("zero-filled"),
        "{e}"
    );
    verify_ok(&root, &s);
}

/// Kernel lockdown in confidentiality mode forbids reading kcore: the ram artifact fails with
/// that reason named (read from /sys/kernel/security/lockdown) and the run completes. The
/// lockdown file is a tmpfs mounted in a private mount namespace, and vestige runs as
/// `nobody` on a kcore it may not open, which is how the kernel answers under lockdown.
#[test]
fn kernel_lockdown_is_named_when_kcore_cannot_be_opened() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let kcore_path = dir.join("kcore");
    std::fs::write(
        &kcore_path,
        kcore(&[(0xffff_8880_0000_1000, 0x1000, &[1u8; 16])]),
    )
    .unwrap();
    std::fs::set_permissions(&kcore_path, std::fs::Permissions::from_mode(0o000)).unwrap();
    let iomem_path = dir.join("iomem");
    std::fs::write(&iomem_path, IOMEM).unwrap();
    let spec = ram_spec(dir, &kcore_path, &iomem_path);
    let out_dir = dir.join("out");
    std::fs::create_dir(&out_dir).unwrap();
    std::fs::set_permissions(&out_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let script = format!(
        "mount -t tmpfs tmpfs /sys/kernel/security && \
         echo 'none integrity [confidentiality]' > /sys/kernel/security/lockdown && \
         exec setpriv --reuid=65534 --regid=65534 --clear-groups \"$VESTIGE\" collect --quiet --spec '{}' --out '{}'",
        spec.display(),
        out_dir.display()
    );
    let out = Command::new("unshare")
        .args(["--mount", "sh", "-c", &script])
        .env("VESTIGE", e2e::vestige_bin())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = summary(&out);
    assert_eq!(s["errors"], 1, "{s}");
    let root = PathBuf::from(s["location"].as_str().unwrap());
    let e = entry(&root, "ram");
    assert_eq!(e["status"], "error", "{e}");
    let why = e["error"].as_str().unwrap();
    assert!(
        why.contains("kernel lockdown is in confidentiality mode")
            && why.contains("[confidentiality]"),
        "{why}"
    );
    assert!(
        !Path::new("/sys/kernel/security/lockdown").exists(),
        "the fixture stayed in its namespace"
    );
}

/// A python child mapping one small file `count` times (offset 0 each time, so no two
/// mappings merge) through a path of about `path_len` bytes, which lengthens every maps line;
/// prints when ready and waits.
fn many_mappings(dir: &Path, count: usize, path_len: usize) -> Child {
    let mut file = dir.to_path_buf();
    while file.as_os_str().len() + 201 < path_len {
        file.push("d".repeat(200));
    }
    std::fs::create_dir_all(&file).unwrap();
    file.push("mapped");
    std::fs::write(&file, vec![7u8; 4096]).unwrap();
    let script = format!(
        "import ctypes,os,sys\n\
libc=ctypes.CDLL(None,use_errno=True)\n\
libc.mmap.restype=ctypes.c_void_p\n\
libc.mmap.argtypes=[ctypes.c_void_p,ctypes.c_size_t,ctypes.c_int,ctypes.c_int,ctypes.c_int,ctypes.c_long]\n\
fd=os.open(sys.argv[1],os.O_RDONLY)\n\
maps=[libc.mmap(None,4096,1,1,fd,0) for _ in range({count})]\n\
assert all(m not in (None,2**64-1) for m in maps), ctypes.get_errno()\n\
print('ready',flush=True)\n\
sys.stdin.read()\n"
    );
    let mut c =
        Command::new(std::env::var_os("VESTIGE_TEST_PYTHON").unwrap_or_else(|| "python3".into()))
            .args(["-c", &script])
            .arg(&file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
    let mut line = String::new();
    BufReader::new(c.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    c
}

/// Dumps `pid` alone (file-backed regions indexed, not read); returns its records.
fn dump_pid(dir: &Path, pid: u32) -> (Vec<Value>, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let spec = dir.join("pid.yaml");
    std::fs::write(
        &spec,
        format!(
            "name: one-pid\nartifacts:\n  - name: process_memory\n    timeout: 300s\n    collect:\n      process_memory:\n        select: []\n        pids: [{pid}]\n        file_backed: false\n"
        ),
    )
    .unwrap();
    let (_, root) = collect(dir, &["--spec", spec.to_str().unwrap()]);
    let recs = e2e::artifact_records(&root, "process_memory")
        .into_iter()
        .filter(|r| r["pid"] == pid)
        .collect();
    (recs, root)
}

/// /proc/PID/maps longer than the 4 MiB other /proc files are read to is read whole: every
/// mapping has its region record. One longer than the maps cap (64 MiB) is read up to it, and
/// the process record says the rest was not dumped.
#[test]
fn long_maps_are_read_whole_and_a_cut_is_recorded() {
    let dir = tmp("memory-long-maps");
    // About 20,000 lines of over 300 bytes: more than 4 MiB.
    let mut c = many_mappings(&dir.join("short"), 20_000, 300);
    let pid = c.id();
    let maps = std::fs::read(format!("/proc/{pid}/maps")).unwrap();
    let (recs, _) = dump_pid(&dir.join("whole"), pid);
    let _ = (c.kill(), c.wait());
    assert!(maps.len() > 4 << 20, "{} bytes", maps.len());
    let lines = maps.iter().filter(|b| **b == b'\n').count();
    let regions = recs.iter().filter(|r| r["record"] == "region").count();
    assert_eq!(regions, lines, "one region record per maps line");
    let p = recs.iter().find(|r| r["record"] == "process").unwrap();
    assert_eq!(p["status"], "ok", "{p}");
    assert_eq!(p["regions"], lines);

    // About 19,000 lines of about 3,600 bytes: more than 64 MiB.
    let mut c = many_mappings(&dir.join("long"), 19_000, 3_600);
    let pid = c.id();
    let maps = std::fs::read(format!("/proc/{pid}/maps")).unwrap();
    let (recs, root) = dump_pid(&dir.join("cut"), pid);
    let _ = (c.kill(), c.wait());
    assert!(maps.len() > 64 << 20, "{} bytes", maps.len());
    let read = maps[..64 << 20].iter().filter(|b| **b == b'\n').count();
    let regions = recs.iter().filter(|r| r["record"] == "region").count();
    assert_eq!(regions, read, "the whole lines within the cap");
    let p = recs.iter().find(|r| r["record"] == "process").unwrap();
    assert_eq!(p["status"], "partial", "{p}");
    let why = p["error"].as_str().unwrap();
    assert!(
        why.contains("maps is longer than") && why.contains(&format!("first {read} mappings")),
        "{why}"
    );
    assert_eq!(
        entry(&root, &format!("process_memory.{pid}.mem"))["status"],
        "partial"
    );
}

/// [hostile] memory_maps records every mapping of a process whose maps is over 4 MiB, and
/// names the ones it did not record past 64 MiB instead of dropping them silently.
#[test]
fn memory_maps_of_huge_maps_files_are_whole_or_named_as_cut() {
    let dir = tmp("memory-maps-long");
    let mut short = many_mappings(&dir.join("short"), 20_000, 300);
    let mut long = many_mappings(&dir.join("long"), 19_000, 3_600);
    let (sp, lp) = (short.id(), long.id());
    let short_maps = std::fs::read(format!("/proc/{sp}/maps")).unwrap();
    let long_maps = std::fs::read(format!("/proc/{lp}/maps")).unwrap();
    let spec = dir.join("maps.yaml");
    std::fs::write(
        &spec,
        "name: maps\nartifacts:\n  - name: memory_maps\n    timeout: 300s\n    collect: memory_maps\n",
    )
    .unwrap();
    let (s, root) = collect(
        &dir,
        &["--spec", spec.to_str().unwrap(), "--time-source", "none"],
    );
    let _ = (short.kill(), short.wait(), long.kill(), long.wait());
    verify_ok(&root, &s);
    assert!(short_maps.len() > 4 << 20 && long_maps.len() > 64 << 20);
    let recs = e2e::artifact_records(&root, "memory_maps");
    let count = |pid: u32| recs.iter().filter(|r| r["pid"] == pid).count();
    let lines = |b: &[u8]| b.iter().filter(|c| **c == b'\n').count();
    assert_eq!(
        count(sp),
        lines(&short_maps),
        "every mapping of the 4 MiB+ maps"
    );
    let read = lines(&long_maps[..64 << 20]);
    assert_eq!(count(lp), read, "the whole lines within the cap");
    let e = entry(&root, "memory_maps");
    assert_eq!(e["status"], "partial", "{e}");
    let warned = e["warnings"].as_array().unwrap().iter().any(|w| {
        let w = w.as_str().unwrap();
        w.contains(&format!("pid {lp}:"))
            && w.contains("longer than")
            && w.contains(&format!("first {read} mappings"))
    });
    assert!(warned, "{e}");
}
