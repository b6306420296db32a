//! RVTools exports (the xlsx workbook of a vCenter inventory): its vInfo, vHost and vDisk sheets
//! read into an [`Estate`].

use std::collections::HashMap;
use std::io::Cursor;

use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
use vdc_db::imports::{ImportedHost, ImportedVm};
use vdc_db::{self as db};
use vdc_types::*;

use super::Estate;

/// The end of year 9999, in ms: the last timestamp the wire format can show.
const MAX_MS: UnixMs = 253_402_300_799_999;

/// One sheet: its header row by name, and its rows.
struct Sheet {
    name: &'static str,
    cols: HashMap<String, usize>,
    rows: Vec<Vec<Data>>,
}

impl Sheet {
    fn read(wb: &mut Xlsx<Cursor<&[u8]>>, name: &'static str) -> Result<Sheet, Error> {
        let range = wb
            .worksheet_range(name)
            .map_err(|_| Error::invalid("file", format!("an RVTools export has a {name} sheet")))?;
        let mut rows = range.rows().map(<[Data]>::to_vec);
        let header = rows.next().unwrap_or_default();
        let cols = header
            .iter()
            .enumerate()
            .filter_map(|(i, h)| match h {
                Data::String(s) => Some((s.trim().to_string(), i)),
                _ => None,
            })
            .collect();
        Ok(Sheet {
            name,
            cols,
            rows: rows.collect(),
        })
    }

    /// The column's index; missing required columns are bad input.
    fn col(&self, name: &str) -> Result<usize, Error> {
        self.cols.get(name).copied().ok_or_else(|| {
            Error::invalid(
                "file",
                format!("the {} sheet has no {name} column", self.name),
            )
        })
    }

    fn cell<'a>(&self, row: &'a [Data], col: Option<usize>) -> Option<&'a Data> {
        col.and_then(|c| row.get(c)).filter(|d| **d != Data::Empty)
    }

    fn text(&self, row: &[Data], col: Option<usize>) -> Option<String> {
        self.cell(row, col)
            .map(|d| match d {
                Data::Float(f) if f.fract() == 0.0 => format!("{f:.0}"),
                other => other.to_string(),
            })
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    }

    /// A number; an empty cell is 0 (the export does not know), anything else bad input.
    fn num(&self, row: &[Data], col: usize, what: &str, i: usize) -> Result<f64, Error> {
        let bad = || {
            Error::invalid(
                "file",
                format!("{} row {}: {what} is not a number", self.name, i + 2),
            )
        };
        match self.cell(row, Some(col)) {
            Some(Data::Int(n)) => Ok(*n as f64),
            Some(Data::Float(f)) => Ok(*f),
            Some(Data::String(s)) => s.trim().parse().map_err(|_| bad()),
            None => Ok(0.0),
            _ => Err(bad()),
        }
    }

    /// A date cell (an Excel serial date, or text such as `2025-02-26 12:53:35`), in ms;
    /// none outside 1970–9999.
    fn date_ms(&self, row: &[Data], col: Option<usize>) -> Option<UnixMs> {
        let ms = match self.cell(row, col)? {
            Data::DateTime(d) => Some(((d.as_f64() - 25_569.0) * 86_400_000.0).round() as i64),
            Data::Float(f) => Some(((f - 25_569.0) * 86_400_000.0).round() as i64),
            Data::String(s) | Data::DateTimeIso(s) => {
                let s = s.trim().replace(' ', "T");
                let s = if s.ends_with('Z') || s.contains('+') {
                    s
                } else {
                    s + "Z"
                };
                parse_rfc3339("date", &s).ok()
            }
            _ => None,
        }?;
        (0..=MAX_MS).contains(&ms).then_some(ms)
    }
}

/// A VM's disks: those vDisk lists for its datacenter, cluster and name; else, when vDisk
/// places them elsewhere (exports disagree), those of the only VM of that name.
fn disks_of(
    disks: &mut HashMap<(String, String, String), Vec<db::DiskRec>>,
    (dc, cluster): (String, String),
    name: &str,
) -> Vec<db::DiskRec> {
    if let Some(d) = disks.remove(&(dc, cluster, name.to_string())) {
        return d;
    }
    let same: Vec<(String, String, String)> =
        disks.keys().filter(|k| k.2 == name).cloned().collect();
    match same.as_slice() {
        [only] => disks.remove(only).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// `[datastore] folder/file.vmdk` → `datastore`.
fn datastore_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix('[')?;
    rest.split_once(']').map(|(ds, _)| ds.trim().to_string())
}

/// Reads an RVTools workbook of `source` (`now` stands in for missing creation dates).
pub fn parse(source: &str, bytes: &[u8], now: UnixMs) -> Result<Estate, Error> {
    let mut wb: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes))
        .map_err(|e| Error::invalid("file", format!("not an xlsx workbook: {e}")))?;
    let vhost = Sheet::read(&mut wb, "vHost")?;
    let vinfo = Sheet::read(&mut wb, "vInfo")?;
    let vdisk = Sheet::read(&mut wb, "vDisk")?;
    let cluster_name = |dc: Option<String>, c: Option<String>| {
        format!(
            "{source}/{}/{}",
            dc.unwrap_or_else(|| "-".into()),
            c.unwrap_or_else(|| "(standalone)".into())
        )
    };

    let (h_name, h_cpus, h_cores, h_mem) = (
        vhost.col("Host")?,
        vhost.col("# CPU")?,
        vhost.col("Cores per CPU")?,
        vhost.col("# Memory")?,
    );
    let opt = |s: &Sheet, c: &str| s.cols.get(c).copied();
    let mut hosts = Vec::new();
    for (i, r) in vhost.rows.iter().enumerate() {
        let Some(name) = vhost.text(r, Some(h_name)) else {
            continue;
        };
        let model = vhost.text(r, opt(&vhost, "CPU Model")).unwrap_or_default();
        let vendor = if model.contains("AMD") {
            "AuthenticAMD"
        } else if model.contains("Intel") {
            "GenuineIntel"
        } else {
            ""
        };
        let ht = vhost
            .text(r, opt(&vhost, "HT Active"))
            .is_some_and(|t| t.eq_ignore_ascii_case("true"));
        hosts.push(ImportedHost {
            uri: format!("rvtools://{source}/{name}"),
            cluster: cluster_name(
                vhost.text(r, opt(&vhost, "Datacenter")),
                vhost.text(r, opt(&vhost, "Cluster")),
            ),
            hypervisor_version: vhost
                .text(r, opt(&vhost, "ESX Version"))
                .unwrap_or_default(),
            cpu_vendor: vendor.into(),
            cpu_model: model,
            topology: CpuTopology::new(
                vhost.num(r, h_cpus, "# CPU", i)? as u32,
                vhost.num(r, h_cores, "Cores per CPU", i)? as u32,
                if ht { 2 } else { 1 },
            ),
            memory_mib: vhost.num(r, h_mem, "# Memory", i)? as u64,
            name,
        });
    }
    if hosts.is_empty() {
        return Err(Error::invalid("file", "the vHost sheet lists no host"));
    }

    // Disks by datacenter, cluster and VM name (names are how the sheets join; the published
    // example's VM IDs do not agree between sheets).
    let (d_vm, d_cap) = (vdisk.col("VM")?, vdisk.col("Capacity MiB")?);
    let place = |s: &Sheet, r: &[Data]| {
        (
            s.text(r, opt(s, "Datacenter")).unwrap_or_default(),
            s.text(r, opt(s, "Cluster")).unwrap_or_default(),
        )
    };
    let mut disks: HashMap<(String, String, String), Vec<db::DiskRec>> = HashMap::new();
    for (i, r) in vdisk.rows.iter().enumerate() {
        let Some(vm) = vdisk.text(r, Some(d_vm)) else {
            continue;
        };
        let (dc, cluster) = place(&vdisk, r);
        // `[datastore] folder/file.vmdk`; anything else there is not a disk path.
        let path = vdisk
            .text(r, opt(&vdisk, "Disk Path"))
            .filter(|p| p.starts_with('['));
        let list = disks.entry((dc, cluster, vm)).or_default();
        list.push(db::DiskRec {
            device: vdisk
                .text(r, opt(&vdisk, "Disk"))
                .unwrap_or_else(|| format!("disk {}", list.len() + 1)),
            size_gib: (vdisk.num(r, d_cap, "Capacity MiB", i)? / 1024.0).ceil() as u64,
            datastore: path.as_deref().and_then(datastore_of).unwrap_or_default(),
            format: "vmdk".into(),
            path,
        });
    }

    let (v_name, v_power, v_cpus, v_mem, v_host) = (
        vinfo.col("VM")?,
        vinfo.col("Powerstate")?,
        vinfo.col("CPUs")?,
        vinfo.col("Memory")?,
        vinfo.col("Host")?,
    );
    let mut vms = Vec::new();
    let (mut templates, mut without_host) = (0, 0);
    for (i, r) in vinfo.rows.iter().enumerate() {
        let Some(name) = vinfo.text(r, Some(v_name)) else {
            continue;
        };
        if vinfo
            .text(r, opt(&vinfo, "Template"))
            .is_some_and(|t| t.eq_ignore_ascii_case("true"))
        {
            templates += 1;
            continue;
        }
        let row = i + 2;
        let host_uri = vinfo
            .text(r, Some(v_host))
            .map(|h| format!("rvtools://{source}/{h}"))
            .filter(|uri| hosts.iter().any(|h| h.uri == *uri));
        without_host += usize::from(host_uri.is_none());
        // Without a VM UUID, one derived from the source and the VM's name, the same at the
        // next import.
        let id = vinfo
            .text(r, opt(&vinfo, "VM UUID"))
            .and_then(|u| uuid::Uuid::parse_str(&u).ok())
            .unwrap_or_else(|| {
                uuid::Uuid::new_v5(
                    &uuid::Uuid::NAMESPACE_URL,
                    format!("rvtools://{source}/vm/{name}").as_bytes(),
                )
            });
        let power_state = match vinfo.text(r, Some(v_power)).as_deref() {
            Some("poweredOn") => PowerState::Running,
            Some("poweredOff") => PowerState::Shutoff,
            Some("suspended") => PowerState::Paused,
            other => {
                return Err(Error::invalid(
                    "file",
                    format!("vInfo row {row}: power state {other:?} of {name}"),
                ));
            }
        };
        vms.push(ImportedVm {
            id: VmId(id),
            vcpus: vinfo.num(r, v_cpus, "CPUs", i)? as u32,
            memory_mib: vinfo.num(r, v_mem, "Memory", i)? as u64,
            disks: disks_of(&mut disks, place(&vinfo, r), &name),
            nics: Vec::new(),
            power_state,
            created_at: vinfo
                .date_ms(r, opt(&vinfo, "Creation date"))
                .unwrap_or(now),
            owner: vinfo.text(r, opt(&vinfo, "owner")),
            // What the guest says it runs (VMware Tools) over what the VM was configured as.
            guest_os: vinfo
                .text(r, opt(&vinfo, "Guest Detailed Data"))
                .and_then(|d| GuestOs::from_vmx(None, Some(&d)))
                .or_else(|| {
                    [
                        "OS according to the VMware Tools",
                        "OS according to the configuration file",
                    ]
                    .into_iter()
                    .find_map(|c| vinfo.text(r, opt(&vinfo, c)))
                    .and_then(|n| GuestOs::from_vmware_name(&n, GuestOsSource::Import))
                }),
            cluster: Some(cluster_name(
                vinfo.text(r, opt(&vinfo, "Datacenter")),
                vinfo.text(r, opt(&vinfo, "Cluster")),
            )),
            host_uri,
            name,
        });
    }
    if vms.is_empty() {
        return Err(Error::invalid("file", "the vInfo sheet lists no VM"));
    }
    Ok(Estate {
        hosts,
        vms,
        templates,
        without_host,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(gib: u64) -> db::DiskRec {
        db::DiskRec {
            device: "Hard disk 1".into(),
            size_gib: gib,
            datastore: String::new(),
            format: "vmdk".into(),
            path: None,
        }
    }

    #[test]
    fn disks_join_by_place_and_name() {
        let key = |c: &str, n: &str| ("dc".to_string(), c.to_string(), n.to_string());
        let mut disks = HashMap::from([
            (key("A", "web01"), vec![disk(10)]),
            (key("B", "web01"), vec![disk(20)]),
            (key("B", "db"), vec![disk(30)]),
        ]);
        let at = |c: &str| ("dc".to_string(), c.to_string());
        // Two VMs of one name in two clusters each get their own disks.
        assert_eq!(disks_of(&mut disks, at("B"), "web01"), vec![disk(20)]);
        assert_eq!(disks_of(&mut disks, at("A"), "web01"), vec![disk(10)]);
        // Placed elsewhere by vInfo: the only VM of that name.
        assert_eq!(disks_of(&mut disks, at(""), "db"), vec![disk(30)]);
        assert_eq!(disks_of(&mut disks, at("A"), "none"), vec![]);
    }

    #[test]
    fn datastore_from_a_disk_path() {
        assert_eq!(datastore_of("[ds-1] vm/vm.vmdk").as_deref(), Some("ds-1"));
        assert_eq!(datastore_of("/sysroot, /"), None);
    }
}
