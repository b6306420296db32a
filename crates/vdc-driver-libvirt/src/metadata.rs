//! vdc's ownership metadata inside libvirt domain XML: written into `<metadata>` when vdc
//! defines a domain, read back on every sync. Pure string work, no libvirt calls, so it is
//! built and tested without the `libvirt` feature.

use vdc_driver::VmMetadata;

use crate::METADATA_NS;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// The `<vdc:vm>` element for a domain's `<metadata>`.
pub fn to_xml(m: &VmMetadata) -> String {
    let mut out = format!("<vdc:vm xmlns:vdc=\"{METADATA_NS}\">");
    let mut field = |name: &str, v: &Option<String>| {
        if let Some(v) = v {
            out.push_str(&format!("<vdc:{name}>{}</vdc:{name}>", escape(v)));
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
        out.push_str(&format!("<vdc:tag>{}</vdc:tag>", escape(t)));
    }
    out.push_str("</vdc:vm>");
    out
}

/// vdc's metadata from a whole domain XML document; empty when the domain has none (a domain
/// created outside vdc). Unparseable XML also gives empty metadata: ownership is then unknown,
/// which is what the inventory shows.
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
            owner: Some("alice".into()),
            department: Some("r&d <lab>".into()),
            purpose: Some("build 'farm'".into()),
            tags: vec!["prod".into(), "web".into()],
            lease_expires_at: Some(1_800_000_000_000),
        };
        let xml = format!(
            "<domain type='qemu'><name>x</name><metadata><other xmlns='urn:x'/>{}</metadata></domain>",
            to_xml(&m)
        );
        assert_eq!(from_domain_xml(&xml), m);
        assert_eq!(
            from_domain_xml("<domain><name>x</name></domain>"),
            VmMetadata::default()
        );
        assert_eq!(from_domain_xml("not xml"), VmMetadata::default());
    }
}
