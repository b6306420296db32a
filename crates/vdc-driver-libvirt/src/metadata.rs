//! vdc's ownership metadata inside libvirt domain XML: written into `<metadata>` when vdc
//! defines a domain (or `set_metadata` rewrites it), read back on every sync. Pure string
//! work, no libvirt calls, so it is built and tested without the `libvirt` feature.
//!
//! The element's presence *is* [`VmMetadata::managed`]: a domain carrying `<vdc:vm>` is
//! vdc's, one without it is not. So metadata with `managed == false` has no XML form at all
//! ([`to_xml`] gives `None`) and anything else in it (an owner, tags) is not kept: an
//! unmanaged VM has no vdc ownership by definition.

use vdc_driver::VmMetadata;

use crate::METADATA_NS;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// The `<vdc:vm>` element for a domain's `<metadata>` (namespace declared on it), or `None`
/// for unmanaged metadata, which is written as no element.
pub fn to_xml(m: &VmMetadata) -> Option<String> {
    m.managed
        .then(|| render(m, "vdc:", &format!(" xmlns:vdc=\"{METADATA_NS}\"")))
}

/// The element as `virDomainSetMetadata` wants it: no prefix and no namespace declaration,
/// because libvirt puts the element (and its children) into the namespace it is given and
/// refuses an element that declares one itself. `None` for unmanaged metadata, which
/// removes the element.
pub fn to_set_metadata_xml(m: &VmMetadata) -> Option<String> {
    m.managed.then(|| render(m, "", ""))
}

fn render(m: &VmMetadata, prefix: &str, xmlns: &str) -> String {
    let mut out = format!("<{prefix}vm{xmlns}>");
    let mut field = |name: &str, v: &Option<String>| {
        if let Some(v) = v {
            out.push_str(&format!("<{prefix}{name}>{}</{prefix}{name}>", escape(v)));
        }
    };
    field("owner", &m.owner);
    field("department", &m.department);
    field("purpose", &m.purpose);
    field(
        "lease-expires-ms",
        &m.lease_expires_at.map(|l| l.to_string()),
    );
    for t in &m.tags {
        out.push_str(&format!("<{prefix}tag>{}</{prefix}tag>", escape(t)));
    }
    out.push_str(&format!("</{prefix}vm>"));
    out
}

/// vdc's metadata from a whole domain XML document: `managed` with the fields when the domain
/// carries vdc's element, empty (unmanaged) when it has none (a domain created outside vdc).
/// Unparseable XML also gives empty metadata: ownership is then unknown, which is what the
/// inventory shows.
pub fn from_domain_xml(xml: &str) -> VmMetadata {
    let mut m = VmMetadata::default();
    let Ok(doc) = roxmltree::Document::parse(xml) else {
        return m;
    };
    let Some(vm) = doc
        .root_element()
        .children()
        .filter(|n| n.has_tag_name("metadata"))
        .flat_map(|n| n.children())
        .find(|n| n.tag_name().namespace() == Some(METADATA_NS) && n.tag_name().name() == "vm")
    else {
        return m;
    };
    m.managed = true;
    for c in vm
        .children()
        .filter(|c| c.is_element() && c.tag_name().namespace() == Some(METADATA_NS))
    {
        let text = c.text().unwrap_or("").to_string();
        match c.tag_name().name() {
            "owner" => m.owner = Some(text),
            "department" => m.department = Some(text),
            "purpose" => m.purpose = Some(text),
            "lease-expires-ms" => m.lease_expires_at = text.parse().ok(),
            "tag" => m.tags.push(text),
            _ => {}
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips_through_a_domain_document() {
        let m = VmMetadata {
            managed: true,
            owner: Some("alice".into()),
            department: Some("r&d <lab>".into()),
            purpose: Some("build 'farm'".into()),
            tags: vec!["prod".into(), "web".into()],
            lease_expires_at: Some(1_800_000_000_000),
        };
        let xml = format!(
            "<domain type='qemu'><name>x</name><metadata><other xmlns='urn:x'/>{}</metadata></domain>",
            to_xml(&m).unwrap()
        );
        assert_eq!(from_domain_xml(&xml), m);
        // An element without fields still marks the domain as vdc's.
        let bare = VmMetadata {
            managed: true,
            ..VmMetadata::default()
        };
        let xml = format!(
            "<domain><metadata>{}</metadata></domain>",
            to_xml(&bare).unwrap()
        );
        assert_eq!(from_domain_xml(&xml), bare);
        assert_eq!(
            from_domain_xml("<domain><name>x</name></domain>"),
            VmMetadata::default()
        );
        assert_eq!(from_domain_xml("not xml"), VmMetadata::default());
    }

    #[test]
    fn unmanaged_metadata_has_no_element() {
        let m = VmMetadata {
            managed: false,
            owner: Some("alice".into()),
            ..VmMetadata::default()
        };
        assert_eq!(to_xml(&m), None);
        assert_eq!(to_set_metadata_xml(&m), None);
    }

    #[test]
    fn set_metadata_form_is_unprefixed() {
        let m = VmMetadata {
            managed: true,
            owner: Some("a<b".into()),
            tags: vec!["t".into()],
            ..VmMetadata::default()
        };
        assert_eq!(
            to_set_metadata_xml(&m).unwrap(),
            "<vm><owner>a&lt;b</owner><tag>t</tag></vm>"
        );
        // What libvirt stores after setting it with key `vdc` reads back the same.
        let stored = format!(
            "<domain><metadata><vdc:vm xmlns:vdc=\"{METADATA_NS}\"><vdc:owner>a&lt;b</vdc:owner><vdc:tag>t</vdc:tag></vdc:vm></metadata></domain>"
        );
        assert_eq!(from_domain_xml(&stored), m);
    }
}
