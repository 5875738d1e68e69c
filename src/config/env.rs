//! Every environment variable labforge reads, declared once with its meaning.

use std::path::PathBuf;

use super::{Config, ConfigError};

pub struct EnvironmentVariable {
    pub name: &'static str,
    pub doc: &'static str,
    pub(super) apply: fn(&mut Config, String) -> Result<(), ConfigError>,
}

/// Path of the TOML configuration file, read after the environment.
pub const CONFIG: EnvironmentVariable = EnvironmentVariable {
    name: "LABFORGE_CONFIG",
    doc: "Path of the TOML configuration file; its keys override the environment.",
    apply: |_, _| Ok(()),
};

pub const ALL: &[EnvironmentVariable] = &[
    CONFIG,
    EnvironmentVariable {
        name: "LABFORGE_LOG_FORMAT",
        doc: "text (default) or json: one JSON object per log event, for log collectors.",
        apply: |config, value| {
            config.log_format = match value.as_str() {
                "text" => super::LogFormat::Text,
                "json" => super::LogFormat::Json,
                _ => {
                    return Err(ConfigError::Environment {
                        name: "LABFORGE_LOG_FORMAT",
                        value,
                        expected: "text or json",
                    });
                }
            };
            Ok(())
        },
    },
    EnvironmentVariable {
        name: "LABFORGE_DATA_DIR",
        doc: "Folder for staging areas, the build index and build logs.",
        apply: |config, value| {
            config.data_dir = PathBuf::from(value);
            Ok(())
        },
    },
    EnvironmentVariable {
        name: "LABFORGE_LISTEN",
        doc: "host:port that `labforge serve` listens on (API, web UI and registry).",
        apply: |config, value| {
            config.server.listen = value.parse().map_err(|_| ConfigError::Environment {
                name: "LABFORGE_LISTEN",
                value,
                expected: "an address and port like 127.0.0.1:5000",
            })?;
            Ok(())
        },
    },
    EnvironmentVariable {
        name: "LABFORGE_UI_DIR",
        doc: "Folder of the built web UI served at / (default web/build, from the folder labforge \
              starts in).",
        apply: |config, value| {
            config.ui.dir = PathBuf::from(value);
            Ok(())
        },
    },
    EnvironmentVariable {
        name: "LABFORGE_PUBLIC_URL",
        doc: "URL users reach the service at, used in links and JSON-LD (default http://<listen>).",
        apply: |config, value| {
            config.server.public_url = Some(value);
            Ok(())
        },
    },
    EnvironmentVariable {
        name: "LABFORGE_DATABASE_URL",
        doc: "sqlite:///path/labforge.db or postgres://user:password@host/database \
              (default: SQLite at <data_dir>/labforge.db).",
        apply: |config, value| {
            config.database.url = Some(value);
            Ok(())
        },
    },
    EnvironmentVariable {
        name: "LABFORGE_SECURE_COOKIES",
        doc: "Mark the session cookie Secure (true/false); false only for plain-HTTP test set-ups \
              reached by a name other than localhost.",
        apply: |config, value| {
            config.accounts.secure_cookies = parse_bool("LABFORGE_SECURE_COOKIES", value)?;
            Ok(())
        },
    },
    EnvironmentVariable {
        name: "LABFORGE_MAX_UPLOAD_BYTES",
        doc: "Largest zip upload accepted, in bytes.",
        apply: |config, value| {
            config.datalabs.max_upload_bytes =
                parse_number("LABFORGE_MAX_UPLOAD_BYTES", value, "a number of bytes")?;
            Ok(())
        },
    },
    EnvironmentVariable {
        name: "LABFORGE_BUILD_CONCURRENCY",
        doc: "Builds one process runs at a time (serve or worker); 0 makes `labforge serve` run \
              none, leaving them to `labforge worker` processes.",
        apply: |config, value| {
            config.build_queue.concurrency =
                parse_number("LABFORGE_BUILD_CONCURRENCY", value, "a number of builds")?;
            Ok(())
        },
    },
    EnvironmentVariable {
        name: "LABFORGE_BUILD_LEASE_SECONDS",
        doc: "How long a running build stays its worker's without a heartbeat; a build whose \
              lease ran out is failed by the next worker start or sweep.",
        apply: |config, value| {
            config.build_queue.lease_seconds =
                parse_number("LABFORGE_BUILD_LEASE_SECONDS", value, "a number of seconds")?;
            Ok(())
        },
    },
    EnvironmentVariable {
        name: "LABFORGE_NOTEBOOK_TIMEOUT_SECONDS",
        doc: "Seconds each notebook of a JupyterLab datalab may run when it is executed in the \
              built image before review (default 300).",
        apply: |config, value| {
            config.checks.notebook_timeout_seconds = parse_number(
                "LABFORGE_NOTEBOOK_TIMEOUT_SECONDS",
                value,
                "a number of seconds",
            )?;
            Ok(())
        },
    },
    EnvironmentVariable {
        name: "LABFORGE_NOTEBOOK_NETWORK",
        doc: "Whether notebooks executed before review reach the network (true/false, default \
              false: they run with no network at all).",
        apply: |config, value| {
            config.checks.notebook_network = parse_bool("LABFORGE_NOTEBOOK_NETWORK", value)?;
            Ok(())
        },
    },
    EnvironmentVariable {
        name: "LABFORGE_REGISTRY",
        doc: "host:port of the OCI registry that built images are pushed to.",
        apply: |config, value| {
            config.registry.address = value;
            Ok(())
        },
    },
    EnvironmentVariable {
        name: "LABFORGE_REGISTRY_USERNAME",
        doc: "Account the build service pushes to the registry as; `labforge registry` accepts it \
              as a builder, so one pair of variables configures both on one machine.",
        apply: |config, value| {
            config.registry.username = Some(value);
            Ok(())
        },
    },
    EnvironmentVariable {
        name: "LABFORGE_REGISTRY_PASSWORD",
        doc: "Password of LABFORGE_REGISTRY_USERNAME.",
        apply: |config, value| {
            config.registry.password = Some(value);
            Ok(())
        },
    },
    EnvironmentVariable {
        name: "LABFORGE_REGISTRY_LISTEN",
        doc: "ip:port that `labforge registry` listens on (default 127.0.0.1:5000).",
        apply: |config, value| {
            config.registry_server.listen =
                value.parse().map_err(|_| ConfigError::Environment {
                    name: "LABFORGE_REGISTRY_LISTEN",
                    value,
                    expected: "an ip:port such as 127.0.0.1:5000",
                })?;
            Ok(())
        },
    },
    EnvironmentVariable {
        name: "LABFORGE_DOCKER_HOST",
        doc: "Docker daemon whose built-in BuildKit builds images (unix:///path or tcp://host:port).",
        apply: |config, value| {
            config.engine.docker_host = value;
            Ok(())
        },
    },
    EnvironmentVariable {
        name: "LABFORGE_BUILDKITD",
        doc: "Standalone buildkitd engines (tcp://host:port, several separated by commas); when set \
              they replace dockerd, and each build goes to the engine its environment ranks first.",
        apply: |config, value| {
            config.engine.buildkitd = Some(value);
            Ok(())
        },
    },
    EnvironmentVariable {
        name: "LABFORGE_LAYER_COMPRESSION",
        doc: "How a standalone buildkitd compresses the layers it pushes: gzip (the default, \
              read by every client), zstd (several times faster to write; docker 23+, podman, \
              containerd) or uncompressed (no CPU, two to three times the bytes).",
        apply: |config, value| {
            config.engine.layer_compression =
                value.parse().map_err(|_| ConfigError::Environment {
                    name: "LABFORGE_LAYER_COMPRESSION",
                    value,
                    expected: "gzip, zstd or uncompressed",
                })?;
            Ok(())
        },
    },
    EnvironmentVariable {
        name: "LABFORGE_CA_BUNDLE",
        doc: "CA bundle that builds trust for outbound TLS (PyPI through a corporate proxy).",
        apply: |config, value| {
            config.engine.ca_bundle = PathBuf::from(value);
            Ok(())
        },
    },
    EnvironmentVariable {
        name: "LABFORGE_WORKSPACE_ROOT",
        doc: "Folder under which the command line's folder sources must live (`labforge build`).",
        apply: |config, value| {
            config.sources.workspace_root = PathBuf::from(value);
            Ok(())
        },
    },
    EnvironmentVariable {
        name: "LABFORGE_WORKSPACES_DIR",
        doc: "Folder holding every user's workspace (<folder>/<user name>), which the service \
              builds workspace sources from and the launcher mounts (default <data dir>/workspaces).",
        apply: |config, value| {
            config.datalabs.workspaces_dir = Some(PathBuf::from(value));
            Ok(())
        },
    },
    EnvironmentVariable {
        name: "LABFORGE_GIT_ALLOW_HTTP",
        doc: "Allow plain http:// git URLs (true/false).",
        apply: |config, value| {
            config.sources.allow_http = parse_bool("LABFORGE_GIT_ALLOW_HTTP", value)?;
            Ok(())
        },
    },
    EnvironmentVariable {
        name: "LABFORGE_GIT_ALLOWED_HOSTS",
        doc: "Comma-separated hosts or IP addresses that git URLs may use even when they resolve to \
              loopback, private or link-local addresses.",
        apply: |config, value| {
            config.sources.allowed_hosts = value
                .split(',')
                .map(str::trim)
                .filter(|host| !host.is_empty())
                .map(String::from)
                .collect();
            Ok(())
        },
    },
];

fn parse_number<T: std::str::FromStr>(
    name: &'static str,
    value: String,
    expected: &'static str,
) -> Result<T, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::Environment {
        name,
        value,
        expected,
    })
}

fn parse_bool(name: &'static str, value: String) -> Result<bool, ConfigError> {
    match value.as_str() {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err(ConfigError::Environment {
            name,
            value,
            expected: "true or false",
        }),
    }
}
