//! The VM power-state machine that every driver follows. One exhaustive `match`: adding a
//! state or an action fails to compile until every pair is decided.

use vdc_types::{PowerState, VmAction};

/// An action was asked of a VM whose state does not allow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot go from {from} to {to}")]
pub struct InvalidStateTransition {
    pub from: PowerState,
    pub to: PowerState,
}

impl From<InvalidStateTransition> for vdc_types::Error {
    fn from(e: InvalidStateTransition) -> Self {
        vdc_types::Error::InvalidStateTransition {
            from: e.from,
            to: e.to,
        }
    }
}

/// The state an action is meant to end in.
pub fn requested_state(action: VmAction) -> PowerState {
    match action {
        VmAction::Start | VmAction::Resume => PowerState::Running,
        VmAction::Shutdown | VmAction::Stop => PowerState::Shutoff,
        VmAction::Suspend => PowerState::Paused,
    }
}

/// The state a VM enters right after `action` from `from`, or why it cannot.
///
/// A graceful shutdown enters `ShuttingDown`; the guest completes it later ([`settle`]).
pub fn transition(
    from: PowerState,
    action: VmAction,
) -> Result<PowerState, InvalidStateTransition> {
    use PowerState::*;
    use VmAction::*;
    let invalid = Err(InvalidStateTransition {
        from,
        to: requested_state(action),
    });
    match (from, action) {
        (Shutoff | Crashed, Start) => Ok(Running),
        (Running | Paused | ShuttingDown | Unknown, Start) => invalid,

        // Pressing the button again while the guest shuts down is allowed: a guest that is
        // still booting misses the first press.
        (Running | ShuttingDown, Shutdown) => Ok(ShuttingDown),
        (Shutoff | Paused | Crashed | Unknown, Shutdown) => invalid,

        (Running | Paused | ShuttingDown | Crashed, Stop) => Ok(Shutoff),
        (Shutoff | Unknown, Stop) => invalid,

        (Running, Suspend) => Ok(Paused),
        (Shutoff | Paused | ShuttingDown | Crashed | Unknown, Suspend) => invalid,

        (Paused, Resume) => Ok(Running),
        (Shutoff | Running | ShuttingDown | Crashed | Unknown, Resume) => invalid,
    }
}

/// The state a transient state settles into once the guest finishes (an ACPI shutdown ends
/// in `Shutoff`); stable states settle into themselves.
pub fn settle(state: PowerState) -> PowerState {
    use PowerState::*;
    match state {
        ShuttingDown => Shutoff,
        Shutoff | Running | Paused | Crashed | Unknown => state,
    }
}

/// True when a VM in `state` already is where `action` would take it, so a retried job step
/// can skip the call.
pub fn already_done(state: PowerState, action: VmAction) -> bool {
    match action {
        // A shutdown in progress counts: the guest is already on its way to `Shutoff`.
        VmAction::Shutdown => matches!(state, PowerState::Shutoff | PowerState::ShuttingDown),
        VmAction::Start | VmAction::Stop | VmAction::Suspend | VmAction::Resume => {
            state == requested_state(action)
        }
    }
}

/// True when the VM holds host resources (CPU and memory) in this state.
pub fn consumes_resources(state: PowerState) -> bool {
    use PowerState::*;
    match state {
        Running | Paused | ShuttingDown => true,
        Shutoff | Crashed | Unknown => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pair_is_decided_and_valid_moves_reach_the_requested_state() {
        for &from in PowerState::ALL {
            for &action in VmAction::ALL {
                match transition(from, action) {
                    Ok(next) => {
                        assert_eq!(settle(next), requested_state(action), "{from} {action}")
                    }
                    Err(e) => {
                        assert_eq!(e.from, from);
                        assert_eq!(e.to, requested_state(action));
                    }
                }
            }
        }
    }

    #[test]
    fn lifecycle_examples() {
        use PowerState::*;
        assert_eq!(transition(Shutoff, VmAction::Start), Ok(Running));
        assert_eq!(transition(Running, VmAction::Shutdown), Ok(ShuttingDown));
        assert_eq!(
            transition(ShuttingDown, VmAction::Shutdown),
            Ok(ShuttingDown)
        );
        assert_eq!(settle(ShuttingDown), Shutoff);
        assert_eq!(
            transition(Running, VmAction::Start),
            Err(InvalidStateTransition {
                from: Running,
                to: Running
            })
        );
        assert!(transition(Unknown, VmAction::Stop).is_err());
        assert!(already_done(ShuttingDown, VmAction::Shutdown));
        assert!(!already_done(Running, VmAction::Stop));
    }
}
