//! VM leases: what the lease controller does to a VM whose lease nears or passes its expiry.
//! Warned once within the warning window; at expiry powered off (or, already off, marked
//! expired); deleted once the retention after expiry has passed. Until deletion, extending the
//! lease undoes it all (the caller clears the marks).

/// When the controller acts, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeasePolicy {
    /// Warn this long before expiry.
    pub warn_before_ms: i64,
    /// Delete this long after expiry.
    pub retention_ms: i64,
}

/// A VM with a lease, as the controller sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseVm {
    pub expires_at: i64,
    /// Its owner was warned.
    pub warned: bool,
    /// The controller handled its expiry.
    pub expired: bool,
    /// It runs (or is paused): powering it off is needed at expiry.
    pub running: bool,
}

/// One step of the controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseStep {
    /// Tell the owner the lease ends soon.
    Warn,
    /// The lease ended: power the VM off.
    PowerOff,
    /// The lease ended and the VM is already off: record it.
    MarkExpired,
    /// The retention after expiry is over: delete the VM.
    Delete,
}

/// The step due for `vm` at `now`, if any.
pub fn step(vm: &LeaseVm, now: i64, p: &LeasePolicy) -> Option<LeaseStep> {
    if vm.expired {
        return (now >= vm.expires_at.saturating_add(p.retention_ms)).then_some(LeaseStep::Delete);
    }
    if now >= vm.expires_at {
        return Some(if vm.running {
            LeaseStep::PowerOff
        } else {
            LeaseStep::MarkExpired
        });
    }
    (!vm.warned && now >= vm.expires_at.saturating_sub(p.warn_before_ms)).then_some(LeaseStep::Warn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: i64 = 86_400_000;
    const P: LeasePolicy = LeasePolicy {
        warn_before_ms: 7 * DAY,
        retention_ms: 30 * DAY,
    };

    #[test]
    fn a_lease_runs_its_course() {
        let mut vm = LeaseVm {
            expires_at: 100 * DAY,
            warned: false,
            expired: false,
            running: true,
        };
        assert_eq!(step(&vm, 90 * DAY, &P), None);
        assert_eq!(step(&vm, 93 * DAY, &P), Some(LeaseStep::Warn));
        vm.warned = true;
        assert_eq!(step(&vm, 99 * DAY, &P), None);
        assert_eq!(step(&vm, 100 * DAY, &P), Some(LeaseStep::PowerOff));
        vm.expired = true;
        vm.running = false;
        assert_eq!(step(&vm, 129 * DAY, &P), None);
        assert_eq!(step(&vm, 130 * DAY, &P), Some(LeaseStep::Delete));
        let off = LeaseVm {
            running: false,
            warned: false,
            expired: false,
            ..vm
        };
        assert_eq!(step(&off, 101 * DAY, &P), Some(LeaseStep::MarkExpired));
    }

    proptest! {
        /// Replaying the controller over time, with its marks applied after each step: a VM is
        /// never powered off or marked before expiry, never deleted before the retention
        /// ends, warned at most once, and each step comes in order.
        #[test]
        fn steps_come_in_order_and_never_early(
            expires in 0i64..1000,
            running in any::<bool>(),
            ticks in prop::collection::vec(0i64..50, 1..60),
        ) {
            let p = LeasePolicy { warn_before_ms: 70, retention_ms: 300 };
            let mut vm = LeaseVm { expires_at: expires, warned: false, expired: false, running };
            let mut now = 0;
            let mut seen = Vec::new();
            for t in ticks {
                now += t;
                if let Some(s) = step(&vm, now, &p) {
                    match s {
                        LeaseStep::Warn => {
                            prop_assert!(now >= expires - 70 && now < expires && !vm.warned);
                            vm.warned = true;
                        }
                        LeaseStep::PowerOff | LeaseStep::MarkExpired => {
                            prop_assert!(now >= expires && !vm.expired);
                            prop_assert_eq!(s == LeaseStep::PowerOff, vm.running);
                            vm.expired = true;
                            vm.running = false;
                        }
                        LeaseStep::Delete => {
                            prop_assert!(vm.expired && now >= expires + 300);
                            seen.push(s);
                            break;
                        }
                    }
                    seen.push(s);
                }
            }
            let order = |s: &LeaseStep| match s {
                LeaseStep::Warn => 0,
                LeaseStep::PowerOff | LeaseStep::MarkExpired => 1,
                LeaseStep::Delete => 2,
            };
            prop_assert!(seen.windows(2).all(|w| order(&w[0]) < order(&w[1])), "{:?}", seen);
        }
    }
}
