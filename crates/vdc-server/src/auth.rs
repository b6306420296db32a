//! Who is calling and what they may do: argon2 password hashes, opaque bearer tokens stored as
//! SHA-256, and role + department scope checks. Secrets never reach a log line: tokens and
//! passwords are only ever hashed or compared here.

use argon2::password_hash::phc::PasswordHash;
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use base64::Engine;
use sha2::{Digest, Sha256};
use vdc_db::User;
use vdc_types::{ClusterId, DepartmentId, Error, Permission};

/// Hashes a password (argon2id, PHC string).
pub fn hash_password(password: &str) -> Result<String, Error> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)
        .map_err(|e| Error::internal(format!("no randomness for a salt: {e}")))?;
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h: PasswordHash| h.to_string())
        .map_err(|e| Error::internal(format!("password hashing failed: {e}")))
}

/// True when `password` matches the PHC hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash to verify against when the user does not exist, so a login for an unknown name
/// takes as long as one with a wrong password (no user enumeration by timing).
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not-a-real-password").expect("argon2 with defaults hashes"))
}

/// 32 random bytes, base64url: a new bearer token or generated password.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the store keeps of a token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_tokens() {
        let h = hash_password("s3cret-pass").unwrap();
        assert!(verify_password("s3cret-pass", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a phc string"));
        let t = random_secret();
        assert_eq!(t.len(), 43);
        assert_ne!(t, random_secret());
        assert_eq!(token_hash(&t).len(), 64);
    }
}
