//! VMware `.vmx` files (one per VM: `key = "value"` lines) read into an [`Estate`]: the VMs
//! of one cluster, without hosts (a `.vmx` does not say where it runs, whether it runs, or how
//! large its disks are).

use std::collections::BTreeMap;

use vdc_db::imports::ImportedVm;
use vdc_db::{self as db};
use vdc_types::*;

use super::Estate;

/// One file's keys (lower-cased) and values.
fn keys(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            if l.starts_with('#') || l.starts_with('.') {
                return None;
            }
            let (k, v) = l.split_once('=')?;
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            Some((k.trim().to_ascii_lowercase(), v.to_string()))
        })
        .collect()
}

/// `42 20 fc a7 11 dd d6 7e-19 cc fc ad 0a 37 c3 42` → a UUID.
fn vmware_uuid(v: &str) -> Option<uuid::Uuid> {
    let hex: String = v.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    (hex.len() == 32)
        .then(|| uuid::Uuid::parse_str(&hex).ok())
        .flatten()
}

fn present(k: &BTreeMap<String, String>, dev: &str) -> bool {
    k.get(&format!("{dev}.present"))
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The VM of one `.vmx` file (`file` names it in errors).
fn vm(
    source: &str,
    cluster: &str,
    file: &str,
    text: &str,
    now: UnixMs,
) -> Result<ImportedVm, Error> {
    let k = keys(text);
    let bad = |what: &str| Error::invalid("files", format!("{file}: {what}"));
    let name = k
        .get("displayname")
        .filter(|n| !n.is_empty())
        .cloned()
        .ok_or_else(|| bad("no displayName: not a .vmx file"))?;
    let number = |key: &str, default: u64| -> Result<u64, Error> {
        k.get(key).map_or(Ok(default), |v| {
            v.parse().map_err(|_| bad(&format!("{key} = {v:?}")))
        })
    };
    // The BIOS UUID is the VM's identity (vCenter's vc.uuid is per vCenter); without one, a
    // UUID derived from the source and the name, the same at the next import.
    let id = k
        .get("uuid.bios")
        .and_then(|u| vmware_uuid(u))
        .unwrap_or_else(|| {
            uuid::Uuid::new_v5(
                &uuid::Uuid::NAMESPACE_URL,
                format!("vmx://{source}/vm/{name}").as_bytes(),
            )
        });
    // Disks: present SCSI, SATA, IDE and NVMe devices with a .vmdk file that are not CD-ROMs.
    let mut disks = Vec::new();
    for (key, file) in &k {
        let Some(dev) = key.strip_suffix(".filename") else {
            continue;
        };
        let bus = ["scsi", "sata", "ide", "nvme"]
            .iter()
            .any(|b| dev.starts_with(b) && dev.contains(':'));
        let cdrom = k
            .get(&format!("{dev}.devicetype"))
            .is_some_and(|t| t.contains("cdrom"));
        if bus && !cdrom && present(&k, dev) && file.to_ascii_lowercase().ends_with(".vmdk") {
            disks.push(db::DiskRec {
                device: dev.to_string(),
                size_gib: 0,
                datastore: String::new(),
                format: "vmdk".into(),
                path: Some(file.clone()),
            });
        }
    }
    let mut nics = Vec::new();
    for n in 0..10 {
        let dev = format!("ethernet{n}");
        if !present(&k, &dev) {
            continue;
        }
        let mac = k
            .get(&format!("{dev}.generatedaddress"))
            .or_else(|| k.get(&format!("{dev}.address")))
            .cloned()
            .unwrap_or_default();
        nics.push(db::NicRec {
            mac,
            network: k
                .get(&format!("{dev}.networkname"))
                .cloned()
                .unwrap_or_default(),
        });
    }
    Ok(ImportedVm {
        id: VmId(id),
        name,
        cluster: Some(cluster.to_string()),
        host_uri: None,
        vcpus: number("numvcpus", 1)? as u32,
        memory_mib: number("memsize", 0)?,
        disks,
        nics,
        power_state: PowerState::Unknown,
        created_at: now,
        owner: None,
        guest_os: GuestOs::from_vmx(
            k.get("guestos").map(String::as_str),
            k.get("guestinfo.detailed.data").map(String::as_str),
        ),
    })
}

/// Reads `.vmx` files (name → text) of `source`.
pub fn parse(source: &str, files: &BTreeMap<String, String>, now: UnixMs) -> Result<Estate, Error> {
    if files.is_empty() {
        return Err(Error::invalid("files", "at least one .vmx file"));
    }
    let cluster = format!("{source}/vmx");
    let vms = files
        .iter()
        .map(|(file, text)| vm(source, &cluster, file, text, now))
        .collect::<Result<Vec<_>, _>>()?;
    let mut ids: Vec<VmId> = vms.iter().map(|v| v.id).collect();
    ids.sort();
    ids.dedup();
    if ids.len() != vms.len() {
        return Err(Error::invalid(
            "files",
            "two files describe the same VM (uuid.bios)",
        ));
    }
    Ok(Estate {
        without_host: vms.len(),
        vms,
        ..Estate::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_uuids_disks_and_nics() {
        let text = r#".encoding = "UTF-8"
displayName = "web 1"
numvcpus = "4"
memsize = "2048"
uuid.bios = "42 20 fc a7 11 dd d6 7e-19 cc fc ad 0a 37 c3 42"
scsi0:0.present = "TRUE"
scsi0:0.fileName = "web-1.vmdk"
scsi0:1.present = "FALSE"
scsi0:1.fileName = "old.vmdk"
sata0:0.present = "TRUE"
sata0:0.deviceType = "cdrom-image"
sata0:0.fileName = "os.iso"
ethernet0.present = "TRUE"
ethernet0.networkName = "VM Network"
ethernet0.generatedAddress = "00:50:56:a0:cf:2f"
"#;
        let v = vm("s", "s/vmx", "a.vmx", text, 7).unwrap();
        assert_eq!(v.name, "web 1");
        assert_eq!(v.id.to_string(), "4220fca7-11dd-d67e-19cc-fcad0a37c342");
        assert_eq!((v.vcpus, v.memory_mib), (4, 2048));
        assert_eq!(v.disks.len(), 1);
        assert_eq!(v.disks[0].device, "scsi0:0");
        assert_eq!(v.disks[0].path.as_deref(), Some("web-1.vmdk"));
        assert_eq!(v.nics.len(), 1);
        assert_eq!(v.nics[0].mac, "00:50:56:a0:cf:2f");
        assert_eq!(v.nics[0].network, "VM Network");
        let e = vm(
            "s",
            "s/vmx",
            "b.vmx",
            "numvcpus = \"x\"\ndisplayName = \"b\"\n",
            7,
        )
        .unwrap_err();
        assert!(e.to_string().contains("b.vmx: numvcpus"), "{e}");
        let e = vm("s", "s/vmx", "c.vmx", "hello\n", 7).unwrap_err();
        assert!(e.to_string().contains("not a .vmx file"), "{e}");
    }
}
