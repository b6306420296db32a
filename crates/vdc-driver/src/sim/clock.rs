//! The simulated clock (automatic or single-step) and the operations a fault knob can make fail.

use super::*;

// ---------------------------------------------------------------------------------------------
// Clock and operations
// ---------------------------------------------------------------------------------------------

/// The simulator's notion of time.
///
/// Sim time starts at zero. An automatic clock follows real time since the clock was created;
/// a manual clock stands still until [`SimFleet::advance`] moves it. `advance` also works on
/// an automatic clock (it jumps ahead).
#[derive(Debug, Clone, Copy)]
pub struct SimClock {
    /// `Some` for an automatic clock: the real instant sim time zero corresponds to.
    pub(crate) epoch: Option<Instant>,
}

impl SimClock {
    /// A clock that follows real time, starting now.
    pub fn automatic() -> SimClock {
        SimClock {
            epoch: Some(Instant::now()),
        }
    }

    /// A single-step clock: time moves only on [`SimFleet::advance`].
    pub fn manual() -> SimClock {
        SimClock { epoch: None }
    }

    /// True for a [`SimClock::manual`] clock.
    pub fn is_manual(&self) -> bool {
        self.epoch.is_none()
    }

    pub(crate) fn real_elapsed(&self) -> Duration {
        self.epoch.map(|e| e.elapsed()).unwrap_or_default()
    }
}

/// The driver operations [`SimFleet::fail_next`] can make fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimOp {
    /// [`HostDriver::define`].
    Define,
    /// [`HostDriver::act`] with [`VmAction::Start`].
    Start,
    /// [`HostDriver::act`] with [`VmAction::Shutdown`].
    Shutdown,
    /// [`HostDriver::act`] with [`VmAction::Stop`].
    Stop,
    /// [`HostDriver::act`] with [`VmAction::Suspend`].
    Suspend,
    /// [`HostDriver::act`] with [`VmAction::Resume`].
    Resume,
    /// [`HostDriver::undefine`].
    Undefine,
    /// [`HostDriver::migrate`].
    Migrate,
    /// [`HostDriver::list_vms`].
    ListVms,
    /// [`HostDriver::host_info`].
    HostInfo,
    /// [`HostDriver::snapshot_create`] and [`HostDriver::snapshot_revert`].
    Snapshot,
}

impl SimOp {
    /// Every operation, in declaration order.
    pub const ALL: &'static [SimOp] = &[
        SimOp::Define,
        SimOp::Start,
        SimOp::Shutdown,
        SimOp::Stop,
        SimOp::Suspend,
        SimOp::Resume,
        SimOp::Undefine,
        SimOp::Migrate,
        SimOp::ListVms,
        SimOp::HostInfo,
        SimOp::Snapshot,
    ];

    /// The name used as `op` in [`DriverError::OperationFailed`].
    pub fn as_str(self) -> &'static str {
        match self {
            SimOp::Define => "define",
            SimOp::Start => "start",
            SimOp::Shutdown => "shutdown",
            SimOp::Stop => "stop",
            SimOp::Suspend => "suspend",
            SimOp::Resume => "resume",
            SimOp::Undefine => "undefine",
            SimOp::Migrate => "migrate",
            SimOp::ListVms => "list_vms",
            SimOp::HostInfo => "host_info",
            SimOp::Snapshot => "snapshot",
        }
    }

    /// The operation of a power action.
    pub fn from_action(action: VmAction) -> SimOp {
        match action {
            VmAction::Start => SimOp::Start,
            VmAction::Shutdown => SimOp::Shutdown,
            VmAction::Stop => SimOp::Stop,
            VmAction::Suspend => SimOp::Suspend,
            VmAction::Resume => SimOp::Resume,
        }
    }

    pub(crate) fn slot(self) -> usize {
        self as usize
    }
}

impl fmt::Display for SimOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
