//! Handlers of the `plans` tag: Forecasts, balancing and consolidation plans, evacuation and host power.

use super::*;

/// When each cluster runs out: per metric (vCPUs and memory allocated, CPU demand) the last
/// day's peak, the capacity under the cluster's ratios, the trend and the days until full.
#[utoipa::path(get, path = "/api/v1/plans/forecast", tag = "plans", security(("bearer" = [])), params(ForecastQuery),
    responses((status = 200, body = Vec<ClusterForecastView>), (status = 400, body = ErrorBody)))]
pub(super) async fn forecast(
    State(app): State<App>,
    actor: Actor,
    ApiQuery(q): ApiQuery<ForecastQuery>,
) -> ApiResult<Json<Vec<ClusterForecastView>>> {
    Ok(Json(app.forecast(&actor, q).await?))
}

/// The load balancer's plans for the clusters it is on in: the moves, why, and the cluster's
/// imbalance before and after.
#[utoipa::path(get, path = "/api/v1/plans/balance", tag = "plans", security(("bearer" = [])),
    responses((status = 200, body = Vec<BalancePlanView>)))]
pub(super) async fn balance_plans(
    State(app): State<App>,
    actor: Actor,
) -> ApiResult<Json<Vec<BalancePlanView>>> {
    Ok(Json(app.balance_plans(&actor).await?))
}

/// The fewest hosts that carry each cluster's VMs, the migrations that get there with a reason
/// each, the hosts freed and the power saved; optionally under a what-if (VMs added, a host
/// removed or lost). Changes nothing.
#[utoipa::path(post, path = "/api/v1/plans/consolidate", tag = "plans", security(("bearer" = [])),
    request_body = ConsolidateParams,
    responses((status = 200, body = Vec<ConsolidationPlanView>), (status = 400, body = ErrorBody)))]
pub(super) async fn consolidate(
    State(app): State<App>,
    actor: Actor,
    ApiJson(p): ApiJson<ConsolidateParams>,
) -> ApiResult<Json<Vec<ConsolidationPlanView>>> {
    Ok(Json(app.consolidate(&actor, p).await?))
}
