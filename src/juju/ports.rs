//! The unit's open ports: `open-port` and `close-port` say which TCP ports `juju expose` opens
//! to the outside (the webhook endpoint's), `opened-ports` lists them.

use super::ToolError;

/// Opens (or closes) TCP `port`.
pub(super) fn set(port: u16, open: bool) -> Result<(), ToolError> {
    let tool = if open { "open-port" } else { "close-port" };
    super::run(tool, &[&format!("{port}/tcp")], None).map(drop)
}

/// The TCP ports this unit opened.
pub(super) fn opened() -> Result<Vec<u16>, ToolError> {
    let out = super::run("opened-ports", &[], None)?;
    Ok(tcp_ports(&out))
}

/// The single TCP ports of `opened-ports`' lines (`8080/tcp`; ranges and other protocols are
/// none of the charm's).
fn tcp_ports(listing: &str) -> Vec<u16> {
    listing
        .lines()
        .filter_map(|l| l.trim().strip_suffix("/tcp")?.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_single_tcp_ports_are_read_from_the_listing() {
        assert_eq!(tcp_ports("8080/tcp\n53/udp\n9000-9010/tcp\n"), vec![8080]);
    }
}
