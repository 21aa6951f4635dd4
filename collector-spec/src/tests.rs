use super::*;

/// Every built-in profile loads under its own name with a SHA-256; triage starts with process
/// memory then processes and never collects full RAM.
#[test]
fn builtin_profiles_parse() {
    for (name, _) in BUILTIN_PROFILES {
        let loaded = Spec::builtin(name).unwrap();
        assert_eq!(loaded.spec.name, *name);
        assert_eq!(loaded.sha256.len(), 64);
    }
    let triage = Spec::builtin("triage").unwrap();
    let kinds: Vec<_> = triage
        .spec
        .artifacts
        .iter()
        .map(|a| a.collect.kind())
        .collect();
    assert_eq!(
        kinds.first(),
        Some(&"process_memory"),
        "most volatile first"
    );
    assert_eq!(kinds.get(1), Some(&"processes"));
    assert!(
        !kinds.contains(&"ram"),
        "full RAM is never collected by default"
    );
}

/// Asking for a profile that does not exist names it and lists the built-in ones (triage).
#[test]
fn unknown_profile_is_named() {
    let err = Spec::builtin("nope").unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
    assert!(err.to_string().contains("triage"), "{err}");
}

fn parse_err(src: &str) -> (String, usize, usize) {
    let err = Spec::from_yaml(src).unwrap_err();
    let (line, column) = err.position().unwrap();
    (err.to_string(), line, column)
}

/// [hostile] An unknown top-level key is refused, named, at its line and column.
#[test]
fn unknown_top_level_key_has_position() {
    let (msg, line, col) = parse_err("name: x\nartifacts: []\nbogus: 1\n");
    assert!(msg.contains("unknown field `bogus`"), "{msg}");
    assert_eq!((line, col), (3, 1), "{msg}");
}

/// [hostile] An unknown collector kind is refused, named, at its line.
#[test]
fn unknown_collector_kind_has_position() {
    let src = "name: x\nartifacts:\n  - name: a\n    collect:\n      teleport: {}\n";
    let (msg, line, _) = parse_err(src);
    assert!(msg.contains("unknown variant `teleport`"), "{msg}");
    assert_eq!(line, 5, "{msg}");
}

/// [hostile] A misspelt collector option is refused, named, at its line and column.
#[test]
fn unknown_option_has_position() {
    let src = "name: x\nartifacts:\n  - name: a\n    collect:\n      processes:\n        redact_envirn: true\n";
    let (msg, line, col) = parse_err(src);
    assert!(msg.contains("redact_envirn"), "{msg}");
    assert_eq!((line, col), (6, 9), "{msg}");
}

/// [hostile] An option of the wrong type (a word for a boolean) is refused at its line.
#[test]
fn wrong_type_has_position() {
    let src = "name: x\nartifacts:\n  - name: a\n    collect:\n      processes:\n        environ: sometimes\n";
    let (msg, line, _) = parse_err(src);
    assert!(
        msg.contains("invalid type") || msg.contains("expected a boolean"),
        "{msg}"
    );
    assert_eq!(line, 6, "{msg}");
}

/// [hostile] Unclosed YAML brackets are refused with a position past the first line.
#[test]
fn malformed_yaml_has_position() {
    let (msg, line, _) = parse_err("name: x\nartifacts: [\n  - {name: a\n");
    assert!(line >= 2, "{msg} at {line}");
}

/// [hostile] Zero, unitless, over-24h and negative timeouts, out-of-range zstd levels and a
/// recovery size over 1TiB are each refused with the reason at their line.
#[test]
fn bad_values_are_refused_where_they_stand() {
    let cases = [
        ("timeout: 0s", "greater than zero"),
        ("timeout: 3 fortnights", "unit"),
        ("timeout: 48h", "24h"),
        ("timeout: -5", "negative"),
    ];
    for (line_text, want) in cases {
        let src = format!(
            "name: x\nartifacts:\n  - name: a\n    {line_text}\n    collect:\n      system: {{}}\n"
        );
        let (msg, line, _) = parse_err(&src);
        assert!(msg.contains(want), "{line_text}: {msg}");
        assert_eq!(line, 4, "{line_text}: {msg}");
    }
    let (msg, line, _) = parse_err("name: x\nzstd_level: 40\nartifacts: []\n");
    assert!(msg.contains("out of range"), "{msg}");
    assert_eq!(line, 2);
    let (msg, line, _) = parse_err("name: x\nrecords_zstd_level: 0\nartifacts: []\n");
    assert!(msg.contains("out of range"), "{msg}");
    assert_eq!(line, 2);
    let src = "name: x\nartifacts:\n  - name: a\n    collect:\n      processes:\n        recover_max_bytes: 99999TiB\n";
    let (msg, line, _) = parse_err(src);
    assert!(msg.contains("1TiB limit"), "{msg}");
    assert_eq!(line, 6);
}

/// cpu_quota is optional, 50 parses, and zero, negative, non-numeric, over-limit and
/// percent-suffixed values are refused at their line.
#[test]
fn cpu_quota_is_optional_and_bounded() {
    let ok =
        Spec::from_yaml("name: x\ncpu_quota: 50\nartifacts:\n  - name: a\n    collect: system\n")
            .unwrap();
    assert_eq!(ok.spec.cpu_quota, Some(CpuPercent(50)));
    let none = Spec::from_yaml("name: x\nartifacts:\n  - name: a\n    collect: system\n").unwrap();
    assert_eq!(none.spec.cpu_quota, None);
    for bad in ["0", "-5", "half", "100001", "50%"] {
        let src =
            format!("name: x\ncpu_quota: {bad}\nartifacts:\n  - name: a\n    collect: system\n");
        let (msg, line, _) = parse_err(&src);
        assert!(
            msg.contains("CPU quota") || msg.contains("negative"),
            "{bad}: {msg}"
        );
        assert_eq!(line, 2, "{bad}: {msg}");
    }
    assert_eq!(CpuPercent::parse("200"), Ok(CpuPercent(200)));
    assert!(CpuPercent::parse("0").is_err());
    assert!(CpuPercent::parse("").is_err());
}

/// [hostile] Artifact names with `..`, slashes, spaces, capitals, a newline or nothing are refused
/// at their line.
#[test]
fn hostile_artifact_names_are_refused() {
    for name in ["../etc", "/abs", "a b", "UPPER", "", "a/b", "x\\ny"] {
        let src = format!(
            "name: x\nartifacts:\n  - name: \"{name}\"\n    collect:\n      system: {{}}\n"
        );
        let (msg, line, _) = parse_err(&src);
        assert!(msg.contains("invalid artifact name"), "{name}: {msg}");
        assert_eq!(line, 3, "{name}: {msg}");
    }
}

/// [hostile] An artifact name used twice is refused at the second use.
#[test]
fn duplicate_names_are_located() {
    let src = "name: x\nartifacts:\n  - name: a\n    collect:\n      system: {}\n  - name: a\n    collect:\n      system: {}\n";
    let (msg, line, _) = parse_err(src);
    assert!(msg.contains("more than once"), "{msg}");
    assert_eq!(line, 6);
}

/// [hostile] A spec with no artifacts is refused at the artifacts line.
#[test]
fn empty_artifact_list_is_refused() {
    let (msg, line, _) = parse_err("name: x\nartifacts: []\n");
    assert!(msg.contains("at least one"), "{msg}");
    assert_eq!(line, 2);
}

/// Durations and byte sizes parse with and without units and print back; an unknown unit is
/// refused.
#[test]
fn values_parse_and_print() {
    assert_eq!(SpecDuration::parse("500ms").unwrap().0.as_millis(), 500);
    assert_eq!(SpecDuration::parse("2m").unwrap().0.as_secs(), 120);
    assert_eq!(SpecDuration::parse("7").unwrap().0.as_secs(), 7);
    assert_eq!(SpecDuration::parse("90s").unwrap().to_string(), "90s");
    assert_eq!(ByteSize::parse("64MiB").unwrap().0, 64 << 20);
    assert_eq!(ByteSize::parse("3k").unwrap().0, 3072);
    assert_eq!(ByteSize(64 << 20).to_string(), "64MiB");
    assert!(ByteSize::parse("12 parsecs").is_err());
}

/// Options left out take their defaults (60s timeout, executable recovery up to 64MiB, environ not
/// redacted, zstd levels 3 and 1).
#[test]
fn defaults_fill_in() {
    let src = "name: x\nartifacts:\n  - name: p\n    collect:\n      processes: {}\n";
    let loaded = Spec::from_yaml(src).unwrap();
    let a = loaded.spec.artifacts.first().unwrap();
    assert_eq!(a.timeout.0.as_secs(), 60);
    match &a.collect {
        CollectorSpec::Processes(o) => {
            assert!(o.recover_executables);
            assert_eq!(o.recover_max_bytes.0, 64 << 20);
            assert!(!o.redact_environ);
        }
        other => panic!("wrong kind {other:?}"),
    }
    assert_eq!(loaded.spec.zstd_level.0, 3);
    assert_eq!(loaded.spec.records_zstd_level.0, 1);
}

mod hostile {
    use crate::Spec;
    use proptest::prelude::*;

    const TRIAGE: &str = include_str!("../profiles/triage.yaml");

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

        /// [hostile] Arbitrary text never panics the loader; a refusal always carries a position.
        #[test]
        fn spec_loader_never_panics(text in "\\PC{0,300}") {
            if let Err(e) = Spec::from_yaml(&text) {
                prop_assert!(e.position().is_some(), "{}", e);
            }
        }

        /// [hostile] A real profile with characters replaced at random places loads or is refused at a
        /// line that exists.
        #[test]
        fn mangled_profiles_are_accepted_or_located(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<char>()), 1..6)) {
            let mut chars: Vec<char> = TRIAGE.chars().collect();
            for (i, c) in edits {
                let at = i.index(chars.len());
                chars[at] = c;
            }
            let text: String = chars.into_iter().collect();
            if let Err(e) = Spec::from_yaml(&text) {
                let (line, _) = e.position().unwrap();
                // YAML also breaks lines at CR, NEL and the Unicode separators.
                let breaks = text.chars().filter(|c| matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')).count();
                prop_assert!(line <= breaks + 2, "{} for {} line breaks", e, breaks);
            }
        }
    }

    /// [hostile] A billion-laughs YAML alias bomb is refused within 5 seconds.
    #[test]
    fn billion_laughs_is_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = format!("*a{}", i - 1);
            text.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 9].join(", ")));
        }
        text.push_str("name: x\nartifacts: []\n");
        let t0 = std::time::Instant::now();
        assert!(Spec::from_yaml(&text).is_err());
        assert!(t0.elapsed().as_secs() < 5);
    }

    /// [hostile] 100,000 nested brackets are refused as too deeply nested within 500ms, at line 2.
    #[test]
    fn nesting_is_refused_quickly_with_its_position() {
        let text = format!(
            "name: x\nartifacts: {}{}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let t0 = std::time::Instant::now();
        let err = Spec::from_yaml(&text).unwrap_err();
        assert!(t0.elapsed().as_millis() < 500, "{:?}", t0.elapsed());
        assert!(err.to_string().contains("nested"), "{err}");
        assert_eq!(err.position().unwrap().0, 2);
    }
}

/// Triage's file groups, logins, users and cloud identity come after the volatile artifacts; file
/// groups follow no symlinks and read no shadow file.
#[test]
fn triage_collects_host_artifacts_after_volatile_ones() {
    let triage = Spec::builtin("triage").unwrap();
    let names: Vec<&str> = triage
        .spec
        .artifacts
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    let pos = |n: &str| {
        names
            .iter()
            .position(|x| *x == n)
            .unwrap_or_else(|| panic!("{n} missing: {names:?}"))
    };
    for group in [
        "shell_histories",
        "ssh",
        "persistence",
        "accounts",
        "containers",
        "logs",
    ] {
        let a = &triage.spec.artifacts[pos(group)];
        let CollectorSpec::Files(opts) = &a.collect else {
            panic!("{group} is not a files group");
        };
        assert!(!opts.follow_symlinks && !opts.include_shadow, "{group}");
        assert!(!opts.patterns.is_empty(), "{group}");
        assert!(
            pos(group) > pos("system"),
            "{group} after the volatile artifacts"
        );
    }
    for kind in ["logins", "users", "cloud_identity"] {
        assert_eq!(triage.spec.artifacts[pos(kind)].collect.kind(), kind);
        assert!(pos(kind) > pos("system"));
    }
    let CollectorSpec::Files(accounts) = &triage.spec.artifacts[pos("accounts")].collect else {
        panic!("accounts");
    };
    // The shadow files are named, and left out unless a spec opts in.
    let named: Vec<&str> = accounts.patterns.iter().map(|p| p.as_str()).collect();
    for shadow in [
        "/etc/shadow",
        "/etc/shadow-",
        "/etc/gshadow",
        "/etc/gshadow-",
    ] {
        assert!(named.contains(&shadow), "{shadow}");
    }
    assert!(!accounts.include_shadow);
    let CollectorSpec::Files(ssh) = &triage.spec.artifacts[pos("ssh")].collect else {
        panic!("ssh");
    };
    assert!(ssh.ssh_includes);
}

/// Files options (root, patterns, exclude, max_file_size) parse with units and defaults; logins and
/// cloud_identity parse as bare kinds.
#[test]
fn files_options_parse_with_defaults_and_units() {
    let src = "name: x\nartifacts:\n  - name: logs\n    collect:\n      files:\n        root: /mnt/image\n        patterns: [\"/var/log/**\", \"~/.bash_history\"]\n        exclude: [\"/var/log/journal\"]\n        max_file_size: 1MiB\n";
    let spec = Spec::from_yaml(src).unwrap().spec;
    let CollectorSpec::Files(o) = &spec.artifacts[0].collect else {
        panic!("files");
    };
    assert_eq!(o.root.as_deref(), Some("/mnt/image"));
    assert_eq!(o.patterns.len(), 2);
    assert_eq!(o.max_file_size, ByteSize(1 << 20));
    assert_eq!(o.max_total_size, ByteSize(2 << 30));
    assert!(!o.follow_symlinks);
    assert_eq!(o.zstd_workers, 2);
    let bare = Spec::from_yaml("name: x\nartifacts:\n  - name: who\n    collect: logins\n  - name: id\n    collect: cloud_identity\n").unwrap();
    assert_eq!(bare.spec.artifacts[1].collect.kind(), "cloud_identity");
}

/// [hostile] Relative, `..`-containing and unbalanced-brace file patterns are refused with the
/// reason at their line.
#[test]
fn bad_file_patterns_have_positions() {
    for (pattern, needle) in [
        ("var/log/**", "absolute"),
        ("/var/../etc/shadow", "`..`"),
        ("/var/{log", "unbalanced"),
    ] {
        let src = format!("name: x\nartifacts:\n  - name: a\n    collect:\n      files:\n        patterns:\n          - \"{pattern}\"\n");
        let (msg, line, _) = parse_err(&src);
        assert!(msg.contains(needle), "{msg}");
        assert_eq!(line, 7, "{msg}");
    }
}

/// `count` brace groups of `alternatives` alternatives each: `/{a0,...}/{a0,...}/...`.
fn brace_bomb(count: usize, alternatives: usize) -> String {
    let group: Vec<String> = (0..alternatives).map(|i| format!("a{i}")).collect();
    let group = format!("{{{}}}", group.join(","));
    format!("/{}", vec![group; count].join("/"))
}

/// [hostile] Brace bombs over 1024 patterns and patterns with three `**` (also hidden in braces)
/// are refused within a second at their line and column.
#[test]
fn huge_and_recursive_file_patterns_are_refused_with_positions() {
    // 8 groups of 50 alternatives would be 50^8 (about 4 x 10^13) patterns.
    let bomb = brace_bomb(8, 50);
    let three_any = "/var/**/log/**/x/**/y".to_owned();
    let hidden_any = "/{**,a}/{**,b}/{**,c}".to_owned();
    for (key, pattern, needle) in [
        ("patterns", &bomb, "more than 1024 patterns"),
        ("exclude", &bomb, "more than 1024 patterns"),
        ("patterns", &three_any, "3 `**` components (at most 2"),
        ("exclude", &three_any, "3 `**` components (at most 2"),
        ("patterns", &hidden_any, "3 `**` components (at most 2"),
    ] {
        let src = format!(
            "name: x\nartifacts:\n  - name: a\n    collect:\n      files:\n        max_depth: 4\n        {key}:\n          - \"{pattern}\"\n"
        );
        let started = std::time::Instant::now();
        let (msg, line, column) = parse_err(&src);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "refused quickly: {:?}",
            started.elapsed()
        );
        assert!(msg.contains(needle), "{key}: {msg}");
        assert_eq!((line, column), (8, 13), "{key}: {msg}");
    }
}

/// A pattern expanding to exactly 1024 patterns with two `**` is accepted and expands in order; one
/// more group is refused.
#[test]
fn file_patterns_at_the_bounds_are_accepted() {
    // 4 x 4 x 4 x 4 x 4 = 1024 patterns, each with two `**`.
    let at_limit = format!("{}/**/x/**", brace_bomb(5, 4));
    let p = FilePattern::new(&at_limit).unwrap();
    let expanded = p.expand();
    assert_eq!(expanded.len(), 1024);
    assert_eq!(expanded.first().unwrap(), "/a0/a0/a0/a0/a0/**/x/**");
    assert_eq!(expanded.last().unwrap(), "/a3/a3/a3/a3/a3/**/x/**");
    let over = format!("{}/{{y,z}}", brace_bomb(5, 4));
    assert!(FilePattern::new(&over)
        .unwrap_err()
        .contains("more than 1024"));
}

/// Brace groups expand left to right in order; an unbalanced `}{` stays literal.
#[test]
fn braces_expand_in_order() {
    let expand = |t: &str| FilePattern::new(t).unwrap().expand();
    assert_eq!(expand("/a/{b,c}/d"), vec!["/a/b/d", "/a/c/d"]);
    assert_eq!(expand("/{x,y}/{1,2}"), vec!["/x/1", "/x/2", "/y/1", "/y/2"]);
    assert_eq!(expand("/plain"), vec!["/plain"]);
    assert_eq!(expand("/a/}{b,c"), vec!["/a/}{b,c"], "no group: literal");
}

/// process_memory options (selectors, pids, per-process cap) parse with defaults; the bare kind
/// selects the anomaly selectors.
#[test]
fn process_memory_options_parse_with_defaults() {
    let src = "name: x\nartifacts:\n  - name: pm\n    collect:\n      process_memory:\n        select: [memfd_exe, wx_mapping]\n        pids: [42, 7]\n        max_process_bytes: 8MiB\n";
    let loaded = Spec::from_yaml(src).unwrap();
    match &loaded.spec.artifacts[0].collect {
        CollectorSpec::ProcessMemory(o) => {
            assert_eq!(
                o.select,
                vec![ProcessSelector::MemfdExe, ProcessSelector::WxMapping]
            );
            assert_eq!(o.pids, vec![42, 7]);
            assert_eq!(o.max_process_bytes, ByteSize(8 << 20));
            assert_eq!(o.max_total_bytes, ByteSize(2 << 30), "default");
            assert!(o.file_backed, "default");
        }
        other => panic!("wrong kind {other:?}"),
    }
    let bare = Spec::from_yaml("name: x\nartifacts:\n  - name: pm\n    collect: process_memory\n")
        .unwrap();
    match &bare.spec.artifacts[0].collect {
        CollectorSpec::ProcessMemory(o) => {
            assert_eq!(o.select, ProcessSelector::ANOMALIES.to_vec());
            assert!(o.pids.is_empty());
        }
        other => panic!("wrong kind {other:?}"),
    }
}

/// [hostile] An unknown process selector is refused at its line with the valid ones listed; a
/// negative pid is refused at its line.
#[test]
fn unknown_selector_has_position() {
    let src = "name: x\nartifacts:\n  - name: pm\n    collect:\n      process_memory:\n        select: [wx_mapping, everything]\n";
    let (msg, line, _) = parse_err(src);
    assert!(msg.contains("everything"), "{msg}");
    assert!(msg.contains("anon_exec"), "lists the selectors: {msg}");
    assert_eq!(line, 6, "{msg}");
    let (msg, line, _) = parse_err(
        "name: x\nartifacts:\n  - name: pm\n    collect:\n      process_memory:\n        pids: [-3]\n",
    );
    assert_eq!(line, 6, "{msg}");
}

/// ram reads /proc/kcore and /proc/iomem by default, triage and minimal collect no RAM, and the
/// memory profile starts with process memory and RAM.
#[test]
fn ram_options_default_to_proc_and_are_off_by_default() {
    let loaded = Spec::from_yaml("name: x\nartifacts:\n  - name: ram\n    collect: ram\n").unwrap();
    match &loaded.spec.artifacts[0].collect {
        CollectorSpec::Ram(o) => {
            assert_eq!(o.kcore, "/proc/kcore");
            assert_eq!(o.iomem, "/proc/iomem");
            assert_eq!(o.max_bytes, None);
        }
        other => panic!("wrong kind {other:?}"),
    }
    for name in ["triage", "minimal"] {
        let s = Spec::builtin(name).unwrap();
        assert!(
            s.spec.artifacts.iter().all(|a| a.collect.kind() != "ram"),
            "{name} collects no RAM"
        );
    }
    let memory = Spec::builtin("memory").unwrap();
    let kinds: Vec<_> = memory
        .spec
        .artifacts
        .iter()
        .map(|a| a.collect.kind())
        .collect();
    assert_eq!(kinds[..2], ["process_memory", "ram"], "memory first");
}

/// --pid and --ram add process memory and RAM to a spec (joining an existing process_memory, RAM
/// once), and the stored source says so and re-parses to the same hash.
#[test]
fn memory_flags_extend_a_spec_and_say_so() {
    let minimal = Spec::builtin("minimal").unwrap();
    assert_eq!(
        minimal
            .with_memory_flags(&MemoryFlags::default())
            .unwrap()
            .sha256,
        minimal.sha256
    );
    let flags = MemoryFlags {
        pids: vec![42, 43],
        ram: true,
    };
    let s = minimal.with_memory_flags(&flags).unwrap();
    let kinds: Vec<_> = s.spec.artifacts.iter().map(|a| a.collect.kind()).collect();
    assert_eq!(kinds, ["process_memory", "ram", "processes", "connections"]);
    match &s.spec.artifacts[0].collect {
        CollectorSpec::ProcessMemory(o) => {
            assert!(o.select.is_empty(), "only the named pids");
            assert_eq!(o.pids, vec![42, 43]);
        }
        other => panic!("{other:?}"),
    }
    assert!(s.source.starts_with("# spec `minimal`"), "{}", s.source);
    assert!(s.source.contains("--pid 42 --pid 43 --ram"), "{}", s.source);
    assert_ne!(s.sha256, minimal.sha256);
    // The source re-parses to the same spec (it is what gets stored).
    assert_eq!(Spec::from_yaml(&s.source).unwrap().sha256, s.sha256);

    // triage already has process_memory: the pids join it, its selectors stay.
    let triage = Spec::builtin("triage").unwrap();
    let t = triage
        .with_memory_flags(&MemoryFlags {
            pids: vec![7],
            ram: false,
        })
        .unwrap();
    assert_eq!(t.spec.artifacts.len(), triage.spec.artifacts.len());
    match &t.spec.artifacts[0].collect {
        CollectorSpec::ProcessMemory(o) => {
            assert_eq!(o.pids, vec![7]);
            assert_eq!(o.select, ProcessSelector::ANOMALIES.to_vec());
            assert_eq!(o.max_process_bytes, ByteSize(64 << 20));
        }
        other => panic!("{other:?}"),
    }
    // ram joins right after the process memory.
    let r = triage
        .with_memory_flags(&MemoryFlags {
            pids: vec![],
            ram: true,
        })
        .unwrap();
    assert_eq!(r.spec.artifacts[1].collect.kind(), "ram");
    assert_eq!(r.spec.artifacts[2].collect.kind(), "processes");
    let memory = Spec::builtin("memory").unwrap();
    let again = memory
        .with_memory_flags(&MemoryFlags {
            pids: vec![],
            ram: true,
        })
        .unwrap();
    assert_eq!(
        again.spec.artifacts.len(),
        memory.spec.artifacts.len(),
        "one ram is enough"
    );
}
