//! The `vestige` binary: a thin front over the library.

fn main() {
    let mut filter = tracing_subscriber::EnvFilter::try_from_env("VESTIGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Request signing and credential loading log at debug/trace level with material derived
    // from credentials: never emit them, whatever VESTIGE_LOG asks.
    for quiet in [
        "aws_sigv4=off",
        "aws_credential_types=off",
        "aws_config=warn",
        "aws_smithy_runtime=warn",
        "aws_smithy_runtime_api=warn",
        "aws_smithy_http_client=warn",
        "aws_sdk_s3=warn",
        "aws_runtime=warn",
        "hyper=warn",
        "hyper_util=warn",
        "rustls=warn",
    ] {
        if let Ok(d) = quiet.parse() {
            filter = filter.add_directive(d);
        }
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .compact()
        .init();
    std::process::exit(vestige::cli::main());
}
