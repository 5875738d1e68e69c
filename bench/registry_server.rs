//! The registry alone, as `labforge registry` will run it, for bench/registry.sh:
//! `registry_server` serves with the configuration named by `LABFORGE_CONFIG`;
//! `registry_server hash-password <password>` prints an argon2 hash for the grants file.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    if let [command, password] = arguments.as_slice()
        && command == "hash-password"
    {
        println!("{}", labforge::registry::hash_password(password));
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    labforge::app::serve_registry(labforge::config::Config::load()?).await
}
