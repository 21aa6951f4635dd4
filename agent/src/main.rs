//! The `vestige` binary: a thin front over the library.

fn main() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VESTIGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .compact()
        .init();
    std::process::exit(vestige::cli::main());
}
