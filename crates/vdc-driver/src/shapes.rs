//! Host hardware shapes: what a hypervisor host is made of (CPU model, vendor, features,
//! topology, memory, NUMA cells), independent of any one host's identity.
//!
//! This module owns three things:
//! - [`from_capabilities_xml`]: reads libvirt `virsh capabilities` XML;
//! - [`from_rvtools_vhost_csv`]: reads the vHost sheet of an RVTools (VMware) export as CSV;
//! - [`builtin_shapes`]: a small table of real hardware the simulator ([`crate::sim`]) builds
//!   its hosts from. The table only transcribes hardware facts from test fixtures; nothing here
//!   reads a file at run time. The integration tests parse the fixtures and compare, so the
//!   table cannot drift from its sources.
//!
//! # Topology
//!
//! libvirt's `<host><cpu><topology sockets=…>` has meant "sockets per NUMA cell" in some libvirt
//! versions and "sockets per host" in others, and it folds dies and clusters into separate
//! attributes. The parser therefore trusts the per-CPU facts under
//! `host/topology/cells/cell/cpus/cpu` first and uses the attributes only as a fallback:
//!
//! 1. The logical CPU count is the sum of the CPUs of all NUMA cells, when cells are listed.
//! 2. When every listed CPU carries `socket_id` and `siblings`: sockets = distinct `socket_id`s,
//!    physical cores = distinct sibling sets, threads per core = logical CPUs / physical cores,
//!    cores per socket = physical cores / sockets.
//! 3. Otherwise from the `<topology>` attributes, with `dies × clusters × cores` counted as
//!    cores per socket, adjusted until `sockets × cores_per_socket × threads_per_core` equals
//!    the logical CPU count: first as given, then with sockets counted per NUMA cell, then
//!    with sockets = logical / (cores × threads), then as one socket of `logical / threads`
//!    cores, and last as one socket of `logical` single-threaded cores.
//!
//! So whenever the XML lists CPUs, `sockets × cores_per_socket × threads_per_core` is the
//! number of logical CPUs the host really has.
//!
//! # Memory
//!
//! Total memory is the sum of the NUMA cells' memory, each converted to MiB (rounded down).
//! Capabilities XML carries no other memory figure; without one, parsing fails with
//! [`ShapeError::NoMemory`] (see [`from_capabilities_xml_assuming_memory`]).

use std::collections::{BTreeSet, HashMap};
use std::io::Read;

use vdc_types::HypervisorType;

use crate::{CpuTopology, NumaCell};

/// The hardware of one kind of host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostShape {
    /// Where the shape came from: `"<hypervisor> <arch> <cpu model>"` for capabilities XML,
    /// the `Host` column for RVTools rows.
    pub label: String,
    pub hypervisor: HypervisorType,
    /// Empty when the source does not say (capabilities XML never does).
    pub hypervisor_version: String,
    /// e.g. `Intel`, `AMD`, `ARM`; empty when the source does not say.
    pub cpu_vendor: String,
    /// e.g. `Skylake-Client-noTSX-IBRS`; empty when the source does not say.
    pub cpu_model: String,
    pub cpu_features: Vec<String>,
    pub topology: CpuTopology,
    pub memory_mib: u64,
    pub numa_cells: Vec<NumaCell>,
}

/// Why a capabilities XML file or an RVTools sheet could not be read as host shapes.
#[derive(Debug, thiserror::Error)]
pub enum ShapeError {
    /// The capabilities text is not well-formed XML.
    #[error("capabilities XML is not well-formed: {0}")]
    Xml(#[from] roxmltree::Error),
    /// The XML's root is not `<capabilities>`.
    #[error(
        "expected root element <capabilities>, found <{found}> (domcapabilities XML is a different document)"
    )]
    WrongRoot { found: String },
    /// A required element is absent.
    #[error("capabilities XML lacks {path}")]
    MissingElement { path: &'static str },
    /// An element or attribute has a value that cannot be used.
    #[error("capabilities XML: {path} has invalid value {value:?}: {reason}")]
    BadValue {
        path: String,
        value: String,
        reason: String,
    },
    /// No NUMA cell states its memory, so the host's memory is unknown.
    #[error(
        "capabilities XML carries no memory figure (no host/topology/cells/cell/memory element)"
    )]
    NoMemory,
    /// The guest domain types name no hypervisor vdc knows.
    #[error(
        "unsupported hypervisor: guest domain types {found:?} (vdc knows kvm, qemu, xen, lxc, hyperv, vmware, test)"
    )]
    UnsupportedHypervisor { found: Vec<String> },
    /// The CSV itself could not be read.
    #[error("RVTools vHost CSV: {0}")]
    Csv(#[from] csv::Error),
    /// A column the parser needs is not in the header row.
    #[error("RVTools vHost CSV lacks column {column:?}")]
    MissingColumn { column: &'static str },
    /// A cell holds a value that cannot be used.
    #[error("RVTools vHost CSV line {line}, column {column:?}: invalid value {value:?}: {reason}")]
    BadCell {
        line: u64,
        column: &'static str,
        value: String,
        reason: String,
    },
}

// ---------------------------------------------------------------------------------------------
// libvirt capabilities XML
// ---------------------------------------------------------------------------------------------

/// Parses libvirt `virsh capabilities` XML (root `<capabilities>`) into a host shape.
///
/// See the module docs for how topology and memory are derived. The hypervisor comes from the
/// guests' `<domain type=…>`: `kvm` if any guest offers it, else `xen`, `lxc`, `hyperv`,
/// `vmware` (→ ESX), `qemu`, `test`, in that order. The hypervisor version is left empty:
/// capabilities XML does not carry it.
pub fn from_capabilities_xml(xml: &str) -> Result<HostShape, ShapeError> {
    parse_capabilities(xml, None)
}

/// Like [`from_capabilities_xml`], but when the XML states no memory at all (some test
/// fixtures and very old libvirt list NUMA cells without `<memory>`), uses `memory_mib` as the
/// host's memory instead of failing, split evenly over the NUMA cells (any remainder to the
/// first). Memory figures in the XML always win over `memory_mib`.
pub fn from_capabilities_xml_assuming_memory(
    xml: &str,
    memory_mib: u64,
) -> Result<HostShape, ShapeError> {
    parse_capabilities(xml, Some(memory_mib))
}

/// One `<cpu>` under a NUMA cell.
struct CellCpu {
    socket_id: Option<String>,
    siblings: Option<BTreeSet<u32>>,
}

fn parse_capabilities(xml: &str, assumed_memory_mib: Option<u64>) -> Result<HostShape, ShapeError> {
    let doc = roxmltree::Document::parse(xml)?;
    let root = doc.root_element();
    if root.tag_name().name() != "capabilities" {
        return Err(ShapeError::WrongRoot {
            found: root.tag_name().name().to_string(),
        });
    }
    let host = child(root, "host").ok_or(ShapeError::MissingElement { path: "host" })?;
    let cpu = child(host, "cpu").ok_or(ShapeError::MissingElement { path: "host/cpu" })?;
    let arch = child_text(cpu, "arch").ok_or(ShapeError::MissingElement {
        path: "host/cpu/arch",
    })?;
    let cpu_model = child_text(cpu, "model").unwrap_or_default();
    let cpu_vendor = child_text(cpu, "vendor").unwrap_or_default();
    let cpu_features: Vec<String> = children(cpu, "feature")
        .filter_map(|f| f.attribute("name"))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();

    let hypervisor = parse_hypervisor(root)?;

    // NUMA cells: id, memory, CPUs.
    let mut numa_cells = Vec::new();
    let mut cell_cpus: Vec<CellCpu> = Vec::new();
    let mut any_memory = false;
    let cells = child(host, "topology").and_then(|t| child(t, "cells"));
    if let Some(cells) = cells {
        for (index, cell) in children(cells, "cell").enumerate() {
            let id = match cell.attribute("id") {
                Some(v) => parse_num::<u32>("host/topology/cells/cell@id", v)?,
                None => u32::try_from(index).unwrap_or(u32::MAX),
            };
            let memory_mib = match child(cell, "memory") {
                Some(m) => {
                    any_memory = true;
                    memory_to_mib(m)?
                }
                None => 0,
            };
            let mut cpus = 0u32;
            if let Some(cpus_el) = child(cell, "cpus") {
                let listed: Vec<_> = children(cpus_el, "cpu").collect();
                if listed.is_empty() {
                    if let Some(num) = cpus_el.attribute("num") {
                        cpus = parse_num("host/topology/cells/cell/cpus@num", num)?;
                    }
                } else {
                    cpus = u32::try_from(listed.len()).unwrap_or(u32::MAX);
                    for c in listed {
                        let siblings = match c.attribute("siblings") {
                            Some(s) => Some(parse_cpu_list(s)?),
                            None => None,
                        };
                        cell_cpus.push(CellCpu {
                            socket_id: c.attribute("socket_id").map(str::to_string),
                            siblings,
                        });
                    }
                }
            }
            numa_cells.push(NumaCell {
                id,
                cpus,
                memory_mib,
            });
        }
    }

    if !any_memory {
        let Some(total) = assumed_memory_mib else {
            return Err(ShapeError::NoMemory);
        };
        let n = numa_cells.len() as u64;
        if let (Some(share), Some(rest)) = (total.checked_div(n), total.checked_rem(n)) {
            for (i, cell) in numa_cells.iter_mut().enumerate() {
                cell.memory_mib = share + if i == 0 { rest } else { 0 };
            }
        }
    }
    let memory_mib = if any_memory || !numa_cells.is_empty() {
        numa_cells.iter().map(|c| c.memory_mib).sum()
    } else {
        assumed_memory_mib.unwrap_or(0)
    };

    let logical: u32 = numa_cells.iter().map(|c| c.cpus).sum();
    let topology = derive_topology(cpu, logical, numa_cells.len(), &cell_cpus)?;

    let label = if cpu_model.is_empty() {
        format!("{hypervisor} {arch}")
    } else {
        format!("{hypervisor} {arch} {cpu_model}")
    };
    Ok(HostShape {
        label,
        hypervisor,
        hypervisor_version: String::new(),
        cpu_vendor,
        cpu_model,
        cpu_features,
        topology,
        memory_mib,
        numa_cells,
    })
}

/// The hypervisor the guests' domain types point to.
fn parse_hypervisor(root: roxmltree::Node<'_, '_>) -> Result<HypervisorType, ShapeError> {
    let types: Vec<String> = children(root, "guest")
        .flat_map(|g| children(g, "arch"))
        .flat_map(|a| children(a, "domain"))
        .filter_map(|d| d.attribute("type"))
        .map(|t| t.trim().to_ascii_lowercase())
        .collect();
    if types.is_empty() {
        return Err(ShapeError::MissingElement {
            path: "guest/arch/domain",
        });
    }
    let has = |t: &str| types.iter().any(|x| x == t);
    let order = [
        ("kvm", HypervisorType::Kvm),
        ("xen", HypervisorType::Xen),
        ("lxc", HypervisorType::Lxc),
        ("hyperv", HypervisorType::Hyperv),
        ("vmware", HypervisorType::Esx),
        ("qemu", HypervisorType::Qemu),
        ("test", HypervisorType::Test),
    ];
    for (name, hv) in order {
        if has(name) {
            return Ok(hv);
        }
    }
    let mut found = types;
    found.sort();
    found.dedup();
    Err(ShapeError::UnsupportedHypervisor { found })
}

/// The host's CPU topology; see the module docs.
fn derive_topology(
    cpu: roxmltree::Node<'_, '_>,
    logical: u32,
    cell_count: usize,
    cell_cpus: &[CellCpu],
) -> Result<CpuTopology, ShapeError> {
    // 2. Per-CPU facts.
    if logical > 0
        && cell_cpus.len() == logical as usize
        && cell_cpus
            .iter()
            .all(|c| c.socket_id.is_some() && c.siblings.is_some())
    {
        let sockets: BTreeSet<&str> = cell_cpus
            .iter()
            .filter_map(|c| c.socket_id.as_deref())
            .collect();
        let cores: BTreeSet<&BTreeSet<u32>> = cell_cpus
            .iter()
            .filter_map(|c| c.siblings.as_ref())
            .collect();
        let sockets = sockets.len() as u32;
        let cores = cores.len() as u32;
        if sockets > 0
            && cores > 0
            && logical.is_multiple_of(cores)
            && cores.is_multiple_of(sockets)
        {
            return Ok(CpuTopology::new(sockets, cores / sockets, logical / cores));
        }
    }

    // 3. The <topology> attributes.
    let attr = |name: &'static str| -> Result<Option<u32>, ShapeError> {
        match child(cpu, "topology").and_then(|t| t.attribute(name)) {
            Some(v) => {
                let n: u32 = parse_num(&format!("host/cpu/topology@{name}"), v)?;
                if n == 0 {
                    return Err(ShapeError::BadValue {
                        path: format!("host/cpu/topology@{name}"),
                        value: v.to_string(),
                        reason: "must be at least 1".into(),
                    });
                }
                Ok(Some(n))
            }
            None => Ok(None),
        }
    };
    let sockets = attr("sockets")?;
    let cores = attr("cores")?;
    let threads = attr("threads")?;
    let dies = attr("dies")?.unwrap_or(1);
    let clusters = attr("clusters")?.unwrap_or(1);

    let (Some(s), Some(c), Some(t)) = (sockets, cores, threads) else {
        if logical > 0 {
            return Ok(CpuTopology::new(1, logical, 1));
        }
        return Err(ShapeError::MissingElement {
            path: "host/cpu/topology",
        });
    };
    let cps = c.saturating_mul(dies).saturating_mul(clusters);
    if logical == 0 {
        return Ok(CpuTopology::new(s, cps, t));
    }
    let per_socket = cps.saturating_mul(t);
    let cells = u32::try_from(cell_count).unwrap_or(u32::MAX).max(1);
    if s.saturating_mul(per_socket) == logical {
        Ok(CpuTopology::new(s, cps, t))
    } else if s.saturating_mul(cells).saturating_mul(per_socket) == logical {
        Ok(CpuTopology::new(s * cells, cps, t))
    } else if logical.is_multiple_of(per_socket) {
        Ok(CpuTopology::new(logical / per_socket, cps, t))
    } else if logical.is_multiple_of(t) {
        Ok(CpuTopology::new(1, logical / t, t))
    } else {
        Ok(CpuTopology::new(1, logical, 1))
    }
}

/// A `<memory unit=…>` element in MiB, rounded down. libvirt's default unit is KiB.
fn memory_to_mib(node: roxmltree::Node<'_, '_>) -> Result<u64, ShapeError> {
    const PATH: &str = "host/topology/cells/cell/memory";
    let text = node.text().unwrap_or("").trim();
    let value: u64 = parse_num(PATH, text)?;
    let unit = node.attribute("unit").unwrap_or("KiB");
    let bytes_per_unit: u128 = match unit {
        "b" | "bytes" => 1,
        "KB" => 1_000,
        "k" | "KiB" => 1 << 10,
        "MB" => 1_000_000,
        "M" | "MiB" => 1 << 20,
        "GB" => 1_000_000_000,
        "G" | "GiB" => 1 << 30,
        "TB" => 1_000_000_000_000,
        "T" | "TiB" => 1 << 40,
        other => {
            return Err(ShapeError::BadValue {
                path: format!("{PATH}@unit"),
                value: other.to_string(),
                reason: "unknown unit".into(),
            });
        }
    };
    let mib = u128::from(value) * bytes_per_unit / (1 << 20);
    u64::try_from(mib).map_err(|_| ShapeError::BadValue {
        path: PATH.into(),
        value: text.to_string(),
        reason: "too large".into(),
    })
}

/// A libvirt CPU list such as `0-3,8,10-11`.
fn parse_cpu_list(s: &str) -> Result<BTreeSet<u32>, ShapeError> {
    const PATH: &str = "host/topology/cells/cell/cpus/cpu@siblings";
    let bad = |reason: &str| ShapeError::BadValue {
        path: PATH.into(),
        value: s.to_string(),
        reason: reason.to_string(),
    };
    let mut set = BTreeSet::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let a: u32 = a.trim().parse().map_err(|_| bad("not a CPU number"))?;
                let b: u32 = b.trim().parse().map_err(|_| bad("not a CPU number"))?;
                if b < a || b - a > 65_536 {
                    return Err(bad("bad CPU range"));
                }
                set.extend(a..=b);
            }
            None => {
                set.insert(part.parse().map_err(|_| bad("not a CPU number"))?);
            }
        }
    }
    if set.is_empty() {
        return Err(bad("empty CPU list"));
    }
    Ok(set)
}

fn parse_num<T: std::str::FromStr>(path: &str, value: &str) -> Result<T, ShapeError> {
    value.trim().parse().map_err(|_| ShapeError::BadValue {
        path: path.to_string(),
        value: value.to_string(),
        reason: "not a non-negative integer".into(),
    })
}

fn children<'a, 'input: 'a>(
    node: roxmltree::Node<'a, 'input>,
    name: &'static str,
) -> impl Iterator<Item = roxmltree::Node<'a, 'input>> {
    node.children()
        .filter(move |n| n.is_element() && n.tag_name().name() == name)
}

fn child<'a, 'input: 'a>(
    node: roxmltree::Node<'a, 'input>,
    name: &'static str,
) -> Option<roxmltree::Node<'a, 'input>> {
    children(node, name).next()
}

fn child_text(node: roxmltree::Node<'_, '_>, name: &'static str) -> Option<String> {
    child(node, name)
        .and_then(|n| n.text())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

// ---------------------------------------------------------------------------------------------
// RVTools vHost CSV
// ---------------------------------------------------------------------------------------------

/// Parses the vHost sheet of an RVTools export, saved as CSV with its header row, into one
/// shape per host row.
///
/// Columns are found by header name: `Host` (the label), `CPU Model`, `# CPU` (sockets),
/// `Cores per CPU`, `HT Active` (`True` → 2 threads per core, `False` → 1), `# Memory` (MiB),
/// and, when present, `ESX Version` (the hypervisor version; empty otherwise). The `Vendor`
/// column names the server maker, not the CPU's, so the CPU vendor is read from the model
/// string (`Intel`, `AMD`; empty otherwise). The sheet lists no CPU features and no NUMA
/// cells, so those stay empty. The hypervisor is ESX.
pub fn from_rvtools_vhost_csv<R: Read>(r: R) -> Result<Vec<HostShape>, ShapeError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(r);
    let headers: HashMap<String, usize> = reader
        .headers()?
        .iter()
        .enumerate()
        .map(|(i, h)| (h.trim_start_matches('\u{feff}').trim().to_string(), i))
        .collect();
    let column = |name: &'static str| -> Result<usize, ShapeError> {
        headers
            .get(name)
            .copied()
            .ok_or(ShapeError::MissingColumn { column: name })
    };
    let host_col = column("Host")?;
    let model_col = column("CPU Model")?;
    let sockets_col = column("# CPU")?;
    let cores_col = column("Cores per CPU")?;
    let ht_col = column("HT Active")?;
    let memory_col = column("# Memory")?;
    let version_col = headers.get("ESX Version").copied();

    let mut shapes = Vec::new();
    for record in reader.records() {
        let record = record?;
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let cell = |idx: usize, name: &'static str| -> Result<&str, ShapeError> {
            let v = record.get(idx).map(str::trim).unwrap_or("");
            if v.is_empty() {
                Err(ShapeError::BadCell {
                    line,
                    column: name,
                    value: String::new(),
                    reason: "empty".into(),
                })
            } else {
                Ok(v)
            }
        };
        let count = |idx: usize, name: &'static str| -> Result<u64, ShapeError> {
            let v = cell(idx, name)?;
            let bad = || ShapeError::BadCell {
                line,
                column: name,
                value: v.to_string(),
                reason: "not a positive whole number".into(),
            };
            let n = match v.parse::<u64>() {
                Ok(n) => n,
                // Spreadsheets sometimes write whole numbers as `2.0`.
                Err(_) => {
                    let f: f64 = v.parse().map_err(|_| bad())?;
                    if !f.is_finite() || f < 0.0 || f.fract() != 0.0 || f > 1e15 {
                        return Err(bad());
                    }
                    f as u64
                }
            };
            if n == 0 { Err(bad()) } else { Ok(n) }
        };
        let as_u32 = |n: u64, name: &'static str| -> Result<u32, ShapeError> {
            u32::try_from(n).map_err(|_| ShapeError::BadCell {
                line,
                column: name,
                value: n.to_string(),
                reason: "too large".into(),
            })
        };

        let label = cell(host_col, "Host")?.to_string();
        let cpu_model = cell(model_col, "CPU Model")?.to_string();
        let sockets = as_u32(count(sockets_col, "# CPU")?, "# CPU")?;
        let cores_per_socket = as_u32(count(cores_col, "Cores per CPU")?, "Cores per CPU")?;
        let ht = cell(ht_col, "HT Active")?;
        let threads_per_core = match ht.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => 2,
            "false" | "no" | "0" => 1,
            _ => {
                return Err(ShapeError::BadCell {
                    line,
                    column: "HT Active",
                    value: ht.to_string(),
                    reason: "expected True or False".into(),
                });
            }
        };
        let memory_mib = count(memory_col, "# Memory")?;
        let hypervisor_version = version_col
            .and_then(|i| record.get(i))
            .map(|v| v.trim().to_string())
            .unwrap_or_default();
        let lower = cpu_model.to_ascii_lowercase();
        let cpu_vendor = if lower.contains("intel") {
            "Intel"
        } else if lower.contains("amd") {
            "AMD"
        } else {
            ""
        }
        .to_string();
        shapes.push(HostShape {
            label,
            hypervisor: HypervisorType::Esx,
            hypervisor_version,
            cpu_vendor,
            cpu_model,
            cpu_features: Vec::new(),
            topology: CpuTopology::new(sockets, cores_per_socket, threads_per_core),
            memory_mib,
            numa_cells: Vec::new(),
        });
    }
    Ok(shapes)
}

// ---------------------------------------------------------------------------------------------
// Built-in table
// ---------------------------------------------------------------------------------------------

/// Memory assumed for `test-qemu-with-kvm.xml`, whose single NUMA cell states none.
pub const TEST_QEMU_WITH_KVM_ASSUMED_MEMORY_MIB: u64 = 4096;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

/// The hardware the simulator builds hosts from, one entry per source host, in this order:
///
/// 1. `kvm-x86_64.xml` — a 4-core/8-thread Skylake desktop, 1 NUMA cell;
/// 2. `test-qemu-with-kvm.xml` — an old core2duo box; its XML states no memory, so
///    [`TEST_QEMU_WITH_KVM_ASSUMED_MEMORY_MIB`] is assumed;
/// 3. the first host of the RVTools `example1.vHost.csv` — an HPE DL380 Gen10 with
///    2 × Xeon Gold 5218 (16 cores, HT on) and 261,797 MiB;
/// 4. `kvm-aarch64.xml` — a 2-socket Ampere Neoverse-N1 server, 160 cores, 2 NUMA cells.
///
/// The libvirt files are virt-manager test data (GPL-2.0-or-later,
/// `virt-manager/virt-manager` @ 2450354f, `tests/data/capabilities/`); the RVTools file is
/// from `kubev2v/migration-planner` @ 6aff4ab9 (Apache-2.0). Only hardware facts are
/// transcribed; the tests compare this table with what the parsers read from those files.
pub fn builtin_shapes() -> Vec<HostShape> {
    vec![
        // From virt-manager tests/data/capabilities/kvm-x86_64.xml (host/cpu and
        // host/topology/cells): 1 socket × 4 cores × 2 threads, 1 cell of 32,731,708 KiB.
        HostShape {
            label: "kvm x86_64 Skylake-Client-noTSX-IBRS".into(),
            hypervisor: HypervisorType::Kvm,
            hypervisor_version: String::new(),
            cpu_vendor: "Intel".into(),
            cpu_model: "Skylake-Client-noTSX-IBRS".into(),
            cpu_features: strings(&[
                "ds",
                "acpi",
                "ss",
                "ht",
                "tm",
                "pbe",
                "dtes64",
                "monitor",
                "ds_cpl",
                "vmx",
                "smx",
                "est",
                "tm2",
                "xtpr",
                "pdcm",
                "osxsave",
                "tsc_adjust",
                "clflushopt",
                "intel-pt",
                "md-clear",
                "stibp",
                "ssbd",
                "xsaves",
                "pdpe1gb",
                "invtsc",
            ]),
            topology: CpuTopology::new(1, 4, 2),
            memory_mib: 31964,
            numa_cells: vec![NumaCell {
                id: 0,
                cpus: 8,
                memory_mib: 31964,
            }],
        },
        // From virt-manager tests/data/capabilities/test-qemu-with-kvm.xml: its <topology>
        // attributes say 7 × 5 × 3 but its one cell lists 2 CPUs, so 1 × 2 × 1; no memory is
        // stated, so TEST_QEMU_WITH_KVM_ASSUMED_MEMORY_MIB is assumed.
        HostShape {
            label: "kvm x86_64 core2duo".into(),
            hypervisor: HypervisorType::Kvm,
            hypervisor_version: String::new(),
            cpu_vendor: "Intel".into(),
            cpu_model: "core2duo".into(),
            cpu_features: strings(&[
                "lahf_lm", "xtpr", "cx16", "tm2", "est", "vmx", "ds_cpl", "pbe", "tm", "ht", "ss",
                "acpi", "ds",
            ]),
            topology: CpuTopology::new(1, 2, 1),
            memory_mib: TEST_QEMU_WITH_KVM_ASSUMED_MEMORY_MIB,
            numa_cells: vec![NumaCell {
                id: 0,
                cpus: 2,
                memory_mib: TEST_QEMU_WITH_KVM_ASSUMED_MEMORY_MIB,
            }],
        },
        // From kubev2v/migration-planner test/e2e/data/example_rvtools_files/example1.xlsx,
        // sheet vHost, first row (all 7 rows have this hardware).
        HostShape {
            label: "10.17.135.71".into(),
            hypervisor: HypervisorType::Esx,
            hypervisor_version: String::new(),
            cpu_vendor: "Intel".into(),
            cpu_model: "Intel(R) Xeon(R) Gold 5218 CPU @ 2.30GHz".into(),
            cpu_features: Vec::new(),
            topology: CpuTopology::new(2, 16, 2),
            memory_mib: 261_797,
            numa_cells: Vec::new(),
        },
        // From virt-manager tests/data/capabilities/kvm-aarch64.xml: 2 cells of 80 CPUs
        // (socket_id 56 and 76, one thread per core), 263,763,320 + 262,082,520 KiB.
        HostShape {
            label: "kvm aarch64 Neoverse-N1".into(),
            hypervisor: HypervisorType::Kvm,
            hypervisor_version: String::new(),
            cpu_vendor: "ARM".into(),
            cpu_model: "Neoverse-N1".into(),
            cpu_features: strings(&AARCH64_FEATURES),
            topology: CpuTopology::new(2, 80, 1),
            memory_mib: 257_581 + 255_939,
            numa_cells: vec![
                NumaCell {
                    id: 0,
                    cpus: 80,
                    memory_mib: 257_581,
                },
                NumaCell {
                    id: 1,
                    cpus: 80,
                    memory_mib: 255_939,
                },
            ],
        },
    ]
}

/// `host/cpu/feature` names of `kvm-aarch64.xml`.
const AARCH64_FEATURES: [&str; 16] = [
    "fp", "asimd", "evtstrm", "aes", "pmull", "sha1", "sha2", "crc32", "atomics", "fphp",
    "asimdhp", "cpuid", "asimdrdm", "lrcpc", "dcpop", "asimddp",
];
