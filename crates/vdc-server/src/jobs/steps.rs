//! The steps of each kind of job, one enum per kind: a job's runner matches its kind's enum
//! exhaustively, so a step without a handler does not compile. The store keeps each step by its
//! name; a name the job's kind does not have is a corrupt job, never a step skipped.

use vdc_types::Error;

use super::JobSpec;

macro_rules! steps {
    ($(#[$doc:meta])* $name:ident { $($v:ident => $s:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum $name { $($v),* }

        impl $name {
            /// The step's name, as the store keeps it.
            pub(crate) fn name(self) -> &'static str {
                match self { $($name::$v => $s),* }
            }

            /// The step called `name`; a name of another kind is a corrupt job.
            pub(crate) fn parse(name: &str) -> Result<Self, Error> {
                match name {
                    $($s => Ok($name::$v),)*
                    other => Err(Error::internal(format!(
                        "corrupt job: {} has no step {other:?}",
                        stringify!($name)
                    ))),
                }
            }
        }
    };
}

steps!(
    /// `vm.create`: define the VM on its host, start it if asked, read it back.
    CreateStep { Define => "define", Start => "start", Refresh => "refresh" }
);
steps!(
    /// `vm.start`, `vm.stop`, …: ask for the action, wait until the state settles, read it back.
    ActionStep { Act => "act", Wait => "wait", Refresh => "refresh" }
);
steps!(
    /// `vm.delete`: stop the VM if it runs, undefine it, forget its record.
    DeleteStep { Stop => "stop", Undefine => "undefine", Forget => "forget" }
);
steps!(
    /// `vm.migrate`: move the VM (unless it already is on the target), read it back.
    MigrateStep { Migrate => "migrate", Refresh => "refresh" }
);
steps!(
    /// `vm.snapshot_*`: create, revert to or delete the snapshot, read the VM back.
    SnapshotStep { Snapshot => "snapshot", Refresh => "refresh" }
);
steps!(
    /// `vm.quarantine`: mark the record quarantined, suspend the VM if it runs, read it back.
    QuarantineStep { Mark => "mark", Suspend => "suspend", Refresh => "refresh" }
);
steps!(
    /// `host.failover`: fence the dead host, restart its HA-protected VMs elsewhere.
    FailoverStep { Fence => "fence", Restart => "restart" }
);

impl JobSpec {
    /// The names of the job's steps, in order.
    pub(super) fn step_names(&self) -> Vec<&'static str> {
        use ActionStep as A;
        use CreateStep as C;
        use DeleteStep as D;
        use FailoverStep as F;
        use MigrateStep as M;
        use QuarantineStep as Q;
        use SnapshotStep as S;
        match self {
            JobSpec::VmCreate { start: true, .. } => {
                [C::Define, C::Start, C::Refresh].map(C::name).to_vec()
            }
            JobSpec::VmCreate { start: false, .. } => [C::Define, C::Refresh].map(C::name).to_vec(),
            JobSpec::VmAction { .. } => [A::Act, A::Wait, A::Refresh].map(A::name).to_vec(),
            JobSpec::VmDelete { .. } => [D::Stop, D::Undefine, D::Forget].map(D::name).to_vec(),
            JobSpec::VmMigrate { .. } => [M::Migrate, M::Refresh].map(M::name).to_vec(),
            JobSpec::VmSnapshot { .. } => [S::Snapshot, S::Refresh].map(S::name).to_vec(),
            JobSpec::VmQuarantine { .. } => [Q::Mark, Q::Suspend, Q::Refresh].map(Q::name).to_vec(),
            JobSpec::HostFailover { .. } => [F::Fence, F::Restart].map(F::name).to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vdc_types::{HostId, VmAction, VmId};

    /// Every kind's step names parse back into its own steps, and a name of another kind
    /// does not.
    #[test]
    fn step_names_round_trip_per_kind() {
        let vm_id = VmId::new();
        let specs = [
            JobSpec::VmCreate {
                vm_id,
                start: true,
                boot: None,
            },
            JobSpec::VmAction {
                vm_id,
                action: VmAction::Stop,
            },
            JobSpec::VmDelete { vm_id },
            JobSpec::VmMigrate {
                vm_id,
                to: HostId::new(),
            },
            JobSpec::VmQuarantine { vm_id },
            JobSpec::HostFailover {
                host_id: HostId::new(),
                dead_ms: 0,
                vms: vec![vm_id],
            },
        ];
        for spec in &specs {
            for name in spec.step_names() {
                let parsed = match spec {
                    JobSpec::VmCreate { .. } => CreateStep::parse(name).map(|s| s.name()),
                    JobSpec::VmAction { .. } => ActionStep::parse(name).map(|s| s.name()),
                    JobSpec::VmDelete { .. } => DeleteStep::parse(name).map(|s| s.name()),
                    JobSpec::VmMigrate { .. } => MigrateStep::parse(name).map(|s| s.name()),
                    JobSpec::VmSnapshot { .. } => SnapshotStep::parse(name).map(|s| s.name()),
                    JobSpec::VmQuarantine { .. } => QuarantineStep::parse(name).map(|s| s.name()),
                    JobSpec::HostFailover { .. } => FailoverStep::parse(name).map(|s| s.name()),
                };
                assert_eq!(parsed.unwrap(), name);
            }
        }
        let e = CreateStep::parse("forget").unwrap_err();
        assert!(e.to_string().contains("corrupt job"), "{e}");
    }
}
