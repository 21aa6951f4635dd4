//! Stamps build facts into the binary for the manifest's `tool.build`.

fn main() {
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    let rustc =
        std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
    let mut features: Vec<String> = std::env::vars()
        .filter_map(|(k, _)| {
            k.strip_prefix("CARGO_FEATURE_")
                .map(|f| f.to_ascii_lowercase().replace('_', "-"))
        })
        .collect();
    features.sort();
    println!("cargo:rustc-env=VESTIGE_BUILD_TARGET={}", env("TARGET"));
    println!("cargo:rustc-env=VESTIGE_BUILD_PROFILE={}", env("PROFILE"));
    println!("cargo:rustc-env=VESTIGE_BUILD_RUSTC={rustc}");
    println!(
        "cargo:rustc-env=VESTIGE_BUILD_FEATURES={}",
        features.join(",")
    );
    println!("cargo:rerun-if-env-changed=VESTIGE_BUILD_COMMIT");
    println!("cargo:rerun-if-changed=build.rs");
}
