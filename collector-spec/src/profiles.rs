/// Built-in profiles: (name, YAML source), embedded at build time.
pub const BUILTIN_PROFILES: &[(&str, &str)] = &[
    ("triage", include_str!("../profiles/triage.yaml")),
    ("minimal", include_str!("../profiles/minimal.yaml")),
    ("memory", include_str!("../profiles/memory.yaml")),
];

/// The profile `collect` uses when no `--spec` is given.
pub const DEFAULT_PROFILE: &str = "triage";

/// The YAML source of a built-in profile.
pub fn builtin_source(name: &str) -> Option<&'static str> {
    BUILTIN_PROFILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, src)| *src)
}
