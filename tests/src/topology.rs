//! A virtualisation host in miniature, for behaviour tests with real packets.
//!
//! ```text
//!  g1 192.168.100.10 ─veth─┐
//!                          virbr10 192.168.100.1 ┐
//!  g2 192.168.101.10 ─veth─┐                     host ─ up0 198.51.100.1 ─veth─ outside 198.51.100.2
//!                          virbr11 192.168.101.1 ┘
//! ```
//!
//! Every box is a network namespace. The host forwards between its bridges
//! and its uplink; the guests route through it; the outside machine has
//! routes back to both guest subnets, so without firewall rules everyone
//! reaches everyone and the rules alone make the difference. Each machine
//! runs a TCP listener that answers with the peer address it sees, and
//! [`Topology::probe`] connects from one machine to another with a short
//! timeout: a connect outcome plus, when connected, the source address and
//! port after any NAT. Listeners and clients are `python3` processes run
//! with `ip netns exec`.

use std::fmt;
use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use crate::netns::{unavailable, which, Netns};

/// The host's uplink, the `<forward dev>` of the NAT network.
pub const UPLINK: &str = "up0";

/// The port every listener listens on.
pub const PORT: u16 = 8080;

/// The source ports the NAT network's `<nat><port>` allows.
pub const NAT_PORTS: RangeInclusive<u16> = 20000..=29999;

/// The NAT network: guests on virbr10 leave through the uplink as the
/// host's uplink address, with source ports in [`NAT_PORTS`].
pub const NAT_NETWORK: &str = "<network>
  <name>behaviour-nat</name>
  <bridge name='virbr10'/>
  <forward mode='nat' dev='up0'>
    <nat>
      <address start='198.51.100.1' end='198.51.100.1'/>
      <port start='20000' end='29999'/>
    </nat>
  </forward>
  <ip address='192.168.100.1' netmask='255.255.255.0'/>
</network>
";

/// The isolated network: guests on virbr11 reach the host only.
pub const ISOLATED_NETWORK: &str = "<network>
  <name>behaviour-isolated</name>
  <bridge name='virbr11'/>
  <ip address='192.168.101.1' netmask='255.255.255.0'/>
</network>
";

/// One of the topology's machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Machine {
    /// The virtualisation host, where the rules are loaded.
    Host,
    /// A machine beyond the uplink.
    Outside,
    /// The guest on the NAT network.
    G1,
    /// The guest on the isolated network.
    G2,
}

impl Machine {
    /// The address others connect to: for the host, its address on the NAT
    /// network's bridge (the one a guest uses).
    pub fn address(self) -> IpAddr {
        let text = match self {
            Machine::Host => "192.168.100.1",
            Machine::Outside => "198.51.100.2",
            Machine::G1 => "192.168.100.10",
            Machine::G2 => "192.168.101.10",
        };
        text.parse().expect("a valid address")
    }

    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Machine::Host => "host",
            Machine::Outside => "outside",
            Machine::G1 => "g1",
            Machine::G2 => "g2",
        }
    }
}

/// How a connection attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Connected; the listener saw this source address and port.
    Connected {
        /// The peer address the listener saw.
        from: IpAddr,
        /// The peer port the listener saw.
        port: u16,
    },
    /// Connected, but the listener's answer never came.
    Silent,
    /// Refused: a TCP reset, or an ICMP port unreachable as `reject` sends.
    Refused,
    /// No answer within the timeout, as when packets are dropped.
    TimedOut,
    /// Another error (errno name), e.g. `EHOSTUNREACH`.
    Error(String),
}

impl Outcome {
    /// Whether a connection was made.
    pub fn connected(&self) -> bool {
        matches!(self, Outcome::Connected { .. })
    }
}

/// Comparable across runs: ephemeral ports are shown only as inside or
/// outside [`NAT_PORTS`].
impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Connected { from, port } => {
                let place = if NAT_PORTS.contains(port) {
                    "in"
                } else {
                    "outside"
                };
                write!(
                    f,
                    "connected from {from}, source port {place} {}-{}",
                    NAT_PORTS.start(),
                    NAT_PORTS.end()
                )
            }
            Outcome::Silent => f.write_str("connected, no answer"),
            Outcome::Refused => f.write_str("refused"),
            Outcome::TimedOut => f.write_str("timed out"),
            Outcome::Error(e) => write!(f, "error {e}"),
        }
    }
}

/// Accepts connections forever, answering each with the peer's address.
const LISTENER: &str = "
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', int(sys.argv[1])))
s.listen(64)
print('ready', flush=True)
while True:
    c, (host, port) = s.accept()
    try:
        c.sendall(('%s %d\\n' % (host, port)).encode())
    except OSError:
        pass
    c.close()
";

/// Connects once and prints how it went (see [`Outcome`]).
const CLIENT: &str = "
import errno, socket, sys
s = socket.socket()
s.settimeout(float(sys.argv[3]))
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
except socket.timeout:
    print('timeout'); sys.exit()
except ConnectionRefusedError:
    print('refused'); sys.exit()
except OSError as e:
    print('error', errno.errorcode.get(e.errno, e.errno)); sys.exit()
try:
    print('connected', s.recv(64).decode().strip())
except OSError:
    print('silent')
";

/// How long a client waits for a connection: a drop shows as a timeout, a
/// reject comes back at once.
const TIMEOUT_SECONDS: &str = "1.0";

/// The `python3` to run: the system one if present (version managers' shims
/// on `PATH` start much slower), else whatever `PATH` has.
fn python() -> Option<PathBuf> {
    let system = PathBuf::from("/usr/bin/python3");
    if system.is_file() {
        Some(system)
    } else {
        which("python3")
    }
}

/// A listener process, killed on drop.
pub struct Listener(Child);

impl Drop for Listener {
    fn drop(&mut self) {
        // We started it; it may already be gone, which is fine.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The namespaces, links and listeners; everything is removed on drop, also
/// when a test panics.
pub struct Topology {
    // Dropped first: a namespace with a live process in it outlives `ip
    // netns del`.
    listeners: Vec<Listener>,
    python: PathBuf,
    /// The host, holding virbr10, virbr11 and the uplink.
    pub host: Netns,
    outside: Netns,
    g1: Netns,
    g2: Netns,
}

impl Topology {
    /// Why the topology cannot be built here, if it cannot.
    pub fn unavailable() -> Option<String> {
        unavailable().or_else(|| {
            python()
                .is_none()
                .then(|| "`python3` not found (the probes are python3 one-liners)".to_owned())
        })
    }

    /// Builds the topology and starts a listener on every machine. Panics
    /// (after removing what was built) when a step fails.
    pub fn build() -> Topology {
        let python = python().expect("python3 is installed (see Topology::unavailable)");
        let (host, outside, g1, g2) = (Netns::new(), Netns::new(), Netns::new(), Netns::new());
        let batch = |ns: &Netns, commands: &str| {
            ns.run("ip", &["-batch", "-"], Some(commands))
                .unwrap_or_else(|f| panic!("building the topology in {}: {f}", ns.name()));
        };
        batch(
            &host,
            &format!(
                "link set lo up
link add virbr10 type bridge
addr add 192.168.100.1/24 dev virbr10
link set virbr10 up
link add virbr11 type bridge
addr add 192.168.101.1/24 dev virbr11
link set virbr11 up
link add {UPLINK} type veth peer name eth0 netns {outside}
addr add 198.51.100.1/24 dev {UPLINK}
link set {UPLINK} up
link add vg1 type veth peer name eth0 netns {g1}
link set vg1 master virbr10 up
link add vg2 type veth peer name eth0 netns {g2}
link set vg2 master virbr11 up
",
                outside = outside.name(),
                g1 = g1.name(),
                g2 = g2.name(),
            ),
        );
        host.run("sysctl", &["-qw", "net.ipv4.ip_forward=1"], None)
            .unwrap_or_else(|f| panic!("enabling forwarding on the host: {f}"));
        let machine = |ns: &Netns, addr: &str, routes: &[&str]| {
            let mut commands =
                format!("link set lo up\naddr add {addr} dev eth0\nlink set eth0 up\n");
            for r in routes {
                commands.push_str(&format!("route add {r}\n"));
            }
            batch(ns, &commands);
        };
        machine(
            &outside,
            "198.51.100.2/24",
            &[
                "192.168.100.0/24 via 198.51.100.1",
                "192.168.101.0/24 via 198.51.100.1",
            ],
        );
        machine(&g1, "192.168.100.10/24", &["default via 192.168.100.1"]);
        machine(&g2, "192.168.101.10/24", &["default via 192.168.101.1"]);
        let mut topology = Topology {
            listeners: Vec::new(),
            python,
            host,
            outside,
            g1,
            g2,
        };
        for m in [Machine::Host, Machine::Outside, Machine::G1, Machine::G2] {
            let listener = topology.listen(m);
            topology.listeners.push(listener);
        }
        topology
    }

    /// The namespace of `m`.
    pub fn netns(&self, m: Machine) -> &Netns {
        match m {
            Machine::Host => &self.host,
            Machine::Outside => &self.outside,
            Machine::G1 => &self.g1,
            Machine::G2 => &self.g2,
        }
    }

    /// Starts `m`'s listener and waits until it accepts connections.
    fn listen(&self, m: Machine) -> Listener {
        listen_with(&self.python, self.netns(m), m.name(), PORT)
    }

    /// Connects from `from` to `to`'s listener and reports how it went.
    pub fn probe(&self, from: Machine, to: Machine) -> Outcome {
        connect_with(&self.python, self.netns(from), to.address(), PORT)
    }
}

/// Starts a listener on `port` in `ns` (answering with the peer's address,
/// as the topology's do) and waits until it accepts connections; it is
/// killed when dropped. For tests that build their own machines (see
/// [`Topology::unavailable`] for what they need).
pub fn listen(ns: &Netns, port: u16) -> Listener {
    let python = python().expect("python3 is installed (see Topology::unavailable)");
    listen_with(&python, ns, ns.name(), port)
}

/// Connects once from `ns` to `to`, port `port`, with the topology's short
/// timeout, and reports how it went.
pub fn connect(ns: &Netns, to: IpAddr, port: u16) -> Outcome {
    let python = python().expect("python3 is installed (see Topology::unavailable)");
    connect_with(&python, ns, to, port)
}

fn listen_with(python: &Path, ns: &Netns, name: &str, port: u16) -> Listener {
    let python = python.to_str().expect("a UTF-8 path");
    let child = ns
        .command(python)
        .args(["-c", LISTENER, &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting the listener on {name}: {e}"));
    let mut listener = Listener(child);
    let mut line = String::new();
    let stdout = listener.0.stdout.as_mut().expect("stdout is piped");
    BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap_or_else(|e| panic!("reading the listener on {name}: {e}"));
    assert_eq!(line, "ready\n", "the listener on {name} did not start");
    listener
}

fn connect_with(python: &Path, ns: &Netns, to: IpAddr, port: u16) -> Outcome {
    let python = python.to_str().expect("a UTF-8 path");
    let args = [
        "-c",
        CLIENT,
        &to.to_string(),
        &port.to_string(),
        TIMEOUT_SECONDS,
    ];
    let out = ns
        .run(python, &args, None)
        .unwrap_or_else(|f| panic!("probe {} -> {to}:{port}: {f}", ns.name()));
    parse(&out).unwrap_or_else(|| panic!("probe {} -> {to}:{port} printed {out:?}", ns.name()))
}

fn parse(line: &str) -> Option<Outcome> {
    let mut words = line.split_whitespace();
    Some(match words.next()? {
        "connected" => match (words.next(), words.next()) {
            (Some(from), Some(port)) => Outcome::Connected {
                from: from.parse().ok()?,
                port: port.parse().ok()?,
            },
            _ => Outcome::Silent,
        },
        "silent" => Outcome::Silent,
        "refused" => Outcome::Refused,
        "timeout" => Outcome::TimedOut,
        "error" => Outcome::Error(words.next()?.to_owned()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_lines_parse() {
        assert_eq!(
            parse("connected 198.51.100.1 20001\n"),
            Some(Outcome::Connected {
                from: "198.51.100.1".parse().unwrap(),
                port: 20001
            })
        );
        assert_eq!(parse("refused\n"), Some(Outcome::Refused));
        assert_eq!(parse("timeout\n"), Some(Outcome::TimedOut));
        assert_eq!(parse("connected\n"), Some(Outcome::Silent));
        assert_eq!(
            parse("error EHOSTUNREACH\n"),
            Some(Outcome::Error("EHOSTUNREACH".into()))
        );
        assert_eq!(parse("Traceback (most recent call last):"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn outcomes_hide_ephemeral_ports() {
        let at = |port| Outcome::Connected {
            from: "198.51.100.1".parse().unwrap(),
            port,
        };
        assert_eq!(
            at(20000).to_string(),
            "connected from 198.51.100.1, source port in 20000-29999"
        );
        assert_eq!(at(29999).to_string(), at(25000).to_string());
        assert_eq!(
            at(41234).to_string(),
            "connected from 198.51.100.1, source port outside 20000-29999"
        );
        assert_eq!(at(19999).to_string(), at(41234).to_string());
    }
}
