//! Handlers of the `inventory` tag: Hosts, clusters, sites, storage, networks, physical servers, syncs, and the Prometheus exposition.

use super::*;

/// Hosts and the VMs the caller may see, with their latest samples, in the OpenMetrics text
/// format for Prometheus (labels: host, cluster, department, owner).
#[utoipa::path(get, path = "/metrics", tag = "inventory", security(("bearer" = [])),
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text", body = String),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn prometheus_metrics(
    State(app): State<App>,
    actor: Actor,
) -> ApiResult<impl IntoResponse> {
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            crate::monitoring::prometheus::CONTENT_TYPE,
        )],
        app.prometheus(&actor).await?,
    ))
}

/// Hosts, filtered and paginated.
#[utoipa::path(get, path = "/api/v1/hosts", tag = "inventory", security(("bearer" = [])), params(HostListQuery),
    responses((status = 200, body = Page<HostView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(super) async fn list_hosts(
    State(app): State<App>,
    _actor: Actor,
    ApiQuery(q): ApiQuery<HostListQuery>,
) -> ApiResult<Json<Page<HostView>>> {
    Ok(Json(app.list_hosts(&q).await?))
}

/// One host.
#[utoipa::path(get, path = "/api/v1/hosts/{id}", tag = "inventory", security(("bearer" = [])), params(("id" = HostId, Path)),
    responses((status = 200, body = HostView), (status = 404, body = ErrorBody)))]
pub(super) async fn get_host(
    State(app): State<App>,
    _actor: Actor,
    ApiPath(id): ApiPath<HostId>,
) -> ApiResult<Json<HostView>> {
    Ok(Json(app.get_host(id).await?))
}

/// Physical (non-virtual) servers the caller may see.
#[utoipa::path(get, path = "/api/v1/physical-servers", tag = "inventory", security(("bearer" = [])),
    responses((status = 200, body = Vec<PhysicalServerView>)))]
pub(super) async fn list_physical_servers(
    State(app): State<App>,
    actor: Actor,
) -> ApiResult<Json<Vec<PhysicalServerView>>> {
    Ok(Json(app.list_physical_servers(&actor).await?))
}

/// Registers a physical server.
#[utoipa::path(post, path = "/api/v1/physical-servers", tag = "inventory", security(("bearer" = [])), request_body = PhysicalServerCreateParams,
    responses((status = 201, body = PhysicalServerView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn create_physical_server(
    State(app): State<App>,
    actor: Actor,
    ApiJson(p): ApiJson<PhysicalServerCreateParams>,
) -> ApiResult<impl IntoResponse> {
    Ok((
        StatusCode::CREATED,
        Json(app.create_physical_server(&actor, p).await?),
    ))
}

/// Sites.
#[utoipa::path(get, path = "/api/v1/sites", tag = "inventory", security(("bearer" = [])), responses((status = 200, body = Vec<SiteView>)))]
pub(super) async fn list_sites(
    State(app): State<App>,
    _actor: Actor,
) -> ApiResult<Json<Vec<SiteView>>> {
    Ok(Json(
        app.db
            .list_sites()
            .await?
            .into_iter()
            .map(|s| SiteView {
                id: s.id,
                name: s.name,
            })
            .collect(),
    ))
}

/// Clusters.
#[utoipa::path(get, path = "/api/v1/clusters", tag = "inventory", security(("bearer" = [])), responses((status = 200, body = Vec<ClusterView>)))]
pub(super) async fn list_clusters(
    State(app): State<App>,
    _actor: Actor,
) -> ApiResult<Json<Vec<ClusterView>>> {
    Ok(Json(
        app.db
            .list_clusters()
            .await?
            .iter()
            .map(views::cluster)
            .collect(),
    ))
}

/// Datastores.
#[utoipa::path(get, path = "/api/v1/datastores", tag = "inventory", security(("bearer" = [])), responses((status = 200, body = Vec<DatastoreView>)))]
pub(super) async fn list_datastores(
    State(app): State<App>,
    _actor: Actor,
) -> ApiResult<Json<Vec<DatastoreView>>> {
    Ok(Json(
        app.db
            .list_datastores()
            .await?
            .into_iter()
            .map(|d| DatastoreView {
                id: d.id,
                name: d.name,
                cluster_id: d.cluster_id,
                kind: d.kind,
                capacity_gib: d.capacity_gib,
                free_gib: d.free_gib,
            })
            .collect(),
    ))
}

/// Networks.
#[utoipa::path(get, path = "/api/v1/networks", tag = "inventory", security(("bearer" = [])), responses((status = 200, body = Vec<NetworkView>)))]
pub(super) async fn list_networks(
    State(app): State<App>,
    _actor: Actor,
) -> ApiResult<Json<Vec<NetworkView>>> {
    Ok(Json(
        app.db
            .list_networks()
            .await?
            .into_iter()
            .map(|n| NetworkView {
                id: n.id,
                name: n.name,
                cluster_id: n.cluster_id,
                vlan: n.vlan,
            })
            .collect(),
    ))
}

/// Resyncs the inventory from every host now (admin).
#[utoipa::path(post, path = "/api/v1/sync", tag = "inventory", security(("bearer" = [])),
    responses((status = 200, body = SyncReport), (status = 403, body = ErrorBody)))]
pub(super) async fn sync_now(State(app): State<App>, actor: Actor) -> ApiResult<Json<SyncReport>> {
    actor.require(Permission::HostManage, On::global())?;
    let report = sync_all(&app).await?;
    app.audit(
        actor.name(),
        "inventory.sync",
        ("inventory", None),
        AuditResult::Ok,
        Some(format!("{report:?}")),
    )
    .await;
    Ok(Json(report))
}

/// Connects and adds a libvirt host (admin); its VMs are discovered at once.
#[utoipa::path(post, path = "/api/v1/hosts", tag = "inventory", security(("bearer" = [])), request_body = HostAddParams,
    responses((status = 201, body = HostAdded), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 503, description = "the host does not answer", body = ErrorBody)))]
pub(super) async fn add_host(
    State(app): State<App>,
    actor: Actor,
    ApiJson(p): ApiJson<HostAddParams>,
) -> ApiResult<impl IntoResponse> {
    Ok((StatusCode::CREATED, Json(app.add_host(&actor, p).await?)))
}

/// Removes a host and its VM records from the inventory (admin); the VMs stay on it.
#[utoipa::path(delete, path = "/api/v1/hosts/{id}", tag = "inventory", security(("bearer" = [])), params(("id" = HostId, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn remove_host(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<HostId>,
) -> ApiResult<StatusCode> {
    app.remove_host(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A host's utilisation now.
#[utoipa::path(get, path = "/api/v1/hosts/{id}/stats", tag = "inventory", security(("bearer" = [])), params(("id" = HostId, Path)),
    responses((status = 200, body = HostStatsView), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(super) async fn host_stats(
    State(app): State<App>,
    _actor: Actor,
    ApiPath(id): ApiPath<HostId>,
) -> ApiResult<Json<HostStatsView>> {
    Ok(Json(app.host_stats(id).await?))
}

/// One metric of a host over a range (its own CPU and memory; its VMs' I/O summed).
#[utoipa::path(get, path = "/api/v1/hosts/{id}/metrics", tag = "inventory", security(("bearer" = [])), params(("id" = HostId, Path), MetricQuery),
    responses((status = 200, body = MetricSeriesView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn host_metrics(
    State(app): State<App>,
    _actor: Actor,
    ApiPath(id): ApiPath<HostId>,
    ApiQuery(q): ApiQuery<MetricQuery>,
) -> ApiResult<Json<MetricSeriesView>> {
    Ok(Json(app.host_metrics(id, &q).await?))
}

/// Volumes (disk images) in the datastores, as the hosts list them.
#[utoipa::path(get, path = "/api/v1/volumes", tag = "inventory", security(("bearer" = [])), params(VolumeListQuery),
    responses((status = 200, body = Vec<VolumeView>), (status = 400, body = ErrorBody)))]
pub(super) async fn list_volumes(
    State(app): State<App>,
    _actor: Actor,
    ApiQuery(q): ApiQuery<VolumeListQuery>,
) -> ApiResult<Json<Vec<VolumeView>>> {
    Ok(Json(
        app.db
            .list_volumes(q.datastore_id)
            .await?
            .into_iter()
            .map(|v| VolumeView {
                id: v.id,
                datastore_id: v.datastore_id,
                name: v.name,
                path: v.path,
                format: v.format,
                capacity_mib: v.capacity_mib,
                allocation_mib: v.allocation_mib,
            })
            .collect(),
    ))
}

/// Changes what placement may use a host for (admin): maintenance, the department it is
/// reserved for (`null` shares it again), the software it is licensed for and at what cost.
#[utoipa::path(patch, path = "/api/v1/hosts/{id}", tag = "inventory", security(("bearer" = [])), params(("id" = HostId, Path)),
    request_body = HostUpdateParams,
    responses((status = 200, body = HostView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn update_host(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<HostId>,
    ApiJson(p): ApiJson<HostUpdateParams>,
) -> ApiResult<Json<HostView>> {
    Ok(Json(app.update_host(&actor, id, p).await?))
}

/// Sets a cluster's overcommit ratios, which placement applies to its hosts (admin).
#[utoipa::path(patch, path = "/api/v1/clusters/{id}", tag = "inventory", security(("bearer" = [])), params(("id" = ClusterId, Path)),
    request_body = ClusterUpdateParams,
    responses((status = 200, body = ClusterView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn update_cluster(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<ClusterId>,
    ApiJson(p): ApiJson<ClusterUpdateParams>,
) -> ApiResult<Json<ClusterView>> {
    Ok(Json(app.update_cluster(&actor, id, p).await?))
}

/// Puts a host in maintenance and migrates its running VMs to the least loaded hosts of its
/// cluster that fit them (admin). One job per VM.
#[utoipa::path(post, path = "/api/v1/hosts/{id}/evacuate", tag = "inventory", security(("bearer" = [])), params(("id" = HostId, Path)),
    responses((status = 202, body = VmGroupAccepted), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn evacuate_host(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<HostId>,
) -> ApiResult<impl IntoResponse> {
    Ok((
        StatusCode::ACCEPTED,
        Json(app.evacuate_host(&actor, id).await?),
    ))
}

/// Powers off a connected host that runs no VM (admin): it goes to standby, out of sync and
/// placement, until woken. Through the configured power command, else the host's driver.
#[utoipa::path(post, path = "/api/v1/hosts/{id}/standby", tag = "inventory", security(("bearer" = [])), params(("id" = HostId, Path)),
    responses((status = 200, body = HostView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "not connected, or VMs run on it"),
        (status = 503, body = ErrorBody, description = "the power command or driver failed")))]
pub(super) async fn standby_host(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<HostId>,
) -> ApiResult<Json<HostView>> {
    Ok(Json(app.standby_host(&actor, id).await?))
}

/// Powers a host in standby back on (admin); it is `unreachable` ("waking from standby") until
/// the next sync reaches it.
#[utoipa::path(post, path = "/api/v1/hosts/{id}/wake", tag = "inventory", security(("bearer" = [])), params(("id" = HostId, Path)),
    responses((status = 200, body = HostView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "not in standby"),
        (status = 503, body = ErrorBody, description = "the power command or driver failed")))]
pub(super) async fn wake_host(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<HostId>,
) -> ApiResult<Json<HostView>> {
    Ok(Json(app.wake_host(&actor, id).await?))
}
