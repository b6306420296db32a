//! Parameters of the `governance` endpoints: audit, departments, users and roles, requests,
//! quotas and prices.

use super::*;

/// `GET /api/v1/audit` and `GET /api/v1/audit/export`: filters (all optional, combined with
/// AND), and paging for the list.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Exactly this actor (a username, `system`, `balancer`, …).
    pub actor: Option<String>,
    /// Actions starting with this, e.g. `vm.` or `user.grant`.
    pub action: Option<String>,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub result: Option<crate::AuditResult>,
    /// RFC 3339: records at or after.
    pub since: Option<String>,
    /// RFC 3339: records before.
    pub until: Option<String>,
    /// Records whose detail contains this text.
    pub text: Option<String>,
    /// Export only: `csv` (default) or `json`.
    pub format: Option<String>,
    pub limit: Option<u32>,
    pub page_token: Option<String>,
}

/// The filters of an [`AuditQuery`], checked: times in ms since the epoch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action_prefix: Option<String>,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub result: Option<crate::AuditResult>,
    pub since: Option<crate::UnixMs>,
    pub until: Option<crate::UnixMs>,
    pub text: Option<String>,
}

impl AuditQuery {
    /// The checked filters (400 naming a bad field).
    pub fn filter(&self) -> Result<AuditFilter, Error> {
        for (field, v) in [
            ("actor", &self.actor),
            ("action", &self.action),
            ("target_kind", &self.target_kind),
            ("target_id", &self.target_id),
            ("text", &self.text),
        ] {
            if let Some(v) = v {
                validate_text(field, v, 256)?;
            }
        }
        let time = |field: &str, v: &Option<String>| {
            v.as_deref()
                .map(|s| crate::parse_rfc3339(field, s))
                .transpose()
        };
        Ok(AuditFilter {
            actor: self.actor.clone(),
            action_prefix: self.action.clone(),
            target_kind: self.target_kind.clone(),
            target_id: self.target_id.clone(),
            result: self.result,
            since: time("since", &self.since)?,
            until: time("until", &self.until)?,
            text: self.text.clone(),
        })
    }
}

/// `POST /api/v1/departments`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepartmentCreateParams {
    pub name: String,
    /// Accounting cost centre code.
    pub cost_centre: String,
}

impl DepartmentCreateParams {
    /// Rejects bad values, naming the field.
    pub fn validate(&self) -> Result<(), Error> {
        validate_name("name", &self.name)?;
        if self.cost_centre.is_empty() {
            return Err(Error::invalid("cost_centre", "must not be empty"));
        }
        validate_text("cost_centre", &self.cost_centre, 64)
    }
}

/// `POST /api/v1/users`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserCreateParams {
    pub username: String,
    pub password: String,
    /// The user's first role (built-in or custom), held in its department when one is given,
    /// else globally (or in `cluster_id`).
    pub role: String,
    /// The department the user belongs to; its role is scoped to it.
    #[serde(default)]
    pub department_id: Option<DepartmentId>,
    /// Scope the first role to this cluster instead (not with a department).
    #[serde(default)]
    pub cluster_id: Option<ClusterId>,
}

/// `POST /api/v1/users/{id}/roles`: one more role for a user, at a scope (global when neither
/// a department nor a cluster is given).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBindingParams {
    pub role: String,
    #[serde(default)]
    pub department_id: Option<DepartmentId>,
    #[serde(default)]
    pub cluster_id: Option<ClusterId>,
}

impl RoleBindingParams {
    /// A scope is a department or a cluster, not both.
    pub fn validate(&self) -> Result<(), Error> {
        validate_scope(self.department_id, self.cluster_id)
    }
}

pub(crate) fn validate_scope(d: Option<DepartmentId>, c: Option<ClusterId>) -> Result<(), Error> {
    if d.is_some() && c.is_some() {
        return Err(Error::invalid(
            "cluster_id",
            "a role is scoped to a department or a cluster, not both",
        ));
    }
    Ok(())
}

/// `POST /api/v1/requests`: VMs to provision, once approved, in one department.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestCreateParams {
    /// Why they are needed.
    pub purpose: String,
    pub vms: Vec<VmCreateParams>,
}

impl RequestCreateParams {
    /// A purpose, and VMs valid as a group.
    pub fn validate(&self) -> Result<(), Error> {
        if self.purpose.trim().is_empty() {
            return Err(Error::invalid("purpose", "say what the VMs are for"));
        }
        validate_text("purpose", &self.purpose, 512)?;
        VmGroupCreateParams {
            vms: self.vms.clone(),
        }
        .validate()
    }
}

/// `POST /api/v1/requests/{id}/approve` and `/reject`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestDecisionParams {
    /// Required to reject; at most 512 characters.
    #[serde(default)]
    pub reason: Option<String>,
}

impl RequestDecisionParams {
    /// A reason, when given, is bounded text.
    pub fn validate(&self) -> Result<(), Error> {
        match &self.reason {
            Some(r) => validate_text("reason", r, 512),
            None => Ok(()),
        }
    }
}

/// `PUT /api/v1/departments/{id}/quota`: the whole quota (omitted limits are unlimited).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaParams {
    #[serde(default)]
    pub vcpus: Option<u64>,
    #[serde(default)]
    pub memory_mib: Option<u64>,
    #[serde(default)]
    pub disk_gib: Option<u64>,
    #[serde(default)]
    pub vms: Option<u64>,
    /// Per month, in the price list's currency.
    #[serde(default)]
    pub money_month: Option<f64>,
    /// Warn from this share of a limit, percent (default 80).
    #[serde(default)]
    pub warn_percent: Option<u32>,
    /// Allow this much over a limit, percent (default 0).
    #[serde(default)]
    pub grace_percent: Option<u32>,
    /// `enforce` (default) or `audit`.
    #[serde(default)]
    pub mode: Option<crate::QuotaMode>,
}

impl QuotaParams {
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(m) = self.money_month
            && !(m.is_finite() && (0.0..1e12).contains(&m))
        {
            return Err(Error::invalid("money_month", "must be 0 or more"));
        }
        if self.warn_percent.is_some_and(|w| !(1..=100).contains(&w)) {
            return Err(Error::invalid("warn_percent", "1 to 100"));
        }
        if self.grace_percent.is_some_and(|g| g > 100) {
            return Err(Error::invalid("grace_percent", "0 to 100"));
        }
        Ok(())
    }
}

/// Checks a price list: a three-letter currency, prices of 0 or more.
pub fn validate_price_list(p: &crate::PriceListView) -> Result<(), Error> {
    if p.currency.len() != 3 || !p.currency.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(Error::invalid("currency", "an ISO 4217 code such as EUR"));
    }
    let prices = [
        ("vcpu_month", p.vcpu_month),
        ("memory_gib_month", p.memory_gib_month),
        ("disk_gib_month", p.disk_gib_month),
        ("vm_month", p.vm_month),
        ("department_month", p.department_month),
    ];
    for (field, v) in prices
        .into_iter()
        .chain(p.licences.values().map(|v| ("licences", *v)))
    {
        if !(v.is_finite() && (0.0..1e9).contains(&v)) {
            return Err(Error::invalid(field, "a price of 0 or more"));
        }
    }
    validate_names(
        "licences",
        &p.licences.keys().cloned().collect::<Vec<_>>(),
        64,
    )
}

/// `POST /api/v1/roles`: a custom role from a list of permissions.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleCreateParams {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub permissions: Vec<crate::Permission>,
}

impl RoleCreateParams {
    /// Rejects a bad name (or one of a built-in role), an empty or repeated permission list.
    pub fn validate(&self) -> Result<(), Error> {
        validate_name("name", &self.name)?;
        if self.name.parse::<Role>().is_ok() {
            return Err(Error::invalid("name", "is a built-in role"));
        }
        validate_text("description", &self.description, 256)?;
        if self.permissions.is_empty() {
            return Err(Error::invalid("permissions", "at least one permission"));
        }
        let unique: std::collections::BTreeSet<_> = self.permissions.iter().collect();
        if unique.len() != self.permissions.len() {
            return Err(Error::invalid(
                "permissions",
                "a permission is listed twice",
            ));
        }
        Ok(())
    }
}

impl UserCreateParams {
    /// Rejects bad values, naming the field.
    pub fn validate(&self) -> Result<(), Error> {
        validate_name("username", &self.username)?;
        validate_name("role", &self.role)?;
        validate_scope(self.department_id, self.cluster_id)?;
        if self.password.chars().count() < 8 {
            return Err(Error::invalid("password", "at least 8 characters"));
        }
        if self.password.len() > 1024 {
            return Err(Error::invalid("password", "longer than 1024 bytes"));
        }
        Ok(())
    }
}
