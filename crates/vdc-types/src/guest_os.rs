//! Guest operating systems: what a VM runs, read from what hypervisors and other estates say
//! (libvirt's libosinfo ids, VMware's names and `guestOS` ids), in one form that baselines and
//! licences can match.
//!
//! The **OS key** names what a patch baseline applies to: for Linux and other systems the
//! distribution (`rhel`, `debian`, `ubuntu`, …), its version the release (`9.4`); for Windows
//! the release (`winsrv-2019`, `win-10`), its version the build (`10.0.17763.5458`), because a
//! Windows release is patched by build, not replaced by a newer release number.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

use crate::{GuestOsSource, PatchStatus};

/// A VM's guest OS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GuestOs {
    /// OS key, e.g. `rhel`, `debian`, `winsrv-2019`.
    pub os: String,
    /// Release (Linux) or build (Windows), when known: `9.4`, `12`, `10.0.17763.5458`.
    pub version: Option<String>,
    /// As the source said it, for people.
    pub name: String,
    /// Kernel release, when known.
    pub kernel: Option<String>,
    pub source: GuestOsSource,
}

/// VMware / RVTools name prefixes (lower case) and their OS keys; Windows handled apart.
const NAMES: &[(&str, &str)] = &[
    ("red hat enterprise linux", "rhel"),
    ("red hat fedora", "fedora"),
    ("fedora", "fedora"),
    ("debian gnu/linux", "debian"),
    ("debian", "debian"),
    ("ubuntu linux", "ubuntu"),
    ("ubuntu", "ubuntu"),
    ("centos", "centos"),
    ("amazon linux", "amzn"),
    ("suse linux enterprise server", "sles"),
    ("suse linux enterprise", "sles"),
    ("sles", "sles"),
    ("oracle linux", "ol"),
    ("rocky linux", "rocky"),
    ("almalinux", "almalinux"),
    ("vmware photon os", "photon"),
    ("freebsd", "freebsd"),
];

/// VMware `guestOS` id stems (after `-64` is cut and digits split off) and their OS keys.
const VMX_STEMS: &[(&str, &str)] = &[
    ("rhel", "rhel"),
    ("centos", "centos"),
    ("debian", "debian"),
    ("ubuntu", "ubuntu"),
    ("sles", "sles"),
    ("oraclelinux", "ol"),
    ("fedora", "fedora"),
    ("rockylinux", "rocky"),
    ("almalinux", "almalinux"),
    ("amazonlinux", "amzn"),
    ("freebsd", "freebsd"),
];

/// VMware Windows `guestOS` ids (after `-64` is cut) and their OS keys.
const VMX_WINDOWS: &[(&str, &str)] = &[
    ("winnetstandard", "winsrv-2003"),
    ("winnetenterprise", "winsrv-2003"),
    ("longhorn", "winsrv-2008"),
    ("windows7srv", "winsrv-2008-r2"),
    ("windows8srv", "winsrv-2012"),
    // "Windows Server 2016 or later": 2016, 2019 and 2022 are configured so.
    ("windows9srv", "winsrv"),
    ("windows2019srv", "winsrv-2019"),
    ("windows2019srvnext", "winsrv-2022"),
    ("windows2022srvnext", "winsrv-2025"),
    ("winxppro", "win-xp"),
    ("windows7", "win-7"),
    ("windows8", "win-8"),
    ("windows9", "win-10"),
    ("windows11", "win-11"),
];

fn lower_words(s: &str) -> String {
    // Drops "(64-bit)" and the like.
    let mut out = String::new();
    let mut depth = 0u32;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.extend(c.to_lowercase()),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn first_number(words: &str) -> Option<String> {
    words
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        .map(|w| {
            w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
                .to_string()
        })
}

/// The Windows release key of a VMware-style name: `Microsoft Windows Server 2008 R2 …` →
/// `winsrv-2008-r2`, `Windows Server 2019, 64-bit` → `winsrv-2019`, `Microsoft Windows 10 …` →
/// `win-10`; a name for several releases (`… 2016 or later`) gives the family, `winsrv`.
fn windows_key(words: &str) -> Option<String> {
    let rest = words.strip_prefix("microsoft ").unwrap_or(words);
    let rest = rest.strip_prefix("windows ")?;
    let (prefix, rest) = match rest.strip_prefix("server ") {
        Some(r) => ("winsrv", r),
        None => ("win", rest),
    };
    let ws: Vec<&str> = rest
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_ascii_alphanumeric()))
        .filter(|w| !w.is_empty())
        .collect();
    let release = ws.first()?;
    if ws.windows(2).any(|w| w == ["or", "later"]) {
        return Some(prefix.to_string());
    }
    let r2 = if ws.get(1) == Some(&"r2") { "-r2" } else { "" };
    Some(format!("{prefix}-{release}{r2}"))
}

impl GuestOs {
    /// From a libosinfo id (`http://debian.org/debian/12`, `http://microsoft.com/win/2k19`);
    /// `None` for an id that is not a URL with a distribution and a version.
    pub fn from_libosinfo(id: &str) -> Option<GuestOs> {
        let path = id.trim().split_once("://")?.1;
        let mut parts = path.trim_end_matches('/').rsplit('/');
        let version = parts.next()?.to_ascii_lowercase();
        let distro = parts.next()?.to_ascii_lowercase();
        if distro.is_empty() || version.is_empty() || parts.next().is_none() {
            return None;
        }
        let (os, version) = if distro == "win" {
            let release = match version.strip_prefix("2k") {
                Some(y) => {
                    let (year, r2) = y.split_at(y.find('r').unwrap_or(y.len()));
                    let century = match year.len() {
                        0 => "2000",
                        1 => "200",
                        _ => "20",
                    };
                    format!("{century}{year}{}", if r2.is_empty() { "" } else { "-r2" })
                }
                None => version.clone(),
            };
            let prefix = if version.starts_with("2k") {
                "winsrv"
            } else {
                "win"
            };
            (format!("{prefix}-{release}"), None)
        } else if version == "unknown" {
            (distro, None)
        } else {
            (distro, Some(version))
        };
        Some(GuestOs {
            name: id.trim().to_string(),
            os,
            version,
            kernel: None,
            source: GuestOsSource::Libosinfo,
        })
    }

    /// From a VMware-style name (RVTools "OS according to …", `guestOSAltName`, a
    /// `prettyName`): `Red Hat Enterprise Linux 9 (64-bit)` → `rhel` `9`.
    pub fn from_vmware_name(name: &str, source: GuestOsSource) -> Option<GuestOs> {
        let words = lower_words(name);
        if words.is_empty() {
            return None;
        }
        let (os, version) = if let Some(key) = windows_key(&words) {
            (key, None)
        } else if let Some((prefix, key)) = NAMES.iter().find(|(p, _)| words.starts_with(p)) {
            (key.to_string(), first_number(&words[prefix.len()..]))
        } else {
            let before: Vec<&str> = words
                .split_whitespace()
                .take_while(|w| !w.starts_with(|c: char| c.is_ascii_digit()))
                .collect();
            let key: String = before
                .join("-")
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            // "Other Linux", "Other 3.x Linux": says nothing of what runs.
            if key.is_empty() || key.starts_with("other") {
                return None;
            }
            (key, first_number(&words))
        };
        Some(GuestOs {
            os,
            version,
            name: name.trim().to_string(),
            kernel: None,
            source,
        })
    }

    /// From a `.vmx` file's `guestOS` id (`rhel9-64`, `windows8srv-64`) and, when present,
    /// its `guestInfo.detailed.data` (`distroName='…' distroVersion='9.3' kernelVersion='…'`),
    /// which is more precise.
    pub fn from_vmx(guest_os: Option<&str>, detailed: Option<&str>) -> Option<GuestOs> {
        let fields = detailed.map(detailed_fields).unwrap_or_default();
        let field = |k: &str| {
            fields
                .iter()
                .find(|(f, _)| f == k)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        let from_id = guest_os.and_then(vmx_guest_id);
        // The guest's own words: its pretty name (`Windows Server 2019, 64-bit (Build
        // 17763.5576)`, `Red Hat Enterprise Linux 9.3 (Plow)`), else its distribution's name.
        let from_detail = ["prettyName", "distroName"]
            .into_iter()
            .filter_map(field)
            .filter_map(|n| GuestOs::from_vmware_name(&n, GuestOsSource::Import))
            .find(|g| g.os != "windows")
            .map(|mut g| {
                if g.os.starts_with("win") {
                    // A family from the name (`… or later`): the configured release is finer.
                    let family = g.os == "winsrv" || g.os == "win";
                    if let Some((os, _)) = from_id.as_ref().filter(|(os, _)| {
                        family && os.strip_prefix(&g.os).is_some_and(|r| r.starts_with('-'))
                    }) {
                        g.os = os.clone();
                    }
                    // The build with its update revision: `10.0` and `17763.5576`.
                    g.version = match (
                        field("distroVersion"),
                        field("buildNumber"),
                        field("kernelVersion"),
                    ) {
                        (Some(v), Some(b), Some(k))
                            if k == b || k.starts_with(&format!("{b}.")) =>
                        {
                            Some(format!("{v}.{k}"))
                        }
                        (Some(v), Some(b), _) => Some(format!("{v}.{b}")),
                        _ => None,
                    };
                } else {
                    // The distribution's version, unless the name says more
                    // (`Ubuntu 22.04.3 LTS` against `22.04`).
                    g.version = match (field("distroVersion"), g.version) {
                        (Some(d), Some(n)) if n.starts_with(&format!("{d}.")) => Some(n),
                        (d, n) => d.or(n),
                    };
                }
                g
            });
        let mut g = match (from_detail, from_id) {
            (Some(g), _) => g,
            (None, Some((os, version))) => GuestOs {
                os,
                version,
                name: guest_os.unwrap_or_default().trim().to_string(),
                kernel: None,
                source: GuestOsSource::Import,
            },
            (None, None) => return None,
        };
        if let Some(p) = field("prettyName") {
            g.name = p;
        }
        g.kernel = field("kernelVersion");
        Some(g)
    }

    /// Whether this OS is `key` or one of its kind: a key matches itself and every key it is
    /// the dash-separated start of (`winsrv` matches `winsrv-2019`).
    pub fn is(&self, key: &str) -> bool {
        self.os == key
            || self
                .os
                .strip_prefix(key)
                .is_some_and(|r| r.starts_with('-'))
    }
}

/// `key='value'` pairs of VMware's `guestInfo.detailed.data`.
fn detailed_fields(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(eq) = rest.find("='") {
        let key = rest[..eq].trim().to_string();
        let after = &rest[eq + 2..];
        let Some(end) = after.find('\'') else { break };
        out.push((key, after[..end].to_string()));
        rest = &after[end + 1..];
    }
    out
}

/// The OS key and release of a VMware `guestOS` id.
fn vmx_guest_id(id: &str) -> Option<(String, Option<String>)> {
    let id = id.trim().to_ascii_lowercase();
    let id = id.strip_suffix("-64").unwrap_or(&id);
    if let Some((_, key)) = VMX_WINDOWS.iter().find(|(s, _)| *s == id) {
        return Some((key.to_string(), None));
    }
    let stem = id.trim_end_matches(|c: char| c.is_ascii_digit() || c == '_');
    let release = id[stem.len()..].trim_matches('_');
    let (_, key) = VMX_STEMS.iter().find(|(s, _)| *s == stem)?;
    Some((
        key.to_string(),
        (!release.is_empty()).then(|| release.to_string()),
    ))
}

fn segments(v: &str) -> Vec<&str> {
    v.split(['.', '-', '_', ' '])
        .filter(|s| !s.is_empty())
        .collect()
}

/// A version against a baseline: `Current` when at or above it, `Behind` when below,
/// `Unknown` when they cannot be told apart (`9` against `9.4`, or a segment that is a number
/// in one and not in the other). Numbers compare as numbers, `10` above `9`.
pub fn patch_status(version: &str, baseline: &str) -> PatchStatus {
    let (v, b) = (segments(version), segments(baseline));
    for (x, y) in v.iter().zip(&b) {
        let o = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            (Err(_), Err(_)) => x.to_ascii_lowercase().cmp(&y.to_ascii_lowercase()),
            _ => return PatchStatus::Unknown,
        };
        match o {
            Ordering::Less => return PatchStatus::Behind,
            Ordering::Greater => return PatchStatus::Current,
            Ordering::Equal => {}
        }
    }
    if v.len() >= b.len() || b[v.len()..].iter().all(|s| s.parse() == Ok(0u64)) {
        PatchStatus::Current
    } else {
        PatchStatus::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(g: Option<GuestOs>) -> (String, Option<String>) {
        let g = g.expect("recognised");
        (g.os, g.version)
    }

    fn kv(os: &str, v: Option<&str>) -> (String, Option<String>) {
        (os.to_string(), v.map(str::to_string))
    }

    #[test]
    fn libosinfo_ids() {
        let l = |id| key(GuestOs::from_libosinfo(id));
        assert_eq!(l("http://debian.org/debian/12"), kv("debian", Some("12")));
        assert_eq!(l("http://redhat.com/rhel/9.4"), kv("rhel", Some("9.4")));
        assert_eq!(
            l("http://fedoraproject.org/fedora/unknown"),
            kv("fedora", None)
        );
        assert_eq!(l("http://microsoft.com/win/2k19"), kv("winsrv-2019", None));
        assert_eq!(
            l("http://microsoft.com/win/2k8r2"),
            kv("winsrv-2008-r2", None)
        );
        assert_eq!(l("http://microsoft.com/win/2k3"), kv("winsrv-2003", None));
        assert_eq!(l("http://microsoft.com/win/2k"), kv("winsrv-2000", None));
        assert_eq!(l("http://microsoft.com/win/10"), kv("win-10", None));
        assert_eq!(
            l("http://microsoft.com/msdos/6.22"),
            kv("msdos", Some("6.22"))
        );
        assert!(GuestOs::from_libosinfo("debian12").is_none());
        assert!(GuestOs::from_libosinfo("http://x/").is_none());
    }

    #[test]
    fn vmware_names_as_rvtools_gives_them() {
        let n = |s| key(GuestOs::from_vmware_name(s, GuestOsSource::Import));
        assert_eq!(
            n("Red Hat Enterprise Linux 9 (64-bit)"),
            kv("rhel", Some("9"))
        );
        assert_eq!(n("Debian GNU/Linux 7 (64-bit)"), kv("debian", Some("7")));
        assert_eq!(n("Amazon Linux 2 (64-bit)"), kv("amzn", Some("2")));
        assert_eq!(n("Red Hat Fedora (32-bit)"), kv("fedora", None));
        assert_eq!(n("Ubuntu Linux (64-bit)"), kv("ubuntu", None));
        assert_eq!(
            n("Microsoft Windows Server 2019 (64-bit)"),
            kv("winsrv-2019", None)
        );
        assert_eq!(
            n("Microsoft Windows Server 2008 R2 (64-bit)"),
            kv("winsrv-2008-r2", None)
        );
        assert_eq!(n("Microsoft Windows 10 (64-bit)"), kv("win-10", None));
        assert!(
            GuestOs::from_vmware_name("Other 3.x Linux (64-bit)", GuestOsSource::Import).is_none()
        );
        assert!(GuestOs::from_vmware_name("Other Linux (64-bit)", GuestOsSource::Import).is_none());
        assert_eq!(
            n("Microsoft Windows Server 2016 or later (64-bit)"),
            kv("winsrv", None)
        );
        assert_eq!(
            n("Windows Server 2019, 64-bit (Build 17763.5576)"),
            kv("winsrv-2019", None)
        );
        assert_eq!(
            n("Windows Server 2008 R2, 64-bit"),
            kv("winsrv-2008-r2", None)
        );
        assert_eq!(n("CentOS 7 (64-bit)"), kv("centos", Some("7")));
        assert_eq!(
            n("SUSE Linux Enterprise 15 (64-bit)"),
            kv("sles", Some("15"))
        );
        assert!(GuestOs::from_vmware_name("  ", GuestOsSource::Import).is_none());
    }

    #[test]
    fn vmx_ids_and_detailed_data() {
        let d = "architecture='X86' bitness='64' distroName='Red Hat Enterprise Linux' distroVersion='9.3' kernelVersion='5.14.0-362.8.1.el9_3.x86_64' prettyName='Red Hat Enterprise Linux 9.3 (Plow)'";
        let g = GuestOs::from_vmx(Some("rhel9-64"), Some(d)).unwrap();
        assert_eq!((g.os.as_str(), g.version.as_deref()), ("rhel", Some("9.3")));
        assert_eq!(g.name, "Red Hat Enterprise Linux 9.3 (Plow)");
        assert_eq!(g.kernel.as_deref(), Some("5.14.0-362.8.1.el9_3.x86_64"));
        let v = |id| key(GuestOs::from_vmx(Some(id), None));
        assert_eq!(v("rhel6-64"), kv("rhel", Some("6")));
        assert_eq!(v("ubuntu-64"), kv("ubuntu", None));
        assert_eq!(v("windows8srv-64"), kv("winsrv-2012", None));
        assert_eq!(v("windows2019srvNext-64"), kv("winsrv-2022", None));
        // As VMware Tools writes it for Windows.
        let w = "architecture='X86' bitness='64' buildNumber='17763' distroName='Windows' distroVersion='10.0' familyName='Windows' kernelVersion='17763.5576' prettyName='Windows Server 2019, 64-bit (Build 17763.5576)'";
        for id in ["windows9srv-64", "windows2019srv-64"] {
            assert_eq!(
                key(GuestOs::from_vmx(Some(id), Some(w))),
                kv("winsrv-2019", Some("10.0.17763.5576")),
                "{id}"
            );
        }
        // RVTools' "Guest Detailed Data" alone.
        assert_eq!(
            key(GuestOs::from_vmx(None, Some(w))),
            kv("winsrv-2019", Some("10.0.17763.5576"))
        );
        assert_eq!(v("windows9srv-64"), kv("winsrv", None), "2016 or later");
        let u = "distroName='Ubuntu' distroVersion='22.04' prettyName='Ubuntu 22.04.3 LTS'";
        assert_eq!(
            key(GuestOs::from_vmx(Some("ubuntu-64"), Some(u))),
            kv("ubuntu", Some("22.04.3"))
        );
        // The guest's own release wins over the configured one.
        let w8 = "distroName='Windows' prettyName='Windows Server 2008, 64-bit'";
        assert_eq!(
            key(GuestOs::from_vmx(Some("windows7srv-64"), Some(w8))),
            kv("winsrv-2008", None)
        );
        assert!(GuestOs::from_vmx(Some("other-64"), None).is_none());
        assert!(GuestOs::from_vmx(None, None).is_none());
    }

    #[test]
    fn keys_match_their_kind() {
        let g = GuestOs::from_libosinfo("http://microsoft.com/win/2k19").unwrap();
        assert!(g.is("winsrv") && g.is("winsrv-2019") && !g.is("win") && !g.is("winsrv-2"));
    }

    #[test]
    fn versions_against_baselines() {
        use PatchStatus::*;
        assert_eq!(patch_status("9.4", "9.4"), Current);
        assert_eq!(patch_status("9.10", "9.4"), Current);
        assert_eq!(patch_status("9.3", "9.4"), Behind);
        assert_eq!(patch_status("8", "9.4"), Behind);
        assert_eq!(patch_status("10", "9.4"), Current);
        assert_eq!(patch_status("9", "9.4"), Unknown);
        assert_eq!(patch_status("9", "9.0"), Current);
        assert_eq!(patch_status("10.0.17763.5458", "10.0.17763.6000"), Behind);
        assert_eq!(patch_status("xp", "10"), Unknown);
        assert_eq!(patch_status("22.04", "24.04"), Behind);
    }
}
