//! Inventory (C1, C2): hosts and VMs as the hypervisors report them, the sync that keeps them
//! so and flags rogue VMs, VM creation and operations, and imports of other tools' inventories.

pub mod create;
pub mod hosts;
pub mod imports;
pub mod physical;
pub mod sync;
pub mod vm_ops;
pub mod vms;
