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

/// XML namespace of vdc's element inside a domain's `<metadata>`.
pub const METADATA_NS: &str = "https://vdc.dev/xmlns/vm/1";
