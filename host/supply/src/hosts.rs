//! Where a module source points: whether a host is on the public network or somewhere a tenant must not be
//! able to make the operator connect to (itself, the node, the cloud metadata endpoint, the cluster's own
//! services). The operator refuses the latter unless a PlatformPolicy lists the host.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What kind of network a host is on, worst first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HostClass {
    /// `localhost`, `127.0.0.0/8`, `::1`, or an unspecified address (`0.0.0.0`, `::`).
    Loopback,
    /// `169.254.0.0/16` (cloud metadata endpoints live here) or `fe80::/10`.
    LinkLocal,
    /// A Kubernetes service name: `*.svc`, `*.cluster.local`, or a single label resolved through the pod's
    /// search domains.
    ClusterInternal,
    /// Private address ranges (`10/8`, `172.16/12`, `192.168/16`, `100.64/10`, `fc00::/7`): where pod and
    /// service networks usually are.
    Private,
    /// Anything else.
    Public,
}

impl HostClass {
    /// How messages name it.
    pub fn describe(self) -> &'static str {
        match self {
            HostClass::Loopback => "a loopback address",
            HostClass::LinkLocal => "a link-local address",
            HostClass::ClusterInternal => "a cluster-internal name",
            HostClass::Private => "a private address",
            HostClass::Public => "a public host",
        }
    }
}

/// The host part of `authority` (`host`, `host:port`, `[v6]:port`), lower-cased, without brackets.
pub fn host_of(authority: &str) -> String {
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None if authority.matches(':').count() > 1 => authority,
        None => authority.rsplit_once(':').map_or(authority, |(host, _)| host),
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether `entry` (`host` or `host:port`, optionally with an `https://` prefix, as admins write them in
/// policies and Secrets) names `authority`: `host:port` exactly, or `host` on any port. Case-insensitive.
pub fn names(entry: &str, authority: &str) -> bool {
    let entry = entry.trim().trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/');
    let (entry, authority) = (entry.to_ascii_lowercase(), authority.to_ascii_lowercase());
    let host_only = host_of(&entry) == entry.trim_end_matches('.');
    entry == authority || (host_only && host_of(&entry) == host_of(&authority))
}

/// The class of `host` judged by its text alone: an address literal by its range, a name by its form.
pub fn classify_name(host: &str) -> HostClass {
    let host = host_of(host);
    if let Ok(address) = host.parse::<IpAddr>() {
        return classify_address(address);
    }
    if host == "localhost" || host.ends_with(".localhost") {
        HostClass::Loopback
    } else if !host.contains('.') || host.ends_with(".svc") || host.ends_with(".cluster.local") {
        HostClass::ClusterInternal
    } else {
        HostClass::Public
    }
}

/// The class of one address.
pub fn classify_address(address: IpAddr) -> HostClass {
    match address {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(address: Ipv4Addr) -> HostClass {
    let [a, b, ..] = address.octets();
    if address.is_loopback() || address.is_unspecified() {
        HostClass::Loopback
    } else if address.is_link_local() {
        HostClass::LinkLocal
    } else if address.is_private() || (a == 100 && (64..128).contains(&b)) {
        HostClass::Private
    } else {
        HostClass::Public
    }
}

fn classify_v6(address: Ipv6Addr) -> HostClass {
    let first = address.segments()[0];
    if address.is_loopback() || address.is_unspecified() {
        HostClass::Loopback
    } else if first & 0xffc0 == 0xfe80 {
        HostClass::LinkLocal
    } else if first & 0xfe00 == 0xfc00 {
        HostClass::Private
    } else {
        HostClass::Public
    }
}

/// The class of `authority` after resolving it: the worst of its name and every address it resolves to (so
/// a public name pointing at `127.0.0.1` counts as loopback). A name that does not resolve keeps the class
/// of its text; the fetch then fails on its own.
pub async fn classify(authority: &str, default_port: u16) -> HostClass {
    let by_name = classify_name(authority);
    let host = host_of(authority);
    if by_name != HostClass::Public || host.parse::<IpAddr>().is_ok() {
        return by_name;
    }
    match tokio::net::lookup_host((host.as_str(), default_port)).await {
        Ok(addresses) => addresses.map(|address| classify_address(address.ip())).min().unwrap_or(by_name),
        Err(_) => by_name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses() {
        let cases = [
            ("localhost", HostClass::Loopback),
            ("LOCALHOST:8080", HostClass::Loopback),
            ("127.0.0.1:5000", HostClass::Loopback),
            ("[::1]:443", HostClass::Loopback),
            ("0.0.0.0", HostClass::Loopback),
            ("169.254.169.254", HostClass::LinkLocal),
            ("[fe80::1]", HostClass::LinkLocal),
            ("[::ffff:127.0.0.1]", HostClass::Loopback),
            ("gitea", HostClass::ClusterInternal),
            ("gitea:3000", HostClass::ClusterInternal),
            ("gitea.tools.svc", HostClass::ClusterInternal),
            ("kubernetes.default.svc.cluster.local", HostClass::ClusterInternal),
            ("10.96.0.1", HostClass::Private),
            ("172.20.1.1", HostClass::Private),
            ("192.168.1.10:8443", HostClass::Private),
            ("100.100.100.200", HostClass::Private),
            ("[fd00::1]", HostClass::Private),
            ("github.com", HostClass::Public),
            ("ghcr.io", HostClass::Public),
            ("8.8.8.8", HostClass::Public),
            ("172.32.0.1", HostClass::Public),
        ];
        for (host, class) in cases {
            assert_eq!(classify_name(host), class, "{host}");
        }
    }

    #[test]
    fn entries_name_one_host_or_one_port() {
        let cases = [
            ("git.example.com", "git.example.com", true),
            ("git.example.com", "git.example.com:8443", true),
            ("Git.Example.com:8443", "git.example.com:8443", true),
            ("git.example.com:8443", "git.example.com:443", false),
            ("https://git.example.com/", "git.example.com", true),
            ("git.example.com", "evil.example.com", false),
            ("example.com", "git.example.com", false),
            ("127.0.0.1:3000", "127.0.0.1:3001", false),
            ("::1", "[::1]:5000", true),
        ];
        for (entry, authority, expected) in cases {
            assert_eq!(names(entry, authority), expected, "{entry} vs {authority}");
        }
    }

    #[test]
    fn hosts_of_authorities() {
        assert_eq!(host_of("Git.Example.com:8443"), "git.example.com");
        assert_eq!(host_of("[::1]:5000"), "::1");
        assert_eq!(host_of("::1"), "::1");
        assert_eq!(host_of("example.com."), "example.com");
    }

    #[tokio::test]
    async fn resolved_names_take_their_addresses_class() {
        assert_eq!(classify("localhost:5000", 443).await, HostClass::Loopback);
        assert_eq!(classify("127.0.0.1", 443).await, HostClass::Loopback);
    }
}
