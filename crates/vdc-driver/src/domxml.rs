//! libvirt domain XML (`virsh dumpxml`, `virsh define` input): the reader that turns one
//! `<domain>` document into a [`DomainXml`] summary — identity, hypervisor type, guest arch,
//! vCPUs, memory, disks and NICs — without a libvirt connection.
//!
//! This module owns [`parse_domain_xml`] and its error type [`DomainXmlError`]. It serves
//! `vdc inspect libvirt-xml` and the libvirt driver (reading `virsh dumpxml` output). It reads
//! only what vdc needs and ignores everything else; what it requires, libvirt requires too.
//!
//! # What is read, and the defaults
//!
//! Elements are looked up as libvirt's own XPath does: direct children, in the root element's
//! namespace (none, for real documents). Extension elements in other namespaces (`test:`,
//! `qemu:`, `libosinfo:` metadata, a test-driver `<test:domainsnapshot>` with a nested
//! `<domain>`) are therefore never mistaken for the domain's own.
//!
//! - `name` (required, trimmed, non-empty), `type` attribute of `<domain>` (required).
//! - `uuid` and `<os><type arch=…>`: optional, as written.
//! - `vcpu`: the value of `<vcpu>` (the maximum; `current=` is ignored). **Absent or empty
//!   means 1**, as in libvirt; the libvirt test driver's own definitions omit it. Zero is an
//!   error (libvirt refuses a domain without vCPUs).
//! - `memory`: `<memory unit=…>`, a libvirt scaled integer (see below). As libvirt does, when
//!   `<memory>` is absent, empty or 0 the size is the sum of the guest NUMA cells
//!   (`<cpu><numa><cell memory=… unit=…>`) plus any memory devices
//!   (`<devices><memory><target><size>`). With neither, the document is refused.
//! - disks: every `<devices><disk>`; nics: every `<devices><interface>`. See [`DomainDisk`]
//!   and [`DomainNic`] for how their `<source>` is summarised.
//! - the guest OS: `<metadata><libosinfo:libosinfo><libosinfo:os id=…>`, optional.
//!
//! # Units
//!
//! Sizes are libvirt scaled integers: an unsigned decimal number and an optional `unit`
//! attribute (default KiB), with libvirt's `virScaleInteger` rules: `b`, `byte`, `bytes`;
//! `KB`, `MB`, `GB`, `TB`, `PB`, `EB` are powers of 1000; `k`/`KiB`, `M`/`MiB`, `G`/`GiB`,
//! `T`/`TiB`, `P`/`PiB`, `E`/`EiB` are powers of 1024; letters are case-insensitive, as in
//! libvirt. Anything else is [`DomainXmlError::UnknownUnit`]. A size over 2⁶⁴ − 1 bytes is
//! refused as too large. [`DomainXml::memory_mib`] is the byte count **rounded to the
//! nearest MiB, halves up** (so 1536 KiB is 2 MiB and 1 GB = 953.67 MiB is 954 MiB).
//!
//! The parser never panics, whatever the input (a property test feeds it random and mutated
//! documents). DTDs are refused by `roxmltree`, so entity expansion cannot blow up; elements
//! nested deeper than [`MAX_DEPTH`] levels are refused before `roxmltree` (which recurses per
//! level) sees them, so a hostile document cannot overflow the stack.

use roxmltree::Node;
use serde::Serialize;

/// The deepest element nesting accepted: libxml2's default, so libvirt refuses deeper
/// documents too. Real domain XML nests about 6 levels.
pub const MAX_DEPTH: usize = 256;

/// XML namespace of libosinfo's element in a domain's `<metadata>`.
pub const LIBOSINFO_NS: &str = "http://libosinfo.org/xmlns/libvirt/domain/1.0";

/// What vdc reads from one libvirt `<domain>` document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DomainXml {
    /// `<name>`, trimmed.
    pub name: String,
    /// `<domain type=…>`: `kvm`, `qemu`, `xen`, `lxc`, `test`, `bhyve`, `vz`, `hvf`, …
    pub domain_type: String,
    /// `<os><type arch=…>`, e.g. `x86_64`; `None` when the document does not say.
    pub arch: Option<String>,
    /// `<uuid>` as written (trimmed); `None` when absent.
    pub uuid: Option<String>,
    /// The `<vcpu>` element's value (maximum vCPUs); 1 when absent, as in libvirt.
    pub vcpus: u32,
    /// Memory in MiB, rounded to the nearest MiB (see the module docs for units and the NUMA
    /// fallback).
    pub memory_mib: u64,
    /// `<devices><disk>` in document order.
    pub disks: Vec<DomainDisk>,
    /// `<devices><interface>` in document order.
    pub nics: Vec<DomainNic>,
    /// The libosinfo id in `<metadata>` (`<libosinfo:os id=…>`, as virt-install and
    /// virt-manager write it), e.g. `http://debian.org/debian/12`.
    pub os_id: Option<String>,
}

/// One `<devices><disk>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DomainDisk {
    /// `device=`: `disk` (libvirt's default when absent), `cdrom`, `floppy` or `lun`.
    pub device: String,
    /// `<target dev=…>`, e.g. `vda`.
    pub target: Option<String>,
    /// `<driver type=…>`, e.g. `qcow2`, `raw`.
    pub format: Option<String>,
    /// A readable summary of `<source>`, the first that applies:
    /// - `file=`, `dev=` or `dir=` as written;
    /// - a storage volume as `pool/volume` (just `volume` without a pool);
    /// - a network disk as a URL built from `protocol=`, the first `<host>` and `name=`
    ///   (`rbd://mon1.example.org:6789/pool/image`, `http://[::1]:80/path?query`), as
    ///   `protocol+unix:///name?socket=/path` for a UNIX-socket host, or `protocol:name`
    ///   without a host;
    /// - an NVMe disk as `nvme pci DDDD:BB:SS.F namespace N`;
    /// - `path=` (vhost-user) or `name=`;
    /// - a PCI `<address>` child as `pci DDDD:BB:SS.F`.
    ///
    /// `None` for an empty drive (no `<source>`, or one with none of these, such as a cdrom
    /// with only `startupPolicy=`).
    pub source: Option<String>,
}

/// One `<devices><interface>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DomainNic {
    /// `<mac address=…>`; `None` when libvirt is left to generate it.
    pub mac: Option<String>,
    /// `<model type=…>`, e.g. `virtio`, `e1000`.
    pub model: Option<String>,
    /// What `<source>` names, the first that applies: `network=`, `bridge=`, `dev=`
    /// (direct/macvtap, vdpa), `path=` (vhost-user), `name=`, `address:port` (udp, mcast,
    /// server, client), or a PCI `<address>` child as `pci DDDD:BB:SS.F` (hostdev).
    /// `None` for `user` and `ethernet` interfaces, which have no source.
    pub source: Option<String>,
    /// `<interface type=…>`: `network`, `bridge`, `direct`, `user`, `ethernet`, `hostdev`,
    /// `vhostuser`, `vdpa`, …
    pub kind: String,
}

/// Why a text could not be read as a libvirt domain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainXmlError {
    /// Not well-formed XML (or it has a DTD). The message is roxmltree's, always with the
    /// line and column (the end of the input for a document that stops too early).
    #[error("malformed XML: {}", xml_message(error, *line, *column))]
    Xml {
        error: roxmltree::Error,
        /// 1-based line of the error.
        line: u32,
        /// 1-based column (in characters) of the error.
        column: u32,
    },
    /// Elements nested deeper than [`MAX_DEPTH`] levels.
    #[error("malformed XML: elements nested deeper than {limit} levels")]
    TooDeep {
        /// [`MAX_DEPTH`].
        limit: usize,
    },
    /// Well-formed XML whose root is not `<domain>`, e.g. host `<capabilities>` or
    /// `<domainCapabilities>`.
    #[error("not a domain document: root is <{root}>")]
    NotADomain {
        /// The root element's name.
        root: String,
    },
    /// A required element is absent (or empty). `memory` is only reported when NUMA cells
    /// and memory devices give no size either.
    #[error("domain XML lacks <{element}>")]
    MissingElement {
        /// Path from `<domain>`, e.g. `name`.
        element: &'static str,
    },
    /// A required attribute is absent.
    #[error("domain XML lacks attribute {attribute}= of <{element}>")]
    MissingAttribute {
        /// Path from the document root, e.g. `domain` or `devices/interface`.
        element: &'static str,
        attribute: &'static str,
    },
    /// A number that cannot be used.
    #[error("invalid value {value:?} in <{element}>: {reason}")]
    BadValue {
        /// Path from `<domain>`, e.g. `memory`, `vcpu`, `cpu/numa/cell@memory`.
        element: String,
        /// The offending text (cut to 64 characters).
        value: String,
        reason: &'static str,
    },
    /// A `unit` attribute libvirt does not know.
    #[error(
        "unknown unit {unit:?} in <{element}> (libvirt knows b, bytes, KB, k, KiB, MB, M, MiB, \
         GB, G, GiB, TB, T, TiB, PB, P, PiB, EB, E, EiB)"
    )]
    UnknownUnit {
        /// Path from `<domain>`, e.g. `memory`.
        element: String,
        /// The unit as written (cut to 64 characters).
        unit: String,
    },
}

/// A roxmltree error with its position; errors roxmltree reports without one (the input
/// ended too early) are placed at the end of the input.
fn xml_error(xml: &str, error: roxmltree::Error) -> DomainXmlError {
    let (line, column) = match error {
        roxmltree::Error::NoRootNode
        | roxmltree::Error::UnclosedRootNode
        | roxmltree::Error::UnexpectedEndOfStream => {
            let line = xml.matches('\n').count() + 1;
            let last = xml.rsplit('\n').next().unwrap_or("");
            let column = last.chars().count() + 1;
            (
                u32::try_from(line).unwrap_or(u32::MAX),
                u32::try_from(column).unwrap_or(u32::MAX),
            )
        }
        _ => {
            let pos = error.pos();
            (pos.row, pos.col)
        }
    };
    DomainXmlError::Xml {
        error,
        line,
        column,
    }
}

/// roxmltree's message, with the `line:column` position added when it lacks it (e.g. "the
/// root node was opened but never closed").
fn xml_message(error: &roxmltree::Error, line: u32, column: u32) -> String {
    let msg = error.to_string();
    let pos = format!("{line}:{column}");
    if msg.contains(&pos) {
        msg
    } else {
        format!("{msg} at {pos}")
    }
}

/// Parses one libvirt domain XML document (root `<domain>`).
///
/// See the module docs for what is read, the defaults (`vcpu` 1, memory from NUMA cells) and
/// the units. Never panics.
pub fn parse_domain_xml(xml: &str) -> Result<DomainXml, DomainXmlError> {
    if nesting_exceeds(xml, MAX_DEPTH) {
        return Err(DomainXmlError::TooDeep { limit: MAX_DEPTH });
    }
    let doc = roxmltree::Document::parse(xml).map_err(|e| xml_error(xml, e))?;
    let root = doc.root_element();
    if root.tag_name().name() != "domain" {
        return Err(DomainXmlError::NotADomain {
            root: root.tag_name().name().to_string(),
        });
    }
    let d = Scope {
        ns: root.tag_name().namespace(),
    };

    let name = d
        .child(root, "name")
        .map(text)
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .ok_or(DomainXmlError::MissingElement { element: "name" })?;
    let domain_type = root
        .attribute("type")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(DomainXmlError::MissingAttribute {
            element: "domain",
            attribute: "type",
        })?
        .to_string();
    let uuid = d
        .child(root, "uuid")
        .map(text)
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    let arch = d
        .child(root, "os")
        .and_then(|os| d.child(os, "type"))
        .and_then(|t| t.attribute("arch"))
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string);
    let vcpus = parse_vcpus(d, root)?;
    let memory_mib = bytes_to_mib(memory_bytes(d, root)?);

    let devices: Vec<Node<'_, '_>> = d.children(root, "devices").collect();
    let disks = devices
        .iter()
        .flat_map(|dev| d.children(*dev, "disk"))
        .map(|n| parse_disk(d, n))
        .collect();
    let nics = devices
        .iter()
        .flat_map(|dev| d.children(*dev, "interface"))
        .map(|n| parse_nic(d, n))
        .collect::<Result<_, _>>()?;

    let os_id = d
        .child(root, "metadata")
        .into_iter()
        .flat_map(|m| m.children())
        .filter(|n| n.tag_name().namespace() == Some(LIBOSINFO_NS))
        .flat_map(|n| n.children())
        .find(|n| n.tag_name().name() == "os" && n.tag_name().namespace() == Some(LIBOSINFO_NS))
        .and_then(|os| attr(os, "id"));

    Ok(DomainXml {
        name,
        domain_type,
        arch,
        uuid,
        vcpus,
        memory_mib,
        disks,
        nics,
        os_id,
    })
}

/// Whether elements in `xml` nest deeper than `limit`, by a scan that skips what `roxmltree`
/// skips without recursing (comments, CDATA, processing instructions, quoted attribute
/// values), so it never counts fewer levels than `roxmltree` would descend. On malformed
/// input it may count more; such input fails anyway.
fn nesting_exceeds(xml: &str, limit: usize) -> bool {
    let b = xml.as_bytes();
    // The index just past the first `pat` at or after `from`, or the end of the input.
    let skip_past = |from: usize, pat: &[u8]| -> usize {
        b.get(from..)
            .and_then(|rest| rest.windows(pat.len()).position(|w| w == pat))
            .map_or(b.len(), |p| from + p + pat.len())
    };
    let mut i = 0;
    let mut depth = 0usize;
    while let Some(off) = b
        .get(i..)
        .and_then(|rest| rest.iter().position(|&c| c == b'<'))
    {
        i += off;
        let rest = b.get(i..).unwrap_or_default();
        if rest.starts_with(b"<!--") {
            i = skip_past(i + 4, b"-->");
        } else if rest.starts_with(b"<![CDATA[") {
            i = skip_past(i + 9, b"]]>");
        } else if rest.starts_with(b"<?") {
            i = skip_past(i + 2, b"?>");
        } else if rest.starts_with(b"</") {
            depth = depth.saturating_sub(1);
            i = skip_past(i + 2, b">");
        } else if rest.starts_with(b"<!") {
            i = skip_past(i + 2, b">");
        } else {
            // A start tag: its end is the first `>` outside quotes.
            let mut quote = None;
            let mut end = None;
            for (j, &c) in rest.iter().enumerate().skip(1) {
                match quote {
                    Some(q) if c == q => quote = None,
                    Some(_) => {}
                    None if c == b'\'' || c == b'"' => quote = Some(c),
                    None if c == b'>' => {
                        end = Some(j);
                        break;
                    }
                    None => {}
                }
            }
            let self_closing = end.is_some_and(|j| rest.get(j - 1) == Some(&b'/'));
            if !self_closing {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            match end {
                Some(j) => i += j + 1,
                None => return false,
            }
        }
    }
    false
}

// ---------------------------------------------------------------------------------------------
// Numbers and units
// ---------------------------------------------------------------------------------------------

/// `<vcpu>`: absent or empty means 1 (libvirt's default); otherwise an integer ≥ 1.
fn parse_vcpus(d: Scope<'_>, root: Node<'_, '_>) -> Result<u32, DomainXmlError> {
    let Some(node) = d.child(root, "vcpu") else {
        return Ok(1);
    };
    let raw = text(node);
    let value = raw.trim();
    if value.is_empty() {
        return Ok(1);
    }
    let n: u32 = parse_unsigned("vcpu", value)?;
    if n == 0 {
        return Err(bad_value("vcpu", value, "a domain needs at least one vCPU"));
    }
    Ok(n)
}

/// The domain's memory in bytes: `<memory>`, else NUMA cells plus memory devices.
fn memory_bytes(d: Scope<'_>, root: Node<'_, '_>) -> Result<u128, DomainXmlError> {
    let mut stated_zero = false;
    if let Some(node) = d.child(root, "memory") {
        let raw = text(node);
        let value = raw.trim();
        if !value.is_empty() {
            let bytes = scaled_bytes("memory", value, node.attribute("unit"))?;
            if bytes > 0 {
                return Ok(bytes);
            }
            stated_zero = true;
        }
    }
    // libvirt: without <memory>, the NUMA cells (plus hot-pluggable memory devices) size
    // the guest.
    let mut numa: u128 = 0;
    for cell in d
        .child(root, "cpu")
        .and_then(|cpu| d.child(cpu, "numa"))
        .into_iter()
        .flat_map(|numa| d.children(numa, "cell"))
    {
        if let Some(v) = cell.attribute("memory") {
            numa = numa.saturating_add(scaled_bytes(
                "cpu/numa/cell@memory",
                v.trim(),
                cell.attribute("unit"),
            )?);
        }
    }
    if numa == 0 {
        return Err(if stated_zero {
            bad_value(
                "memory",
                "0",
                "a domain needs memory (here or in its NUMA cells)",
            )
        } else {
            DomainXmlError::MissingElement { element: "memory" }
        });
    }
    let mut total = numa;
    for size in d
        .children(root, "devices")
        .flat_map(|dev| d.children(dev, "memory"))
        .filter_map(|m| d.child(m, "target"))
        .filter_map(|t| d.child(t, "size"))
    {
        let raw = text(size);
        total = total.saturating_add(scaled_bytes(
            "devices/memory/target/size",
            raw.trim(),
            size.attribute("unit"),
        )?);
    }
    if total > u128::from(u64::MAX) {
        return Err(bad_value(
            "memory",
            &total.to_string(),
            "NUMA cells and memory devices add up to more than 2^64 - 1 bytes",
        ));
    }
    Ok(total)
}

/// A libvirt scaled integer in bytes (see the module docs); `unit` absent or empty means KiB.
fn scaled_bytes(element: &str, value: &str, unit: Option<&str>) -> Result<u128, DomainXmlError> {
    let n: u64 = parse_unsigned(element, value)?;
    let unit = unit.unwrap_or("");
    let Some(scale) = unit_scale(unit) else {
        return Err(DomainXmlError::UnknownUnit {
            element: element.to_string(),
            unit: cut(unit),
        });
    };
    let bytes = u128::from(n) * u128::from(scale);
    if bytes > u128::from(u64::MAX) {
        return Err(bad_value(
            element,
            value,
            "more than 2^64 - 1 bytes in this unit",
        ));
    }
    Ok(bytes)
}

/// Bytes per unit, as libvirt's `virScaleInteger` (empty = KiB, the domain XML default).
fn unit_scale(unit: &str) -> Option<u64> {
    let lower = unit.to_ascii_lowercase();
    if lower.is_empty() {
        return Some(1024);
    }
    if matches!(lower.as_str(), "b" | "byte" | "bytes") {
        return Some(1);
    }
    let mut chars = lower.chars();
    let prefix = chars.next()?;
    let rest = chars.as_str();
    let base: u64 = match rest {
        "" | "ib" => 1024,
        "b" => 1000,
        _ => return None,
    };
    let power = match prefix {
        'k' => 1,
        'm' => 2,
        'g' => 3,
        't' => 4,
        'p' => 5,
        'e' => 6,
        _ => return None,
    };
    base.checked_pow(power)
}

/// MiB, rounded to the nearest, halves up.
fn bytes_to_mib(bytes: u128) -> u64 {
    const MIB: u128 = 1 << 20;
    // `bytes` ≤ 2^64 - 1, so this cannot overflow and the quotient fits in u64.
    u64::try_from((bytes + MIB / 2) / MIB).unwrap_or(u64::MAX)
}

/// An unsigned decimal integer: ASCII digits only (no sign, no spaces inside).
fn parse_unsigned<T: std::str::FromStr>(element: &str, value: &str) -> Result<T, DomainXmlError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad_value(element, value, "not an unsigned decimal integer"));
    }
    value
        .parse()
        .map_err(|_| bad_value(element, value, "too large"))
}

fn bad_value(element: &str, value: &str, reason: &'static str) -> DomainXmlError {
    DomainXmlError::BadValue {
        element: element.to_string(),
        value: cut(value),
        reason,
    }
}

/// At most 64 characters of `s`, for error messages.
fn cut(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Devices
// ---------------------------------------------------------------------------------------------

fn parse_disk(d: Scope<'_>, disk: Node<'_, '_>) -> DomainDisk {
    let device = attr(disk, "device").unwrap_or_else(|| "disk".to_string());
    let target = d.child(disk, "target").and_then(|t| attr(t, "dev"));
    let format = d.child(disk, "driver").and_then(|t| attr(t, "type"));
    let source = d
        .child(disk, "source")
        .and_then(|s| disk_source(d, disk, s));
    DomainDisk {
        device,
        target,
        format,
        source,
    }
}

fn disk_source(d: Scope<'_>, disk: Node<'_, '_>, s: Node<'_, '_>) -> Option<String> {
    if let Some(v) = attr(s, "file")
        .or_else(|| attr(s, "dev"))
        .or_else(|| attr(s, "dir"))
    {
        return Some(v);
    }
    if let Some(volume) = attr(s, "volume") {
        return Some(match attr(s, "pool") {
            Some(pool) => format!("{pool}/{volume}"),
            None => volume,
        });
    }
    if let Some(protocol) = attr(s, "protocol") {
        return Some(network_source(d, s, &protocol));
    }
    if disk.attribute("type") == Some("nvme") {
        let mut out = String::from("nvme");
        if let Some(addr) = d.child(s, "address") {
            out.push(' ');
            out.push_str(&pci_address(addr));
        }
        if let Some(ns) = attr(s, "namespace") {
            out.push_str(" namespace ");
            out.push_str(&ns);
        }
        return Some(out);
    }
    if let Some(v) = attr(s, "path").or_else(|| attr(s, "name")) {
        return Some(v);
    }
    d.child(s, "address").map(pci_address)
}

/// A network disk's source as a URL (see [`DomainDisk::source`]).
fn network_source(d: Scope<'_>, s: Node<'_, '_>, protocol: &str) -> String {
    let name = attr(s, "name");
    let path = name.as_deref().unwrap_or("").trim_start_matches('/');
    let query = attr(s, "query");
    let host = d.child(s, "host");
    if let Some(hostname) = host.and_then(|h| attr(h, "name")) {
        let mut url = format!("{protocol}://");
        if hostname.contains(':') && !hostname.starts_with('[') {
            url.push_str(&format!("[{hostname}]"));
        } else {
            url.push_str(&hostname);
        }
        if let Some(port) = host.and_then(|h| attr(h, "port")) {
            url.push(':');
            url.push_str(&port);
        }
        url.push('/');
        url.push_str(path);
        if let Some(q) = query {
            url.push('?');
            url.push_str(&q);
        }
        return url;
    }
    if let Some(socket) = host.and_then(|h| attr(h, "socket")) {
        return format!("{protocol}+unix:///{path}?socket={socket}");
    }
    match name {
        Some(name) => format!("{protocol}:{name}"),
        None => protocol.to_string(),
    }
}

fn parse_nic(d: Scope<'_>, nic: Node<'_, '_>) -> Result<DomainNic, DomainXmlError> {
    let kind = attr(nic, "type").ok_or(DomainXmlError::MissingAttribute {
        element: "devices/interface",
        attribute: "type",
    })?;
    let mac = d.child(nic, "mac").and_then(|m| attr(m, "address"));
    let model = d.child(nic, "model").and_then(|m| attr(m, "type"));
    let source = d.child(nic, "source").and_then(|s| nic_source(d, s));
    Ok(DomainNic {
        mac,
        model,
        source,
        kind,
    })
}

fn nic_source(d: Scope<'_>, s: Node<'_, '_>) -> Option<String> {
    for key in ["network", "bridge", "dev", "path", "name"] {
        if let Some(v) = attr(s, key) {
            return Some(v);
        }
    }
    if let Some(address) = attr(s, "address") {
        return Some(match attr(s, "port") {
            Some(port) => format!("{address}:{port}"),
            None => address,
        });
    }
    d.child(s, "address").map(pci_address)
}

/// `pci DDDD:BB:SS.F` from an `<address domain= bus= slot= function=>` (decimal or `0x` hex);
/// the attributes as written when they are not numbers.
fn pci_address(a: Node<'_, '_>) -> String {
    let num = |key: &str| -> Option<u32> {
        let v = a.attribute(key).unwrap_or("0").trim();
        match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => v.parse().ok(),
        }
    };
    match (num("domain"), num("bus"), num("slot"), num("function")) {
        (Some(dom), Some(bus), Some(slot), Some(func)) => {
            format!("pci {dom:04x}:{bus:02x}:{slot:02x}.{func:x}")
        }
        _ => {
            let attrs: Vec<String> = a
                .attributes()
                .map(|at| format!("{}={}", at.name(), at.value()))
                .collect();
            format!("address {}", attrs.join(" "))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tree helpers
// ---------------------------------------------------------------------------------------------

/// Element lookup in the domain's namespace (none for real documents), like libvirt's XPath.
#[derive(Clone, Copy)]
struct Scope<'s> {
    ns: Option<&'s str>,
}

impl<'s> Scope<'s> {
    fn is<'a, 'input: 'a>(&self, n: Node<'a, 'input>, name: &str) -> bool {
        n.is_element() && n.tag_name().name() == name && n.tag_name().namespace() == self.ns
    }

    fn children<'a, 'input: 'a>(
        self,
        parent: Node<'a, 'input>,
        name: &'static str,
    ) -> impl Iterator<Item = Node<'a, 'input>> + use<'a, 'input, 's> {
        parent.children().filter(move |n| self.is(*n, name))
    }

    fn child<'a, 'input: 'a>(
        self,
        parent: Node<'a, 'input>,
        name: &'static str,
    ) -> Option<Node<'a, 'input>> {
        parent.children().find(|n| self.is(*n, name))
    }
}

/// All text under `node`, as XPath `string()` gives it (comments and elements skipped).
fn text(node: Node<'_, '_>) -> String {
    node.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect()
}

/// A non-empty attribute, trimmed.
fn attr(node: Node<'_, '_>, name: &str) -> Option<String> {
    node.attribute(name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}
