//! Source networks: the unit detectors count "places" in. An IPv4 address counts as its /24, an
//! IPv6 address as its /64; non-IP sources have no network.

use std::net::IpAddr;

use crate::event::Str;

/// The network an address belongs to, as `203.0.113.0/24` or `2001:db8:1:2::/64`. An
/// IPv4-mapped IPv6 address (`::ffff:198.51.100.4`, as some systems log IPv4) is its IPv4 address.
pub fn network_of(ip: IpAddr) -> Str {
    use std::fmt::Write;
    let mut s = Str::default();
    match canonical(ip) {
        IpAddr::V4(v4) => {
            // by hand: `write!` costs more than the rest of an event's enrichment
            let [a, b, c, _] = v4.octets();
            for octet in [a, b, c] {
                push_u8(&mut s, octet);
                s.push('.');
            }
            s.push_str("0/24");
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            let prefix = std::net::Ipv6Addr::new(seg[0], seg[1], seg[2], seg[3], 0, 0, 0, 0);
            let _ = write!(s, "{prefix}/64");
        }
    }
    s
}

fn push_u8(s: &mut Str, n: u8) {
    if n >= 100 {
        s.push(char::from(b'0' + n / 100));
    }
    if n >= 10 {
        s.push(char::from(b'0' + n / 10 % 10));
    }
    s.push(char::from(b'0' + n % 10));
}

/// An IPv4-mapped IPv6 address as the IPv4 address it carries; anything else unchanged.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_is_slash_24_and_v6_is_slash_64() {
        assert_eq!(
            network_of("203.0.113.77".parse().unwrap()),
            "203.0.113.0/24"
        );
        assert_eq!(
            network_of("2001:db8:1:2:3:4:5:6".parse().unwrap()),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            network_of("::ffff:198.51.100.4".parse().unwrap()),
            "198.51.100.0/24",
            "IPv4-mapped IPv6 is the IPv4 address it carries"
        );
        assert_eq!(network_of("::1".parse().unwrap()), "::/64");
        for (ip, net) in [
            ("0.0.0.0", "0.0.0.0/24"),
            ("9.99.100.1", "9.99.100.0/24"),
            ("255.250.10.3", "255.250.10.0/24"),
        ] {
            assert_eq!(network_of(ip.parse().unwrap()), net);
        }
    }
}
