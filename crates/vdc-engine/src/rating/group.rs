//! Group placement: several VMs placed all or nothing.

use super::*;

// ---------------------------------------------------------------------------------------------
// Group placement

/// Places `reqs` one by one, each on the best host given the ones placed before it (their
/// vCPUs, memory, disks and group memberships are committed in between, so anti-affinity holds
/// within the group). All or nothing: the first VM that fits nowhere fails the whole group.
/// Greedy, not a search: a group that fits only in another order is refused. Returns each
/// VM's rating (its `chosen` host set, its best `explain` hosts explained).
pub fn place_group(
    hosts: &[HostSnapshot],
    reqs: &[VmRequest],
    policy: &Policy,
    explain: usize,
) -> Result<Vec<Rating>, GroupError> {
    let mut rater = Rater::new(hosts, policy.clone());
    let mut placed = Vec::with_capacity(reqs.len());
    for (index, req) in reqs.iter().enumerate() {
        let (rating, chosen) = rater.rate_top_inner(req, explain.max(1));
        let Some(i) = chosen else {
            return Err(GroupError {
                index,
                rejected: rating.rejected,
            });
        };
        rater.commit_idx(i, req);
        placed.push(rating);
    }
    Ok(placed)
}

/// The hosts `place_group` chose, in order.
pub fn chosen_hosts(ratings: &[Rating]) -> Vec<HostId> {
    ratings.iter().filter_map(|r| r.chosen).collect()
}
