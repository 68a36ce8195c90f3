//! Which repositories `POST /v1/scans` may read: local paths only under
//! `api.allowed_roots` (after resolving symlinks and `..`), URLs only with a scheme in
//! `api.allowed_schemes`, and never a loopback, private or link-local host.
//!
//! A host name is checked twice: when the job is queued ([`RepoPolicy::check`]), and
//! by the worker right before it clones ([`RepoPolicy::clone_options`]), which
//! resolves the name once, checks every address, and pins an HTTP(S) clone to the first
//! one with redirects refused. A DNS answer that changes between the check and the
//! clone (DNS rebinding), or a redirect to an internal host, therefore never reaches an
//! internal address. Other network schemes (`ssh://`, `git://`) resolve the name again
//! in their own client: there the check narrows the window but does not close it.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::git::source::is_url;
use crate::git::{CloneOptions, Pin, Redirects};

/// The checked policy (roots canonicalized once at start).
#[derive(Debug, Clone, Default)]
pub struct RepoPolicy {
    roots: Vec<PathBuf>,
    schemes: Vec<String>,
}

/// Why a repository is refused. Messages never say whether a refused path exists.
#[derive(Debug, thiserror::Error)]
pub enum RepoRejection {
    #[error("invalid repository: {0}")]
    Invalid(&'static str),
    #[error("URL scheme {0:?} is not allowed (api.allowed_schemes)")]
    Scheme(String),
    #[error("repository path is not under an allowed root (api.allowed_roots)")]
    Path,
    #[error("host {0:?} is internal (loopback, private or link-local): not allowed")]
    Host(String),
    #[error("host {0:?} does not resolve")]
    Unresolved(String),
}

/// An allowed root that cannot be resolved.
#[derive(Debug, thiserror::Error)]
#[error("api.allowed_roots: {path}: {source}")]
pub struct RootError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

impl RepoPolicy {
    pub fn new(roots: &[PathBuf], schemes: &[String]) -> Result<RepoPolicy, RootError> {
        let roots = roots
            .iter()
            .map(|root| std::fs::canonicalize(root).map_err(|source| RootError { path: root.clone(), source }))
            .collect::<Result<_, _>>()?;
        Ok(RepoPolicy { roots, schemes: schemes.iter().map(|s| s.to_ascii_lowercase()).collect() })
    }

    /// What to scan for the requested `repo`: the canonical path of an allowed local
    /// repository, or the URL itself. Resolves a URL's host name (DNS) to refuse
    /// internal addresses.
    pub async fn check(&self, repo: &str) -> Result<String, RepoRejection> {
        let repo = repo.trim();
        if repo.is_empty() || repo.len() > 4096 {
            return Err(RepoRejection::Invalid("empty or longer than 4096 bytes"));
        }
        if repo.starts_with('-') || repo.chars().any(char::is_control) {
            return Err(RepoRejection::Invalid("starts with '-' or holds control characters"));
        }
        if !is_url(repo) {
            return self.local(Path::new(repo)).map(|p| p.display().to_string());
        }
        let (scheme, rest) = match repo.split_once("://") {
            Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
            // scp-like `user@host:path` is ssh.
            None => ("ssh".to_string(), repo),
        };
        if !self.schemes.contains(&scheme) {
            return Err(RepoRejection::Scheme(scheme));
        }
        if scheme == "file" {
            let path = self.local(Path::new(rest))?;
            return Ok(format!("file://{}", path.display()));
        }
        let host = host_of(rest).ok_or(RepoRejection::Invalid("URL without a host"))?;
        refuse_internal(&host).await?;
        Ok(repo.to_string())
    }

    /// How the worker may clone `repo` (a value [`RepoPolicy::check`] returned), checked
    /// again now: local paths and `file://` against the roots; a network URL's host
    /// resolved once, refused if any address is internal, and, for HTTP(S), pinned to
    /// the first address with redirects refused (see the module doc).
    pub async fn clone_options(&self, repo: &str) -> Result<CloneOptions, RepoRejection> {
        let checked = self.check(repo).await?;
        let Ok(url) = url::Url::parse(&checked) else {
            // A local path or an scp-like ssh address: nothing to pin.
            return Ok(CloneOptions::default());
        };
        let scheme = url.scheme();
        let (Some(host), Some(port)) = (url.host(), url.port_or_known_default()) else {
            return Ok(CloneOptions::default());
        };
        let addr = match host {
            url::Host::Ipv4(v4) => IpAddr::V4(v4),
            url::Host::Ipv6(v6) => IpAddr::V6(v6),
            url::Host::Domain(name) => {
                let addrs: Vec<IpAddr> = tokio::net::lookup_host((name, port))
                    .await
                    .map_err(|_| RepoRejection::Unresolved(name.to_string()))?
                    .map(|a| a.ip())
                    .collect();
                pick_address(name, &addrs)?
            }
        };
        if !matches!(scheme, "http" | "https") {
            return Ok(CloneOptions::default());
        }
        let pin = match host {
            url::Host::Domain(name) => Some(Pin { host: name.to_string(), port, addr }),
            _ => None,
        };
        Ok(CloneOptions { pin, redirects: Redirects::Refuse })
    }

    fn local(&self, path: &Path) -> Result<PathBuf, RepoRejection> {
        if !path.is_absolute() {
            return Err(RepoRejection::Invalid("a local path must be absolute"));
        }
        let canonical = std::fs::canonicalize(path).map_err(|_| RepoRejection::Path)?;
        match self.roots.iter().any(|root| canonical.starts_with(root)) {
            true => Ok(canonical),
            false => Err(RepoRejection::Path),
        }
    }
}

/// The host of `user@host:port/path` (brackets of an IPv6 literal removed).
fn host_of(rest: &str) -> Option<String> {
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split_once(']')?.0,
        None => host_port.split(':').next()?,
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

async fn refuse_internal(host: &str) -> Result<(), RepoRejection> {
    let refused = || Err(RepoRejection::Host(host.to_string()));
    if host == "localhost" || host.ends_with(".localhost") {
        return refused();
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return if is_internal(ip) { refused() } else { Ok(()) };
    }
    // A name that does not resolve is left to the clone, which then fails.
    if let Ok(addrs) = tokio::net::lookup_host((host, 443)).await
        && addrs.into_iter().any(|a| is_internal(a.ip()))
    {
        return refused();
    }
    Ok(())
}

/// The address to pin `host` to among those it resolved to: the first, when none is
/// internal (one internal address refuses the host: a rebinding name may answer
/// either).
fn pick_address(host: &str, addrs: &[IpAddr]) -> Result<IpAddr, RepoRejection> {
    if addrs.iter().any(|a| is_internal(*a)) {
        return Err(RepoRejection::Host(host.to_string()));
    }
    addrs.first().copied().ok_or_else(|| RepoRejection::Unresolved(host.to_string()))
}

/// Loopback, private, link-local, shared (CGNAT), unspecified, broadcast, multicast,
/// unique-local; IPv4-mapped IPv6 addresses are judged as IPv4.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_internal(IpAddr::V4(v4)),
            None => {
                let first = v6.segments()[0];
                v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || (first & 0xfe00) == 0xfc00
                    || (first & 0xffc0) == 0xfe80
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_internal_addresses() {
        assert_eq!(host_of("user:pw@Example.com:8443/o/r.git").as_deref(), Some("example.com"));
        assert_eq!(host_of("[::1]:22/r").as_deref(), Some("::1"));
        assert_eq!(host_of("git@github.com:o/r.git").as_deref(), Some("github.com"));
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_internal(internal.parse().unwrap()), "{internal}");
        }
        for public in ["140.82.112.3", "2606:50c0:8000::153"] {
            assert!(!is_internal(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn the_pinned_address_is_a_checked_one() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let public = [ip("140.82.112.3"), ip("140.82.112.4")];
        assert_eq!(pick_address("git.example.org", &public).unwrap(), public[0]);
        let rebinding = [ip("140.82.112.3"), ip("127.0.0.1")];
        assert!(matches!(pick_address("evil.example", &rebinding), Err(RepoRejection::Host(_))));
        assert!(matches!(pick_address("nowhere.example", &[]), Err(RepoRejection::Unresolved(_))));
    }

    #[tokio::test]
    async fn clone_options_refuse_redirects_and_internal_hosts_at_clone_time() {
        let policy = RepoPolicy::new(&[], &["https".to_string(), "http".to_string()]).unwrap();
        // An address literal needs no DNS: nothing to pin, but redirects are refused.
        let options = policy.clone_options("https://140.82.112.3/o/r.git").await.unwrap();
        assert_eq!(options, CloneOptions { pin: None, redirects: Redirects::Refuse });
        // localhost resolves (here, without a network) to loopback: refused.
        assert!(matches!(policy.clone_options("http://localhost:8080/r.git").await, Err(RepoRejection::Host(_))));
        assert!(matches!(policy.clone_options("https://[::1]/r.git").await, Err(RepoRejection::Host(_))));
    }
}
