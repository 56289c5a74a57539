//! Guest ports for the nft nwfilter suites: `<filterbinding>` files in a
//! temporary directory, compiled in either layout as `fwc compile` would,
//! and how long a chain a packet may walk.

use std::path::{Path, PathBuf};

use compiler::pipeline::{compile_files_with_filters, load_paths, Options, Output};
use emitters::{Direction, Format, Target};
use rules::layout::Layout;

use crate::corpus;

/// The guest's address in the suites.
pub const GUEST_IP: &str = "10.0.0.5";
/// The guest's MAC in the suites.
pub const GUEST_MAC: &str = "52:54:00:aa:bb:cc";

/// A `<filterbinding>` of `filter` to `port` with the guest's `mac` and
/// its `IP`.
pub fn binding(port: &str, mac: &str, filter: &str, ip: &str) -> String {
    format!(
        "<filterbinding>\n  <portdev name='{port}'/>\n  <mac address='{mac}'/>\n  \
         <filterref filter='{filter}'>\n    <parameter name='IP' value='{ip}'/>\n  \
         </filterref>\n</filterbinding>\n"
    )
}

/// libvirt's stock filters (`clean-traffic`, ...).
pub fn stock_filters() -> PathBuf {
    corpus::libvirt().join("nwfilter-library")
}

/// Files written into a temporary directory, kept while this lives.
pub struct Inputs {
    dir: tempfile::TempDir,
    /// The files, in the order written.
    pub files: Vec<PathBuf>,
}

impl Inputs {
    /// Writes `(name, text)` files.
    pub fn write(files: &[(String, String)]) -> Inputs {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let files = files
            .iter()
            .map(|(name, text)| {
                let p = dir.path().join(name);
                std::fs::write(&p, text).expect("written");
                p
            })
            .collect();
        Inputs { dir, files }
    }

    /// The directory they are in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Compiles `inputs` with the filter library `filters`, or panics with the
/// diagnostics. The fwc layout is optimised, as `fwc compile` does by
/// default; libvirt's never is.
pub fn compile(
    inputs: &[PathBuf],
    filters: &Path,
    target: Target,
    layout: Layout,
    format: Format,
    direction: Direction,
) -> Output {
    let opts = Options {
        target,
        layout,
        format,
        direction,
        optimize: layout == Layout::Fwc,
        ..Options::default()
    };
    let files = load_paths(inputs).unwrap_or_else(|d| panic!("{d:?}"));
    compile_files_with_filters(&files, Some(filters), &opts).unwrap_or_else(|diags| {
        panic!(
            "--target {} --layout {layout:?}: {}",
            target.name(),
            diags
                .iter()
                .map(|d| d.message.clone())
                .collect::<Vec<_>>()
                .join("; ")
        )
    })
}

/// The longest chain of a ruleset, in rules: the most a packet may have to
/// walk in one chain.
pub fn longest_chain(rs: &ir::Ruleset) -> usize {
    rs.tables
        .iter()
        .flat_map(|t| &t.chains)
        .map(|c| c.rules.len())
        .max()
        .unwrap_or(0)
}

/// Accepts connections on every port given, answering each with "hi".
const LISTENER: &str = "
import socket, sys, threading
def serve(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('0.0.0.0', port))
    s.listen(16)
    while True:
        c, _ = s.accept()
        try:
            c.sendall(b'hi\\n')
        except OSError:
            pass
        c.close()
for p in sys.argv[1:]:
    threading.Thread(target=serve, args=(int(p),), daemon=True).start()
print('ready', flush=True)
threading.Event().wait()
";

/// Connects once with a timeout and prints `connected` or why not.
const CLIENT: &str = "
import socket, sys
s = socket.socket()
s.settimeout(float(sys.argv[3]))
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print('connected' if s.recv(8) == b'hi\\n' else 'silent')
except socket.timeout:
    print('timeout')
except OSError as e:
    print('error', e.errno)
";

/// A listener process, killed on drop.
struct Listener(std::process::Child);

impl Drop for Listener {
    fn drop(&mut self) {
        // We started it; it may already be gone, which is fine.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A host with a bridge and one guest behind a tap-like port:
///
/// ```text
/// guest eth0 10.0.0.5 (52:54:00:aa:bb:cc) ─veth─ vnet0 ┐ br0 10.0.0.1  host
/// ```
///
/// The host listens on 8080, the guest on 22 and 8080.
pub struct Lan {
    // Dropped first: a namespace with a live process outlives `ip netns del`.
    listeners: Vec<Listener>,
    python: PathBuf,
    /// The host, where the rules are loaded.
    pub host: crate::netns::Netns,
    /// The guest.
    pub guest: crate::netns::Netns,
}

/// The host's address on the bridge.
pub const HOST_IP: &str = "10.0.0.1";

impl Lan {
    /// Why the LAN cannot be built here, if it cannot.
    pub fn unavailable() -> Option<String> {
        crate::netns::unavailable().or_else(|| {
            python()
                .is_none()
                .then(|| "`python3` not found (the probes are python3 one-liners)".to_owned())
        })
    }

    /// Builds the LAN and starts the listeners; panics when a step fails.
    pub fn build() -> Lan {
        let python = python().expect("python3 is installed (see Lan::unavailable)");
        let (host, guest) = (crate::netns::Netns::new(), crate::netns::Netns::new());
        let batch = |ns: &crate::netns::Netns, commands: String| {
            ns.run("ip", &["-batch", "-"], Some(&commands))
                .unwrap_or_else(|f| panic!("building the LAN in {}: {f}", ns.name()));
        };
        batch(
            &host,
            format!(
                "link set lo up
link add br0 type bridge
addr add {HOST_IP}/24 dev br0
link set br0 up
link add vnet0 type veth peer name eth0 netns {guest}
link set vnet0 master br0 up
",
                guest = guest.name()
            ),
        );
        batch(
            &guest,
            format!(
                "link set lo up
link set eth0 address {GUEST_MAC}
addr add {GUEST_IP}/24 dev eth0
link set eth0 up
"
            ),
        );
        let mut lan = Lan {
            listeners: Vec::new(),
            python,
            host,
            guest,
        };
        let host_listener = lan.listen(true, &["8080"]);
        let guest_listener = lan.listen(false, &["22", "8080"]);
        lan.listeners = vec![host_listener, guest_listener];
        lan
    }

    fn listen(&self, host: bool, ports: &[&str]) -> Listener {
        use std::io::BufRead;
        let ns = if host { &self.host } else { &self.guest };
        let python = self.python.to_str().expect("a UTF-8 path");
        let child = ns
            .command(python)
            .arg("-c")
            .arg(LISTENER)
            .args(ports)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting a listener: {e}"));
        let mut listener = Listener(child);
        let mut line = String::new();
        let stdout = listener.0.stdout.as_mut().expect("stdout is piped");
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("reading a listener: {e}"));
        assert_eq!(line, "ready\n", "a listener did not start");
        listener
    }

    /// Connects from the guest (`from_guest`) or the host to the other's
    /// `port`: `connected`, `timeout`, `silent` or `error N`.
    pub fn connect(&self, from_guest: bool, port: u16) -> String {
        let (ns, to) = if from_guest {
            (&self.guest, HOST_IP)
        } else {
            (&self.host, GUEST_IP)
        };
        let python = self.python.to_str().expect("a UTF-8 path");
        let out = ns
            .run(python, &["-c", CLIENT, to, &port.to_string(), "1.0"], None)
            .unwrap_or_else(|f| panic!("probe: {f}"));
        out.trim().to_owned()
    }

    /// The guest takes another IP address (10.0.0.6 for 10.0.0.5); both
    /// sides forget their neighbours.
    pub fn spoof_ip(&self, ip: &str) {
        self.guest
            .sh(&format!(
                "ip addr flush dev eth0 && ip addr add {ip}/24 dev eth0 && ip neigh flush all"
            ))
            .unwrap_or_else(|f| panic!("{f}"));
        self.host
            .sh("ip neigh flush all")
            .unwrap_or_else(|f| panic!("{f}"));
    }

    /// The guest takes another MAC address; both sides forget their
    /// neighbours (and the bridge the old address).
    pub fn spoof_mac(&self, mac: &str) {
        self.guest
            .sh(&format!(
                "ip link set eth0 down && ip link set eth0 address {mac} && \
                 ip link set eth0 up && ip neigh flush all"
            ))
            .unwrap_or_else(|f| panic!("{f}"));
        self.host
            .sh("ip neigh flush all && bridge fdb flush dev vnet0 2>/dev/null; true")
            .unwrap_or_else(|f| panic!("{f}"));
    }
}

/// The `python3` to run: the system one if present, else `PATH`'s.
fn python() -> Option<PathBuf> {
    let system = PathBuf::from("/usr/bin/python3");
    if system.is_file() {
        Some(system)
    } else {
        crate::netns::which("python3")
    }
}

/// Whether the kernel tracks connections in the bridge family
/// (`CONFIG_NF_CONNTRACK_BRIDGE`), which nwfilter's state matches (`ct
/// state`, `ct direction`, `ct count`) in `bridge` tables need: without it
/// nft refuses them ("Protocol error"). Tried in a throwaway table of `ns`.
pub fn bridge_conntrack(ns: &crate::netns::Netns) -> bool {
    let probe =
        "table bridge fwc_ct_probe {\n\tchain c {\n\t\tct state established accept\n\t}\n}\n";
    let ok = ns.nft_load(probe).is_ok();
    // Only there if the load worked; nothing to do if deleting fails.
    let _ = ns.run("nft", &["delete", "table", "bridge", "fwc_ct_probe"], None);
    ok
}
