//! The destination policy: which URLs and addresses an outbound request may reach, and the
//! resolver that applies it to every name a request resolves.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The admin's allow-list of internal destinations (`outbound_allow`): networks whose
/// addresses may be reached although they are not public, over `https` or plain `http`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Destinations {
    allowed: Vec<IpNet>,
}

/// A refusal by the policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

impl Destinations {
    /// Public `https` destinations only.
    pub fn public_only() -> Self {
        Self::default()
    }

    /// Also the networks listed (`10.0.0.0/8`, `127.0.0.1`, `fd00::/8`); an entry that is
    /// neither an address nor a network is an error, never ignored.
    pub fn allowing<S: AsRef<str>>(entries: &[S]) -> Result<Self, PolicyError> {
        let allowed = entries
            .iter()
            .map(|entry| {
                let entry = entry.as_ref().trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        PolicyError(format!(
                            "outbound_allow: `{entry}` is not an IP address or network (CIDR)"
                        ))
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { allowed })
    }

    pub fn is_allow_listed(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.allowed.iter().any(|net| net.contains(&address))
    }

    /// Whether a request may connect to `address`: a public address, or an allow-listed one
    /// (only an allow-listed one when `internal_only`, for plain `http`).
    pub fn admits(&self, address: IpAddr, internal_only: bool) -> Result<(), PolicyError> {
        if self.is_allow_listed(address) {
            return Ok(());
        }
        if internal_only {
            return Err(PolicyError(format!(
                "plain http is allowed only towards allow-listed destinations, not {address}"
            )));
        }
        if is_public(address) {
            Ok(())
        } else {
            Err(PolicyError(format!(
                "{address} is not a public address (loopback, private, link-local, shared or \
                 reserved); add its network to `outbound_allow` to reach it"
            )))
        }
    }

    /// The scheme, credentials and literal address of a URL.
    pub fn check_url(&self, url: &str) -> Result<Url, PolicyError> {
        let parsed = Url::parse(url).map_err(|_| PolicyError(format!("`{url}` is not a URL")))?;
        let internal_only = match parsed.scheme() {
            "https" => false,
            "http" => true,
            other => {
                return Err(PolicyError(format!(
                    "only https URLs are allowed, not `{other}:`"
                )));
            }
        };
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(PolicyError("a URL may not carry credentials".into()));
        }
        match parsed.host() {
            Some(url::Host::Ipv4(v4)) => self.admits(IpAddr::V4(v4), internal_only)?,
            Some(url::Host::Ipv6(v6)) => self.admits(IpAddr::V6(v6), internal_only)?,
            // A name is judged once resolved; plain http can only reach the allow-list.
            Some(url::Host::Domain(_)) if internal_only && self.allowed.is_empty() => {
                return Err(PolicyError(
                    "only https URLs are allowed (plain http only towards `outbound_allow`)".into(),
                ));
            }
            Some(url::Host::Domain(_)) => {}
            None => return Err(PolicyError(format!("`{url}` has no host"))),
        }
        Ok(parsed)
    }
}

/// An IPv4 address written as IPv6 (`::ffff:a.b.c.d`) is judged as the IPv4 address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Whether an address belongs to the public internet.
pub fn is_public(address: IpAddr) -> bool {
    match canonical(address) {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    !(v4.is_unspecified()
        || v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local() // 169.254/16: cloud metadata
        || v4.is_multicast()
        || v4.is_broadcast()
        || v4.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (and Alibaba's metadata)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240)
}

fn is_public_v6(v6: Ipv6Addr) -> bool {
    let segments = v6.segments();
    let embedded_v4 = |high: u16, low: u16| {
        Ipv4Addr::new((high >> 8) as u8, high as u8, (low >> 8) as u8, low as u8)
    };
    if v6.is_unspecified() || v6.is_loopback() || v6.is_multicast() {
        return false;
    }
    match segments[0] {
        0xfc00..=0xfdff => false, // unique local (AWS metadata fd00:ec2::254)
        0xfe80..=0xfeff => false, // link-local and old site-local
        0x2001 if segments[1] == 0x0db8 => false, // documentation
        0x2001 if segments[1] == 0 => false, // Teredo
        0x2002 => is_public_v4(embedded_v4(segments[1], segments[2])), // 6to4
        0x0064 if segments[1] == 0xff9b => is_public_v4(embedded_v4(segments[6], segments[7])), // NAT64
        0x0100 if segments[1..4] == [0, 0, 0] => false, // discard
        0 => false, // the rest of ::/16 (IPv4-compatible and reserved)
        _ => true,
    }
}

/// The DNS resolver of the outbound clients: resolves a name, keeps only the addresses the
/// policy admits, and fails when none is left. The connection uses what it returns.
pub(super) struct Resolver {
    destinations: Arc<Destinations>,
    internal_only: bool,
}

impl Resolver {
    pub(super) fn new(destinations: Arc<Destinations>, internal_only: bool) -> Self {
        Self {
            destinations,
            internal_only,
        }
    }
}

impl Resolve for Resolver {
    fn resolve(&self, name: Name) -> Resolving {
        let destinations = self.destinations.clone();
        let internal_only = self.internal_only;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refusal = None;
            let admitted: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(
                    |address| match destinations.admits(address.ip(), internal_only) {
                        Ok(()) => true,
                        Err(error) => {
                            refusal = Some(error);
                            false
                        }
                    },
                )
                .collect();
            if admitted.is_empty() {
                let why = refusal.map_or_else(|| format!("{host} has no address"), |e| e.0);
                return Err(Box::new(PolicyError(format!("{host}: {why}"))) as _);
            }
            Ok(Box::new(admitted.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn internal_addresses_are_refused_and_public_ones_admitted() {
        let policy = Destinations::public_only();
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.100.100.200",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2001:db8::1",
            "198.18.0.1",
            "240.0.0.1",
        ] {
            assert!(policy.admits(ip(internal), false).is_err(), "{internal}");
        }
        for public in [
            "93.184.216.34",
            "2606:2800:220:1::1",
            "64:ff9b::5db8:d822",
            "1.1.1.1",
        ] {
            assert!(policy.admits(ip(public), false).is_ok(), "{public}");
            assert!(
                policy.admits(ip(public), true).is_err(),
                "plain http: {public}"
            );
        }
    }

    #[test]
    fn the_allow_list_admits_its_networks_over_http_and_https_and_nothing_else() {
        let policy = Destinations::allowing(&["127.0.0.0/8", "10.0.0.5"]).expect("a list");
        assert!(policy.admits(ip("127.0.0.1"), true).is_ok());
        assert!(policy.admits(ip("::ffff:127.0.0.1"), true).is_ok());
        assert!(policy.admits(ip("10.0.0.5"), false).is_ok());
        assert!(policy.admits(ip("10.0.0.6"), false).is_err());
        assert!(
            Destinations::allowing(&["localhost"]).is_err(),
            "names are not networks"
        );
    }

    #[test]
    fn urls_need_https_no_credentials_and_an_admitted_literal_address() {
        let policy = Destinations::public_only();
        assert!(
            policy
                .check_url("https://receiver.example.com/events")
                .is_ok()
        );
        for refused in [
            "http://receiver.example.com/events",
            "ftp://receiver.example.com/",
            "https://user:pw@receiver.example.com/",
            "https://127.0.0.1/",
            "https://[::1]:8443/",
            "https://169.254.169.254/latest/meta-data",
            "https://0x7f000001/",
            "https://2130706433/",
            "not a url",
        ] {
            assert!(policy.check_url(refused).is_err(), "{refused}");
        }
        let internal = Destinations::allowing(&["127.0.0.1"]).expect("a list");
        assert!(internal.check_url("http://127.0.0.1:9000/push").is_ok());
    }
}
