//! Provisioning requests and approvals. A requester asks for VMs with a purpose; the request
//! is priced from the price list and checked against the department's quota at once (refused
//! with the figures when it cannot fit). A rule (engine `quota::auto_approval`: under a cost
//! and a size) approves it without anyone; otherwise it waits for the configured number of
//! distinct approvers, in order — never the requester. Once approved, its VMs are placed and
//! created as a group on the requester's behalf; a rejection says why. Every step is audited.

use vdc_db as db;
use vdc_engine::quota::{AutoApproval, Usage, auto_approval};
use vdc_types::*;

use crate::app::App;
use crate::app::{Actor, Grant, On};

/// The approver name of a rule's approval.
const AUTO: &str = "auto";

fn view(r: &db::Request) -> RequestView {
    RequestView {
        id: r.id,
        requester: r.requester.clone(),
        department_id: r.department_id,
        purpose: r.purpose.clone(),
        vms: r.vms.clone(),
        cost_month: (r.cost_month * 100.0).round() / 100.0,
        currency: r.currency.clone(),
        state: r.state,
        approvals: r.approvals.clone(),
        approvals_needed: r.approvals_needed,
        rule: r.rule.clone(),
        reason: r.reason.clone(),
        vm_ids: r.vm_ids.clone(),
        created_at: rfc3339(r.created_at),
        updated_at: rfc3339(r.updated_at),
    }
}

impl App {
    /// Files a request; it is approved at once when the rule allows, and then fulfilled.
    pub async fn create_request(
        &self,
        actor: &Actor,
        p: RequestCreateParams,
    ) -> Result<RequestView, Error> {
        p.validate()?;
        let department = p.vms[0].department_id.or(actor.user.department_id);
        let Some(_) = department else {
            return Err(Error::invalid(
                "vms[0].department_id",
                "a request belongs to a department (yours, or the one given)",
            ));
        };
        if let Some(i) = p.vms.iter().position(|v| v.boot.is_some()) {
            return Err(Error::invalid(
                format!("vms[{i}].boot"),
                "requested VMs boot from their disks",
            ));
        }
        if p.vms
            .iter()
            .any(|v| v.department_id.is_some_and(|d| Some(d) != department))
        {
            return Err(Error::invalid(
                "vms",
                "the VMs of one request belong to one department",
            ));
        }
        let check = actor.require(Permission::RequestCreate, On::department(department));
        self.authorize(actor, "request.create", ("request", None), check)
            .await?;
        let (prices, currency) = self.prices().await?;
        let ask = p.vms.iter().fold(Usage::default(), |a, v| {
            a.plus(crate::governance::quota::request_of(v, &prices))
        });
        self.check_quota(actor, department, ask).await?;
        let policy = self.config.requests;
        let vcpus: Vec<u32> = p.vms.iter().map(|v| v.vcpus).collect();
        let decided = match policy.auto_max_cost {
            Some(max_cost) => auto_approval(
                &AutoApproval {
                    max_cost,
                    max_vcpus: policy.auto_max_vcpus,
                },
                ask.money,
                &vcpus,
                &currency,
            ),
            None => Err("no request is approved without approvers".to_string()),
        };
        let now = db::now_ms();
        let vms = p
            .vms
            .into_iter()
            .map(|mut v| {
                v.department_id = department;
                v.owner = v.owner.or_else(|| Some(actor.name().to_string()));
                v.purpose = v.purpose.or_else(|| Some(p.purpose.clone()));
                v
            })
            .collect();
        let mut r = db::Request {
            id: RequestId::new(),
            requester: actor.name().to_string(),
            department_id: department,
            purpose: p.purpose,
            vms,
            cost_month: ask.money,
            currency,
            state: RequestState::Pending,
            approvals: Vec::new(),
            approvals_needed: policy.approvals.max(1),
            rule: match &decided {
                Ok(why) => why.clone(),
                Err(why) => format!("needs approval: {why}"),
            },
            reason: None,
            vm_ids: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        self.db.insert_request(&r).await?;
        self.audit(
            actor.name(),
            "request.create",
            ("request", Some(r.id.to_string())),
            AuditResult::Ok,
            Some(format!(
                "vms={} cost_month={:.2} {}; {}",
                r.vms.len(),
                r.cost_month,
                r.currency,
                r.rule
            )),
        )
        .await;
        if decided.is_err() {
            self.notify("request.pending", serde_json::json!({"request": view(&r)}));
        } else {
            r.approvals.push(ApprovalView {
                approver: AUTO.into(),
                at: rfc3339(now),
                approved: true,
                reason: Some(r.rule.clone()),
            });
            self.fulfil(&mut r).await?;
        }
        Ok(view(&r))
    }

    /// Claims a pending request as approved (409 when someone decided meanwhile), then
    /// creates its VMs as a group on the requester's behalf and records the outcome.
    async fn fulfil(&self, r: &mut db::Request) -> Result<(), Error> {
        r.state = RequestState::Approved;
        r.updated_at = db::now_ms();
        self.db.update_request(r, RequestState::Pending).await?;
        let user = self
            .db
            .user_by_name(&r.requester)
            .await?
            .ok_or_else(|| Error::not_found("user", &r.requester))?;
        // The requester must still be allowed to ask in the department; the VMs are then
        // created with that right only.
        let requester = Actor {
            grants: self.grants_of(user.id).await?,
            user: user.clone(),
            token_limit: None,
            token_expires_at: None,
        };
        let outcome =
            match requester.require(Permission::RequestCreate, On::department(r.department_id)) {
                Err(e) => Err(e),
                Ok(()) => {
                    let on_behalf = Actor {
                        user,
                        grants: vec![Grant {
                            role: "approved request".into(),
                            permissions: vec![Permission::VmCreate, Permission::InventoryRead],
                            department: r.department_id,
                            cluster: None,
                        }],
                        token_limit: None,
                        token_expires_at: None,
                    };
                    let group = VmGroupCreateParams { vms: r.vms.clone() };
                    self.create_vm_group(&on_behalf, group).await
                }
            };
        r.updated_at = db::now_ms();
        let detail = match outcome {
            Ok(accepted) => {
                r.state = RequestState::Created;
                r.vm_ids = accepted.vms.iter().filter_map(|a| a.vm_id).collect();
                format!("created {} VMs", r.vm_ids.len())
            }
            Err(e) => {
                r.state = RequestState::Failed;
                r.reason = Some(e.to_string());
                format!("failed: {e}")
            }
        };
        self.db.update_request(r, RequestState::Approved).await?;
        self.notify(
            &format!("request.{}", r.state),
            serde_json::json!({"request": view(r)}),
        );
        self.audit(
            "requests",
            "request.fulfil",
            ("request", Some(r.id.to_string())),
            if r.state == RequestState::Created {
                AuditResult::Ok
            } else {
                AuditResult::Failed
            },
            Some(detail),
        )
        .await;
        Ok(())
    }

    /// A pending request an approver may decide on.
    async fn decidable(
        &self,
        actor: &Actor,
        id: RequestId,
        action: &str,
    ) -> Result<db::Request, Error> {
        let r = self.db.get_request(id).await?;
        // Another department's request does not exist for the caller (a 403 would confirm it
        // and name that department).
        if !Self::sees_request(actor, &r) {
            return Err(Error::not_found("request", id));
        }
        let mut check = actor.require(Permission::RequestApprove, On::department(r.department_id));
        if check.is_ok() && r.requester == actor.name() {
            check = Err(Error::forbidden(
                "requesters do not decide on their own requests",
            ));
        }
        self.authorize(actor, action, ("request", Some(id.to_string())), check)
            .await?;
        if r.state != RequestState::Pending {
            return Err(Error::conflict(format!(
                "request {id} is {}, not pending",
                r.state
            )));
        }
        if r.approvals.iter().any(|a| a.approver == actor.name()) {
            return Err(Error::conflict(format!(
                "{} already approved request {id}; it needs another approver",
                actor.name()
            )));
        }
        Ok(r)
    }

    /// Approves a request; the last approval it needs fulfils it.
    pub async fn approve_request(
        &self,
        actor: &Actor,
        id: RequestId,
        p: RequestDecisionParams,
    ) -> Result<RequestView, Error> {
        p.validate()?;
        let mut r = self.decidable(actor, id, "request.approve").await?;
        r.approvals.push(ApprovalView {
            approver: actor.name().to_string(),
            at: rfc3339(db::now_ms()),
            approved: true,
            reason: p.reason,
        });
        self.audit(
            actor.name(),
            "request.approve",
            ("request", Some(id.to_string())),
            AuditResult::Ok,
            Some(format!("{} of {}", r.approvals.len(), r.approvals_needed)),
        )
        .await;
        if r.approvals.len() as u32 >= r.approvals_needed {
            self.fulfil(&mut r).await?;
        } else {
            r.updated_at = db::now_ms();
            self.db.update_request(&r, RequestState::Pending).await?;
        }
        Ok(view(&r))
    }

    /// Rejects a request, saying why.
    pub async fn reject_request(
        &self,
        actor: &Actor,
        id: RequestId,
        p: RequestDecisionParams,
    ) -> Result<RequestView, Error> {
        p.validate()?;
        let reason = p
            .reason
            .filter(|r| !r.trim().is_empty())
            .ok_or_else(|| Error::invalid("reason", "say why the request is rejected"))?;
        let mut r = self.decidable(actor, id, "request.reject").await?;
        r.approvals.push(ApprovalView {
            approver: actor.name().to_string(),
            at: rfc3339(db::now_ms()),
            approved: false,
            reason: Some(reason.clone()),
        });
        r.state = RequestState::Rejected;
        r.reason = Some(reason.clone());
        r.updated_at = db::now_ms();
        self.db.update_request(&r, RequestState::Pending).await?;
        self.notify("request.rejected", serde_json::json!({"request": view(&r)}));
        self.audit(
            actor.name(),
            "request.reject",
            ("request", Some(id.to_string())),
            AuditResult::Ok,
            Some(reason),
        )
        .await;
        Ok(view(&r))
    }

    /// True when the caller may see the request: their own, or one they may decide on or
    /// read in its department.
    fn sees_request(actor: &Actor, r: &db::Request) -> bool {
        r.requester == actor.name()
            || actor.can(Permission::RequestApprove, On::department(r.department_id))
            || actor.can(Permission::AuditRead, On::global())
    }

    /// The newest requests the caller may see.
    pub async fn list_requests(&self, actor: &Actor) -> Result<Vec<RequestView>, Error> {
        Ok(self
            .db
            .list_requests(500)
            .await?
            .iter()
            .filter(|r| Self::sees_request(actor, r))
            .map(view)
            .collect())
    }

    /// One request (404 when the caller may not see it).
    pub async fn get_request(&self, actor: &Actor, id: RequestId) -> Result<RequestView, Error> {
        let r = self.db.get_request(id).await?;
        if !Self::sees_request(actor, &r) {
            return Err(Error::not_found("request", id));
        }
        Ok(view(&r))
    }
}
