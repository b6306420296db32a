//! The benchmark of dynamic VM consolidation against the published peer: CloudSim 3.0.3's
//! PlanetLab model of Beloglazov & Buyya (CCPE 2012), as specified in
//! `testdata/bench/cloudsim-reference.md`. The product's own consolidation (the fewest hosts for
//! a live cluster) is `vdc_engine::consolidation`; this model only measures policies.
//!
//! The module is split along the seam that lets another policy run inside the same model:
//!
//! - [`model`] is the **model and harness**: 800 hosts, the VM types, the PlanetLab demand,
//!   the clock (epochs at 300.1 + 300k s, migration completions as extra events), CPU sharing
//!   with over-subscription, migration overheads, and the accounting of energy, SLATAH, PDM and
//!   host shutdowns. It asks an [`EpochPolicy`] what to do at t = 0 and at every epoch, and
//!   applies the answer.
//! - [`policies`] holds the **CloudSim policies** (THR/IQR/MAD/LR with MMT selection, and the
//!   no-migration DVFS baseline) behind that trait, plus the pieces they are built from, public
//!   so that another policy can reuse them: the tentative allocation CloudSim plans on, the
//!   power-aware best fit (PABFD), MMT selection and the overload detectors.
//! - [`stats`] has the statistics the detectors use (IQR, MAD, commons-math percentile, OLS).
//! - [`trace`] parses a day of traces and evaluates a trace at any time.
//! - [`vdc`] is **vdc's own policy** in the same model (reacts to current overloads, places
//!   with predicted headroom, drains a host only when it pays), and [`benchmark_policies`], the
//!   fixed list the benchmark runs.
//!
//! Everything is pure and deterministic: traces come in as data, results go out as data. The
//! only clock is the one a caller may pass to [`model::run_day_timed`] to measure how long
//! the policy takes to decide.

pub mod model;
pub mod policies;
pub mod stats;
pub mod trace;
pub mod vdc;

pub use model::{
    DayResult, EpochPolicy, EpochView, HostView, Move, RunOptions, VmView, run_day, run_day_timed,
};
pub use policies::{CloudSimPolicy, Detector, Dvfs};
pub use trace::parse_day;
pub use vdc::{VdcParams, VdcPolicy, benchmark_policies, policy_key};
