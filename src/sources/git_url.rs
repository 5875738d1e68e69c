//! Which git URLs labforge may fetch from. Everything here is decided before any connection is
//! made: only https (and http where allowed), no credentials, and no host that resolves to a
//! loopback, private, link-local or otherwise non-global address unless an administrator listed
//! it. The addresses vetted here are the ones git is pinned to, so a DNS answer that changes
//! afterwards cannot move the connection elsewhere.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

use super::SourcesConfig;
use super::error::SourceError;

/// Schemes git understands that are named in a refusal when written without `//`.
const KNOWN_SCHEMES: &[&str] = &["file", "ssh", "git", "http", "https", "ftp", "ftps"];

/// A git URL that passed the syntax policy; its host still has to be vetted with [`resolve`].
#[derive(Debug, Clone)]
pub struct GitUrl {
    url: Url,
}

/// The addresses git may connect to for a [`GitUrl`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VettedHost {
    /// `host:port:address[,address...]` for git's `http.curloptResolve`, or `None` when the
    /// URL names an IP address and there is nothing to resolve.
    pub curl_resolve: Option<String>,
}

impl GitUrl {
    pub fn parse(raw: &str, config: &SourcesConfig) -> Result<Self, SourceError> {
        let raw = raw.trim();
        let invalid = |reason: &str| SourceError::GitUrlInvalid {
            url: raw.to_owned(),
            reason: reason.to_owned(),
        };
        if !raw.contains("://") {
            if let Some((transport, _)) = raw.split_once("::")
                && !transport.is_empty()
                && transport.chars().all(|c| c.is_ascii_alphanumeric())
            {
                return Err(SourceError::GitRemoteHelper {
                    url: raw.to_owned(),
                });
            }
            if let Some((scheme, _)) = raw.split_once(':') {
                let scheme = scheme.to_ascii_lowercase();
                if KNOWN_SCHEMES.contains(&scheme.as_str()) {
                    return Err(SourceError::GitSchemeRefused { scheme });
                }
                if !scheme.contains('/') {
                    return Err(SourceError::GitScpLikeUrl {
                        url: raw.to_owned(),
                    });
                }
            }
            return Err(invalid("it has no scheme; local paths are refused"));
        }
        let url = Url::parse(raw).map_err(|error| invalid(&error.to_string()))?;
        match url.scheme() {
            "https" => {}
            "http" if config.allow_http => {}
            "http" => {
                return Err(SourceError::GitHttpRefused {
                    url: url.to_string(),
                });
            }
            scheme => {
                return Err(SourceError::GitSchemeRefused {
                    scheme: scheme.to_owned(),
                });
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            let mut redacted = url.clone();
            // Setting an empty user name and no password cannot fail on an http(s) URL.
            let _ = redacted.set_username("");
            let _ = redacted.set_password(None);
            return Err(SourceError::GitCredentialsInUrl {
                url: redacted.to_string(),
            });
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("it has no host"));
        }
        Ok(Self { url })
    }

    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// Vets every address the host resolves to and returns the pin for git. Resolution uses
    /// the system resolver; no connection is made to the host.
    pub async fn resolve(&self, config: &SourcesConfig) -> Result<VettedHost, SourceError> {
        let port = self.url.port_or_known_default().unwrap_or(443);
        let host_name = self.url.host_str().unwrap_or_default().to_owned();
        match self.url.host() {
            Some(Host::Ipv4(address)) => {
                vet_address(&host_name, IpAddr::V4(address), &config.allowed_hosts)?;
                Ok(VettedHost { curl_resolve: None })
            }
            Some(Host::Ipv6(address)) => {
                vet_address(&host_name, IpAddr::V6(address), &config.allowed_hosts)?;
                Ok(VettedHost { curl_resolve: None })
            }
            Some(Host::Domain(domain)) => {
                let unresolvable = |source| SourceError::GitHostUnresolvable {
                    host: domain.to_owned(),
                    source,
                };
                let mut addresses: Vec<IpAddr> = tokio::net::lookup_host((domain, port))
                    .await
                    .map_err(unresolvable)?
                    .map(|socket| socket.ip())
                    .collect();
                addresses.sort_unstable();
                addresses.dedup();
                if addresses.is_empty() {
                    return Err(unresolvable(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "no address",
                    )));
                }
                for address in &addresses {
                    vet_address(domain, *address, &config.allowed_hosts)?;
                }
                let pinned = addresses
                    .iter()
                    .map(|address| match address {
                        IpAddr::V4(v4) => v4.to_string(),
                        IpAddr::V6(v6) => format!("[{v6}]"),
                    })
                    .collect::<Vec<_>>()
                    .join(",");
                Ok(VettedHost {
                    curl_resolve: Some(format!("{domain}:{port}:{pinned}")),
                })
            }
            None => Err(SourceError::GitUrlInvalid {
                url: self.url.to_string(),
                reason: "it has no host".to_owned(),
            }),
        }
    }
}

/// Refuses `address` (which `host` resolved to, or which `host` names) when it is not a global
/// address, unless the host or the address is in `allowed_hosts`.
pub fn vet_address(
    host: &str,
    address: IpAddr,
    allowed_hosts: &[String],
) -> Result<(), SourceError> {
    let bare_host = host.trim_start_matches('[').trim_end_matches(']');
    let allowed = allowed_hosts.iter().any(|allowed| {
        let allowed = allowed.trim().trim_start_matches('[').trim_end_matches(']');
        allowed.eq_ignore_ascii_case(bare_host.trim_end_matches('.'))
            || allowed.parse::<IpAddr>().is_ok_and(|ip| ip == address)
    });
    if allowed {
        return Ok(());
    }
    match non_global_range(address) {
        Some(range) => Err(SourceError::PrivateAddress {
            host: bare_host.to_owned(),
            address,
            range,
        }),
        None => Ok(()),
    }
}

/// The name of the special-purpose range `address` lies in, or `None` for a global address.
pub fn non_global_range(address: IpAddr) -> Option<&'static str> {
    match address {
        IpAddr::V4(v4) => non_global_v4(v4),
        IpAddr::V6(v6) => non_global_v6(v6),
    }
}

fn non_global_v4(address: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = address.octets();
    let range = match (a, b, c) {
        (0, _, _) => "unspecified (\"this network\")",
        (127, _, _) => "loopback",
        (10, _, _) | (192, 168, _) | (172, 16..=31, _) => "private",
        (169, 254, _) => "link-local",
        (100, 64..=127, _) => "shared (carrier-grade NAT)",
        (192, 0, 0) => "IETF protocol assignment",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18 | 19, _) => "benchmarking",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved or broadcast",
        _ => return None,
    };
    Some(range)
}

fn non_global_v6(address: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = address.to_ipv4_mapped() {
        return non_global_v4(v4);
    }
    let segments = address.segments();
    let range = match segments {
        [0, 0, 0, 0, 0, 0, 0, 0] => "unspecified",
        [0, 0, 0, 0, 0, 0, 0, 1] => "loopback",
        // IPv4-compatible (deprecated) and NAT64 addresses carry an IPv4 address to vet.
        [0, 0, 0, 0, 0, 0, _, _] | [0x64, 0xff9b, 0, 0, 0, 0, _, _] => {
            let [_, _, _, _, _, _, high, low] = segments;
            let [h1, h2] = high.to_be_bytes();
            let [l1, l2] = low.to_be_bytes();
            return non_global_v4(Ipv4Addr::new(h1, h2, l1, l2)).or(if segments[0] == 0 {
                Some("IPv4-compatible")
            } else {
                None
            });
        }
        [0x64, 0xff9b, 1, ..] => "NAT64 local-use",
        [0x100, 0, 0, 0, ..] => "discard-only",
        [0x2001, 0x0db8, ..] => "documentation",
        [0x2001, second, ..] if second < 0x200 => "IETF protocol assignment",
        [0x2002, high, low, ..] => {
            let [h1, h2] = high.to_be_bytes();
            let [l1, l2] = low.to_be_bytes();
            return non_global_v4(Ipv4Addr::new(h1, h2, l1, l2));
        }
        [first, ..] if first & 0xfe00 == 0xfc00 => "unique local (private)",
        [first, ..] if first & 0xffc0 == 0xfe80 => "link-local",
        [first, ..] if first & 0xffc0 == 0xfec0 => "site-local",
        [first, ..] if first & 0xff00 == 0xff00 => "multicast",
        _ => return None,
    };
    Some(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SourcesConfig {
        SourcesConfig::default()
    }

    fn refusal(raw: &str) -> SourceError {
        GitUrl::parse(raw, &config()).unwrap_err()
    }

    #[test]
    fn https_urls_are_accepted() {
        let url = GitUrl::parse(" https://github.com/org/lab.git ", &config()).unwrap();
        assert_eq!(url.as_str(), "https://github.com/org/lab.git");
    }

    #[test]
    fn other_schemes_are_refused_with_the_fix() {
        assert_eq!(
            refusal("file:///srv/repo").to_string(),
            "git URLs must use https://; file:// is refused. Push the repository to a public \
             https host or upload a zip"
        );
        for (raw, scheme) in [
            ("ssh://git@github.com/org/lab.git", "ssh"),
            ("git://github.com/org/lab.git", "git"),
            ("ftp://example.org/lab.git", "ftp"),
            ("file:/srv/repo", "file"),
        ] {
            assert!(
                matches!(refusal(raw), SourceError::GitSchemeRefused { scheme: ref s } if s == scheme),
                "{raw}"
            );
        }
    }

    #[test]
    fn scp_like_addresses_and_remote_helpers_are_refused() {
        assert!(matches!(
            refusal("git@github.com:org/lab.git"),
            SourceError::GitScpLikeUrl { .. }
        ));
        assert!(matches!(
            refusal("github.com:org/lab.git"),
            SourceError::GitScpLikeUrl { .. }
        ));
        assert!(matches!(
            refusal("ext::sh -c touch% /tmp/owned"),
            SourceError::GitRemoteHelper { .. }
        ));
        assert!(matches!(
            refusal("/srv/repositories/lab.git"),
            SourceError::GitUrlInvalid { .. }
        ));
    }

    #[test]
    fn http_needs_the_setting() {
        let error = refusal("http://example.org/lab.git");
        assert!(matches!(error, SourceError::GitHttpRefused { .. }));
        assert!(
            error.to_string().contains("LABFORGE_GIT_ALLOW_HTTP=true"),
            "the refusal names the setting that allows it: {error}"
        );
        let config = SourcesConfig {
            allow_http: true,
            ..config()
        };
        GitUrl::parse("http://example.org/lab.git", &config).unwrap();
    }

    #[test]
    fn credentials_are_refused_without_being_repeated() {
        let error = refusal("https://alice:s3cret@github.com/org/lab.git");
        assert!(matches!(error, SourceError::GitCredentialsInUrl { .. }));
        assert!(!error.to_string().contains("s3cret"), "{error}");
        assert!(!error.to_string().contains("alice"), "{error}");
        assert!(matches!(
            refusal("https://token@github.com/org/lab.git"),
            SourceError::GitCredentialsInUrl { .. }
        ));
    }

    /// Literal addresses are refused by `resolve` without any lookup or connection.
    #[tokio::test]
    async fn literal_private_addresses_are_refused() {
        for (raw, address, range) in [
            ("https://127.0.0.1/lab.git", "127.0.0.1", "loopback"),
            ("https://127.1/lab.git", "127.0.0.1", "loopback"),
            ("https://2130706433/lab.git", "127.0.0.1", "loopback"),
            ("https://10.1.2.3/lab.git", "10.1.2.3", "private"),
            ("https://172.20.0.1/lab.git", "172.20.0.1", "private"),
            ("https://192.168.1.1/lab.git", "192.168.1.1", "private"),
            (
                "https://169.254.169.254/latest/meta-data",
                "169.254.169.254",
                "link-local",
            ),
            (
                "https://0.0.0.0/lab.git",
                "0.0.0.0",
                "unspecified (\"this network\")",
            ),
            ("https://[::1]/lab.git", "::1", "loopback"),
            ("https://[::]/lab.git", "::", "unspecified"),
            (
                "https://[fd00::1]/lab.git",
                "fd00::1",
                "unique local (private)",
            ),
            ("https://[fe80::1]/lab.git", "fe80::1", "link-local"),
            (
                "https://[::ffff:10.0.0.1]/lab.git",
                "::ffff:10.0.0.1",
                "private",
            ),
            (
                "https://[64:ff9b::7f00:1]/lab.git",
                "64:ff9b::7f00:1",
                "loopback",
            ),
        ] {
            let url = GitUrl::parse(raw, &config()).unwrap();
            let error = url.resolve(&config()).await.unwrap_err();
            match &error {
                SourceError::PrivateAddress {
                    address: refused,
                    range: refused_range,
                    ..
                } => {
                    assert_eq!(refused.to_string(), address, "{raw}");
                    assert_eq!(*refused_range, range, "{raw}");
                }
                other => panic!("{raw}: {other}"),
            }
        }
    }

    #[tokio::test]
    async fn localhost_is_refused_as_loopback() {
        let url = GitUrl::parse("https://localhost/lab.git", &config()).unwrap();
        let error = url.resolve(&config()).await.unwrap_err();
        assert!(
            matches!(&error, SourceError::PrivateAddress { host, range: "loopback", .. } if host == "localhost"),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .contains("An administrator can allow this host with LABFORGE_GIT_ALLOWED_HOSTS"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn allowed_hosts_may_be_private() {
        let config = SourcesConfig {
            allowed_hosts: vec!["127.0.0.1".into(), "[::1]".into(), "LOCALHOST".into()],
            ..config()
        };
        for raw in [
            "https://127.0.0.1:8443/lab.git",
            "https://[::1]/lab.git",
            "https://localhost/lab.git",
        ] {
            let url = GitUrl::parse(raw, &config).unwrap();
            url.resolve(&config).await.unwrap();
        }
        let pinned = GitUrl::parse("https://localhost:8443/lab.git", &config)
            .unwrap()
            .resolve(&config)
            .await
            .unwrap();
        let pin = pinned.curl_resolve.unwrap();
        assert!(pin.starts_with("localhost:8443:"), "{pin}");
        // Allowing one private address does not allow the others.
        let other = GitUrl::parse("https://10.1.2.3/lab.git", &config).unwrap();
        assert!(other.resolve(&config).await.is_err());
    }

    #[test]
    fn global_addresses_pass() {
        for address in [
            "140.82.121.4",
            "1.1.1.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:140.82.121.4",
        ] {
            let address: IpAddr = address.parse().unwrap();
            assert_eq!(non_global_range(address), None, "{address}");
        }
    }
}
