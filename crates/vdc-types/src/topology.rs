//! Hardware value types that the drivers report, the store keeps and the engines read: one
//! definition each, shared by every crate.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One NUMA cell of a host: its logical CPUs and memory. The API shows it as it is (under its
/// old schema name, `NumaCellView`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[schema(as = NumaCellView, description = "A NUMA cell of a host.")]
pub struct NumaCell {
    /// The cell's number on its host.
    pub id: u32,
    pub cpus: u32,
    pub memory_mib: u64,
}

/// How a host's logical CPUs are arranged: sockets × cores per socket × threads per core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct CpuTopology {
    pub sockets: u32,
    pub cores_per_socket: u32,
    pub threads_per_core: u32,
}

impl CpuTopology {
    pub const fn new(sockets: u32, cores_per_socket: u32, threads_per_core: u32) -> Self {
        Self {
            sockets,
            cores_per_socket,
            threads_per_core,
        }
    }

    /// `sockets × cores_per_socket × threads_per_core`, saturating rather than wrapping on an
    /// absurd report.
    pub fn logical_cpus(&self) -> u32 {
        self.sockets
            .saturating_mul(self.cores_per_socket)
            .saturating_mul(self.threads_per_core)
    }
}

/// `2x16x2`: sockets × cores per socket × threads per core.
impl std::fmt::Display for CpuTopology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}x{}x{}",
            self.sockets, self.cores_per_socket, self.threads_per_core
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_cpus_multiplies_and_saturates() {
        let t = CpuTopology {
            sockets: 2,
            cores_per_socket: 16,
            threads_per_core: 2,
        };
        assert_eq!(t.logical_cpus(), 64);
        assert_eq!(t.to_string(), "2x16x2");
        let huge = CpuTopology {
            sockets: u32::MAX,
            cores_per_socket: 2,
            threads_per_core: 1,
        };
        assert_eq!(huge.logical_cpus(), u32::MAX);
        assert_eq!(CpuTopology::default().logical_cpus(), 0);
    }
}
