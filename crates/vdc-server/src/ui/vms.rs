//! The VM list and a VM's page: state, actions, charts, where it fits now.

use super::*;

// ---------------------------------------------------------------- VMs

pub(crate) struct VmRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) state: String,
    pub(crate) management: String,
    pub(crate) host: String,
    pub(crate) host_id: String,
    pub(crate) vcpus: u32,
    pub(crate) memory: String,
    pub(crate) owner: String,
    pub(crate) department: String,
}

#[derive(serde::Deserialize, Default)]
pub(crate) struct VmFilterForm {
    pub(crate) state: Option<String>,
    pub(crate) management: Option<String>,
    pub(crate) department: Option<String>,
    pub(crate) owner: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) page: Option<String>,
}

#[derive(Template)]
#[template(path = "vms.html")]
pub(crate) struct VmsPage {
    pub(crate) user: String,
    pub(crate) rows: Vec<VmRow>,
    pub(crate) states: Vec<Choice>,
    pub(crate) managements: Vec<Choice>,
    pub(crate) departments: Vec<Choice>,
    pub(crate) owner: String,
    pub(crate) name: String,
    pub(crate) next: Option<String>,
}

pub(crate) async fn vms(
    State(app): State<App>,
    headers: HeaderMap,
    Query(f): Query<VmFilterForm>,
) -> Page {
    let actor = caller(&app, &headers).await?;
    let page = app
        .list_vms(
            &actor,
            &VmListQuery {
                state: field(&f.state),
                management: field(&f.management),
                department_id: field(&f.department),
                owner: field(&f.owner),
                name_prefix: field(&f.name),
                limit: Some(100),
                page_token: field(&f.page),
                ..VmListQuery::default()
            },
        )
        .await?;
    let names = Names::load(&app).await?;
    let next = page.next_page_token.map(|t| {
        next_query(
            &[
                ("state", &f.state),
                ("management", &f.management),
                ("department", &f.department),
                ("owner", &f.owner),
                ("name", &f.name),
            ],
            &t,
        )
    });
    html(&VmsPage {
        user: actor.name().to_string(),
        rows: page.items.iter().map(|v| names.vm_row(v)).collect(),
        states: choices(states(PowerState::ALL.iter()).into_iter(), &f.state),
        managements: choices(states(Management::ALL.iter()).into_iter(), &f.management),
        departments: names.department_choices(&f.department),
        owner: f.owner.clone().unwrap_or_default(),
        name: f.name.clone().unwrap_or_default(),
        next,
    })
}

/// A host as placement rates it for a VM now.
pub(crate) struct RatingRow {
    pub(crate) name: String,
    pub(crate) stars: String,
    pub(crate) score: String,
    pub(crate) reasons: String,
    pub(crate) chosen: bool,
}

#[derive(Template)]
#[template(path = "vm.html")]
pub(crate) struct VmPage {
    pub(crate) user: String,
    pub(crate) v: VmRow,
    pub(crate) guest_os: String,
    pub(crate) purpose: String,
    pub(crate) tags: String,
    pub(crate) lease: String,
    pub(crate) actions: Vec<&'static str>,
    pub(crate) alert: Option<AlertView>,
    pub(crate) ratings: Vec<RatingRow>,
    pub(crate) rating_note: String,
    pub(crate) charts: &'static [Chart],
    pub(crate) ranges: &'static [&'static str],
    pub(crate) source: String,
}

/// The actions the VM's state allows.
pub(crate) fn actions(state: PowerState) -> Vec<&'static str> {
    VmAction::ALL
        .iter()
        .filter(|a| vdc_driver::transition(state, **a).is_ok())
        .map(|a| a.as_str())
        .collect()
}

pub(crate) async fn vm(State(app): State<App>, headers: HeaderMap, Path(id): Path<String>) -> Page {
    let actor = caller(&app, &headers).await?;
    let id: VmId = crate::app::views::path_id("id", &id).map_err(UiError::Failed)?;
    let v = app.get_vm(&actor, id).await?;
    let names = Names::load(&app).await?;
    let alert = app
        .alerts(&actor)
        .await?
        .into_iter()
        .find(|a| a.vm_id == id);
    let (ratings, rating_note) = match app
        .rate_placement(
            &actor,
            PlacementParams {
                vm_id: Some(id),
                ..PlacementParams::default()
            },
        )
        .await
    {
        Ok(r) => (
            r.hosts
                .iter()
                .map(|h| RatingRow {
                    name: h.name.clone(),
                    stars: format!("{:.1}", h.stars),
                    score: format!("{:.2}", h.score),
                    reasons: match &h.rejected_by {
                        Some(why) => format!("refused: {why}"),
                        None => h
                            .contributions
                            .iter()
                            .map(|(k, c)| format!("{k} {c:+.2}"))
                            .chain(h.unmet.iter().map(|u| format!("breaks {u}")))
                            .collect::<Vec<_>>()
                            .join(", "),
                    },
                    chosen: r.chosen == Some(h.host_id),
                })
                .collect(),
            r.rejected
                .iter()
                .map(|(f, n)| format!("{f} refused {n}"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Err(e) => (Vec::new(), e.to_string()),
    };
    let guest_os = match app.vm_guest_os(&actor, id).await {
        Ok(g) => format!("{} ({})", g.name, g.source),
        Err(_) => "unknown".into(),
    };
    html(&VmPage {
        user: actor.name().to_string(),
        guest_os,
        purpose: v.purpose.clone().unwrap_or_default(),
        tags: v.tags.join(", "),
        lease: v.lease_expires_at.clone().unwrap_or_default(),
        actions: actions(v.power_state),
        v: names.vm_row(&v),
        alert,
        ratings,
        rating_note,
        charts: &CHARTS,
        ranges: &RANGES,
        source: format!("/api/v1/vms/{id}/metrics"),
    })
}

#[derive(Template)]
#[template(path = "vm_state.html")]
pub(crate) struct VmState {
    pub(crate) id: String,
    pub(crate) state: String,
    pub(crate) actions: Vec<&'static str>,
}

/// The VM's power state and the actions it allows (polled by the VM page).
pub(crate) async fn vm_state(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Page {
    let actor = caller(&app, &headers).await?;
    let id: VmId = crate::app::views::path_id("id", &id).map_err(UiError::Failed)?;
    let v = app.get_vm(&actor, id).await?;
    html(&VmState {
        id: id.to_string(),
        state: v.power_state.to_string(),
        actions: actions(v.power_state),
    })
}
