//! The authenticated caller ([`Actor`]) and what it may do: the roles it holds at their scopes
//! (global, a department, a cluster), permission checks against the scope of what an operation
//! touches, and the read scope lists are filtered to.

use vdc_db::User;
use vdc_types::{ClusterId, DepartmentId, Error, Permission, UnixMs};

/// A role the caller holds, resolved to its permissions, at its scope.
#[derive(Debug, Clone)]
pub struct Grant {
    pub role: String,
    pub permissions: Vec<Permission>,
    pub department: Option<DepartmentId>,
    pub cluster: Option<ClusterId>,
}

impl Grant {
    fn is_global(&self) -> bool {
        self.department.is_none() && self.cluster.is_none()
    }

    /// The grant's scope covers `on`.
    fn covers(&self, on: On) -> bool {
        match (self.department, self.cluster) {
            (None, None) => true,
            (Some(d), _) => on.department == Some(d),
            (None, Some(c)) => on.cluster == Some(c),
        }
    }
}

/// Where a resource lives, for scope checks: its department and cluster, when it has them.
/// `On::global()` (neither) is covered only by global grants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct On {
    pub department: Option<DepartmentId>,
    pub cluster: Option<ClusterId>,
}

impl On {
    /// Something of no department or cluster (users, departments, the audit log).
    pub fn global() -> On {
        On::default()
    }

    pub fn department(d: Option<DepartmentId>) -> On {
        On {
            department: d,
            cluster: None,
        }
    }

    pub fn cluster(c: ClusterId) -> On {
        On {
            department: None,
            cluster: Some(c),
        }
    }
}

/// The departments and clusters a caller may read in, when not everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadScope {
    pub departments: Vec<DepartmentId>,
    pub clusters: Vec<ClusterId>,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user: User,
    pub grants: Vec<Grant>,
    /// The permissions the caller's token is limited to, if it is.
    pub token_limit: Option<Vec<Permission>>,
    /// When the caller's API token ends: tokens it mints end no later (`None` for a password
    /// login's session, which may mint long-lived tokens, and for the server's own actors).
    pub token_expires_at: Option<UnixMs>,
}

impl Actor {
    /// The name recorded in audit records.
    pub fn name(&self) -> &str {
        &self.user.username
    }

    /// True when a grant with `p` covers `on`.
    pub fn can(&self, p: Permission, on: On) -> bool {
        self.grants
            .iter()
            .any(|g| g.permissions.contains(&p) && g.covers(on))
    }

    /// True when the caller holds `p` at any scope.
    pub fn has_anywhere(&self, p: Permission) -> bool {
        self.grants.iter().any(|g| g.permissions.contains(&p))
    }

    /// Refuses unless a grant with `p` covers `on`, saying what was missing.
    pub fn require(&self, p: Permission, on: On) -> Result<(), Error> {
        if self.can(p, on) {
            return Ok(());
        }
        let held: Vec<String> = self
            .grants
            .iter()
            .map(|g| match (g.department, g.cluster) {
                (Some(d), _) => format!("{} in department {d}", g.role),
                (None, Some(c)) => format!("{} in cluster {c}", g.role),
                (None, None) => g.role.clone(),
            })
            .collect();
        let scope = match (on.department, on.cluster) {
            (None, None) => String::new(),
            (Some(d), _) => format!(" in department {d}"),
            (None, Some(c)) => format!(" in cluster {c}"),
        };
        Err(Error::forbidden(format!(
            "requires permission {p}{scope}; you hold: {}",
            if held.is_empty() {
                "no role".to_string()
            } else {
                held.join(", ")
            }
        )))
    }

    /// Where the caller may read: `None` for everywhere (a global grant with
    /// `inventory.read`).
    pub fn read_scope(&self) -> Option<ReadScope> {
        let readers = self
            .grants
            .iter()
            .filter(|g| g.permissions.contains(&Permission::InventoryRead));
        let mut scope = ReadScope::default();
        for g in readers {
            if g.is_global() {
                return None;
            }
            scope.departments.extend(g.department);
            scope.clusters.extend(g.cluster);
        }
        Some(scope)
    }

    /// True when the caller may see a resource at `on`.
    pub fn sees(&self, on: On) -> bool {
        self.can(Permission::InventoryRead, on)
    }
}
