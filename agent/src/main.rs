//! The `vestige` binary: a thin front over the library.

fn main() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    // Before any thread starts: the allocator's idle memory stays bounded.
    vestige::limits::bound_allocator();
    use tracing_subscriber::prelude::*;
    // VESTIGE_LOG: a level (`debug`) or `target=level` directives, comma-separated. A value
    // that does not parse leaves the default, `info`.
    let mut filter = std::env::var("VESTIGE_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    // Request signing and credential loading log at debug/trace level with material derived
    // from credentials: never emit them, whatever VESTIGE_LOG asks.
    for (target, level) in [
        ("aws_sigv4", LevelFilter::OFF),
        ("aws_credential_types", LevelFilter::OFF),
        ("aws_config", LevelFilter::WARN),
        ("aws_smithy_runtime", LevelFilter::WARN),
        ("aws_smithy_runtime_api", LevelFilter::WARN),
        ("aws_smithy_http_client", LevelFilter::WARN),
        ("aws_sdk_s3", LevelFilter::WARN),
        ("aws_sdk_sts", LevelFilter::WARN),
        ("aws_runtime", LevelFilter::WARN),
        ("hyper", LevelFilter::WARN),
        ("hyper_util", LevelFilter::WARN),
        ("rustls", LevelFilter::WARN),
    ] {
        // Capped, never raised: a quieter level asked for stays.
        let asked = filter
            .iter()
            .find_map(|(t, l)| (t == target).then_some(l))
            .or_else(|| filter.default_level())
            .unwrap_or(LevelFilter::OFF);
        filter = filter.with_target(target, asked.min(level));
    }
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false)
                .with_target(false)
                .compact()
                .with_filter(filter),
        )
        .init();
    std::process::exit(vestige::cli::main());
}
