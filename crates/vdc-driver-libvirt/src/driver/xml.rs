//! The XML and names the driver writes and reads besides domains: snapshots, volumes, URIs.

use super::*;

/// What vdc asks `virDomainSnapshotCreateXML` for, by the domain's state: an internal
/// snapshot (inside the qcow2 disks), with the memory of an active domain so reverting
/// resumes it where it was.
pub(crate) fn snapshot_xml(name: &str, active: bool) -> String {
    format!(
        "<domainsnapshot><name>{}</name><memory snapshot='{}'/></domainsnapshot>",
        esc(name),
        if active { "internal" } else { "no" }
    )
}

/// A snapshot as the host describes it (`<domainsnapshot>`): its name, `<creationTime>`
/// (seconds) and the domain's `<state>` when it was taken.
pub(crate) fn snapshot_from_xml(xml: &str) -> Option<SnapshotInfo> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    let root = doc.root_element();
    let text = |tag: &str| {
        root.children()
            .find(|n| n.has_tag_name(tag))
            .and_then(|n| n.text())
            .map(str::trim)
    };
    let state = match text("state")? {
        "running" | "blocked" => PowerState::Running,
        "paused" | "pmsuspended" => PowerState::Paused,
        "shutoff" | "disk-snapshot" => PowerState::Shutoff,
        "shutdown" => PowerState::ShuttingDown,
        "crashed" => PowerState::Crashed,
        _ => PowerState::Unknown,
    };
    let created_s: UnixMs = text("creationTime")?.parse().ok()?;
    Some(SnapshotInfo {
        name: text("name")?.to_string(),
        created_at: created_s * 1000,
        state,
    })
}

/// True when a libvirt URI names a daemon on this machine (no host part, or loopback).
pub(crate) fn is_local_uri(uri: &str) -> bool {
    let Some((_, rest)) = uri.split_once("://") else {
        return true;
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    matches!(host, "" | "localhost" | "127.0.0.1" | "::1")
}

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
}

/// The volumes of a pool; a pool or volume that cannot be read (removed meanwhile, an
/// inactive pool) contributes nothing rather than failing the whole host report.
pub(crate) fn pool_volumes(pool: &virt::storage_pool::StoragePool) -> Vec<VolumeInfo> {
    let Ok(datastore) = pool.name() else {
        return Vec::new();
    };
    let vols = pool.list_all_volumes(0).unwrap_or_default();
    vols.iter()
        .filter_map(|v| {
            let info = v.info().ok()?;
            let xml = v.xml_desc(0).ok()?;
            Some(VolumeInfo {
                datastore: datastore.clone(),
                name: v.name().ok()?,
                path: v.path().ok()?,
                format: volume_format(&xml),
                capacity_mib: info.capacity >> 20,
                allocation_mib: info.allocation >> 20,
            })
        })
        .collect()
}

/// `<target><format type='…'/>` of a volume's XML; empty when absent.
pub(crate) fn volume_format(xml: &str) -> String {
    roxmltree::Document::parse(xml)
        .ok()
        .and_then(|doc| {
            doc.root_element()
                .children()
                .find(|n| n.has_tag_name("target"))?
                .children()
                .find(|n| n.has_tag_name("format"))?
                .attribute("type")
                .map(str::to_string)
        })
        .unwrap_or_default()
}
