//! The libvirt driver: the only vdc crate that links libvirt, behind the cargo feature
//! `libvirt` so a plain build needs no libvirt development files. It implements
//! `vdc_driver::HostDriver` over one libvirt connection (`qemu:///system`, `qemu+ssh://…`,
//! `xen://`, `test:///…`, …) and follows the same VM state machine as the simulator.
//!
//! vdc's ownership data travels with each domain in its `<metadata>` under the
//! [`METADATA_NS`] namespace ([`metadata`]), so an inventory can be rebuilt from the
//! hypervisors alone. VM counters come in bulk from `virConnectGetAllDomainStats` (the
//! private `stats` module), and VM lifecycle events from a callback on each connection,
//! run by a process-wide libvirt event loop (the private `events` module). Those two
//! modules hold the crate's only `unsafe` code: virt 0.5 has no usable wrapper.

pub mod metadata;

#[cfg(feature = "libvirt")]
mod driver;
#[cfg(feature = "libvirt")]
mod events;
#[cfg(feature = "libvirt")]
mod stats;

#[cfg(feature = "libvirt")]
pub use driver::{LibvirtHost, Options};

/// Opens [`LibvirtHost`] drivers (the connector `vdc serve` gives the server). A build without
/// the `libvirt` feature refuses every URI with the reason.
#[derive(Debug, Default, Clone, Copy)]
pub struct LibvirtConnector;

impl vdc_driver::Connector for LibvirtConnector {
    #[cfg(feature = "libvirt")]
    fn connect(
        &self,
        uri: &str,
        domain_type: Option<&str>,
    ) -> Result<std::sync::Arc<dyn vdc_driver::HostDriver>, vdc_driver::DriverError> {
        let opts = Options {
            domain_type: domain_type.unwrap_or("kvm").to_string(),
            ..Options::default()
        };
        Ok(std::sync::Arc::new(LibvirtHost::connect(uri, opts)?))
    }

    #[cfg(not(feature = "libvirt"))]
    fn connect(
        &self,
        uri: &str,
        _domain_type: Option<&str>,
    ) -> Result<std::sync::Arc<dyn vdc_driver::HostDriver>, vdc_driver::DriverError> {
        Err(vdc_driver::DriverError::HostUnreachable {
            uri: uri.to_string(),
            reason: "this vdc was built without libvirt support (cargo feature `libvirt`)".into(),
        })
    }
}

/// XML namespace of vdc's element inside a domain's `<metadata>`.
pub const METADATA_NS: &str = "https://vdc.dev/xmlns/vm/1";
