"""The "Fargate environments" page: a FastAPI app the Airflow API server mounts (plugins/).

``GET environments``            the page (signed-in Airflow users; others go to the login page)
``GET api/environments``        the environments as JSON, with cost so far (users Airflow lets
                                read the runs of ``fargate_ephemeral_environment``)
``POST api/environments/{name}/destroy``  triggers ``fargate_ephemeral_environment`` with
                                action=destroy through Airflow's REST API, as the signed-in
                                user (users Airflow lets trigger that DAG)
``POST api/environments/{name}/expiry``   Extend (``{"hours": N}``) or Keep until
                                (``{"until": "2026-12-01T18:00:00Z"}``): moves the environment's
                                ``fargate-expires-at`` at once (same permission as Destroy)

Permissions are Airflow's own: the auth manager's verdict on the environment DAG's runs, as
Airflow's REST API asks it. The REST API the Destroy call goes to is ``[api] base_url`` or the
API server's own address (``[api] host``/``port``) — never an address from the request, so the
user's token cannot be sent anywhere else.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Annotated, Any

import httpx
from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import get_user, requires_access_dag, resolve_user_from_token
from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from fargate_provider.environments import lifetime
from fargate_provider.environments.discovery import describe_environments
from fargate_provider.environments.naming import DAG_ID, MAX_TTL_HOURS, NAME_PATTERN, EnvironmentSpecError
from fargate_provider.exceptions import NotOursError

log = logging.getLogger(__name__)

# Sent by the page's own script; a cross-site form cannot set it (CSRF guard for the cookie session).
CSRF_HEADER_VALUE = "fargate-environments"

app = FastAPI(title="Fargate environments", docs_url=None, redoc_url=None, openapi_url=None)
# Who may see environments and who may destroy them: whoever Airflow lets read / trigger the DAG's runs.
may_read_environments = Depends(requires_access_dag("GET", DagAccessEntity.RUN, param_dag_id=DAG_ID))
may_destroy_environments = Depends(requires_access_dag("POST", DagAccessEntity.RUN, param_dag_id=DAG_ID))


def _hook():
    from airflow.models import Variable

    from fargate_provider.hooks.fargate import FargateHook
    from fargate_provider.settings import AWS_CONN_ID

    # The same connection the DAGs use (read per request: a changed Variable applies at once). The API
    # server reads Variables through airflow.models (the task SDK's Variable is for tasks).
    return FargateHook(aws_conn_id=Variable.get(AWS_CONN_ID.name, default_var=AWS_CONN_ID.default))


@app.get("/api/environments", dependencies=[may_read_environments])
def list_environments(user: Annotated[Any, Depends(get_user)]) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {"environments": describe_environments(_hook(), now), "as_of": now.isoformat(timespec="seconds")}


@app.post("/api/environments/{name}/destroy", dependencies=[may_destroy_environments])
async def destroy_environment(
    name: str,
    request: Request,
    user: Annotated[Any, Depends(get_user)],
    x_requested_by: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    if x_requested_by != CSRF_HEADER_VALUE:
        raise HTTPException(status_code=403, detail="missing X-Requested-By header")
    if not re.fullmatch(NAME_PATTERN, name):
        raise HTTPException(status_code=422, detail="environment: not an environment name")
    token = _request_token(request)
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{airflow_api_base_url()}/api/v2/dags/{DAG_ID}/dagRuns",
            json={"logical_date": None, "conf": {"environment": name, "action": "destroy"}},
            headers={"Authorization": f"Bearer {token}"},
        )
    if response.status_code >= 300:
        raise HTTPException(status_code=response.status_code, detail=f"Airflow refused the run: {response.text[:300]}")
    run = response.json()
    return {"environment": name, "dag_id": DAG_ID, "dag_run_id": run["dag_run_id"], "state": run.get("state")}


@app.post("/api/environments/{name}/expiry", dependencies=[may_destroy_environments])
def change_expiry(
    name: str,
    body: dict[str, Any],
    user: Annotated[Any, Depends(get_user)],
    x_requested_by: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Extend (``hours``) or Keep until (``until``): whoever may destroy the environment may
    keep it longer, up to the form's maximum time-to-live from now. Acts at once (the TTL column
    and the janitor see it on their next read), and says who did it in the API server's log."""
    if x_requested_by != CSRF_HEADER_VALUE:
        raise HTTPException(status_code=403, detail="missing X-Requested-By header")
    if not re.fullmatch(NAME_PATTERN, name):
        raise HTTPException(status_code=422, detail="environment: not an environment name")
    now = dt.datetime.now(dt.UTC)
    given = sorted(set(body) & {"hours", "until"})
    if len(given) != 1 or set(body) - {"hours", "until"}:
        raise HTTPException(status_code=422, detail='give either "hours" (Extend) or "until" (Keep until), not both')
    try:
        if given == ["hours"]:
            lifetime.extended_expiry(None, body["hours"], now)  # the input, checked before any AWS call
            change = lambda current: lifetime.extended_expiry(current, body["hours"], now)  # noqa: E731
        else:
            kept = lifetime.kept_until(body["until"], now)
            change = lambda current: kept  # noqa: E731
        changed = lifetime.set_expiry(_hook(), name, change, now)
    except EnvironmentSpecError as err:
        raise HTTPException(status_code=422, detail=str(err)) from None
    except lifetime.EnvironmentNotFoundError as err:
        raise HTTPException(status_code=404, detail=str(err)) from None
    except NotOursError as err:
        raise HTTPException(status_code=409, detail=str(err)) from None
    who = getattr(user, "get_name", lambda: "?")()
    log.info(
        "Environment %s: %s moved its expiry from %s to %s",
        name,
        who,
        changed["previous_expires_at"],
        changed["expires_at"],
    )
    return changed


@app.get("/environments", response_class=HTMLResponse)
async def environments_page(request: Request):
    try:
        await resolve_user_from_token(request.cookies.get(COOKIE_NAME_JWT_TOKEN))
    except HTTPException:
        from airflow.api_fastapi.app import get_auth_manager

        return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)), status_code=303)
    return HTMLResponse(PAGE.replace("__MAX_TTL_HOURS__", str(MAX_TTL_HOURS)))


def _request_token(request: Request) -> str:
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:]
    return request.cookies.get(COOKIE_NAME_JWT_TOKEN, "")


def airflow_api_base_url() -> str:
    """Where Airflow's REST API is, from configuration only: ``[api] base_url``, else the API
    server's own host and port (a wildcard host as loopback)."""
    from airflow.configuration import conf

    base_url = conf.get("api", "base_url", fallback="").strip()
    if base_url.startswith(("http://", "https://")):
        return base_url.rstrip("/")
    host = conf.get("api", "host", fallback="") or "127.0.0.1"
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "[::]") else host
    scheme = "https" if conf.get("api", "ssl_cert", fallback="") else "http"
    return f"{scheme}://{host}:{conf.getint('api', 'port', fallback=8080)}{base_url.rstrip('/')}"


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Fargate environments</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #1a202c; }
 table { border-collapse: collapse; width: 100%; }
 th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid #e2e8f0; font-size: .9rem; }
 th { background: #f7fafc; }
 button { padding: .25rem .8rem; border: 1px solid #c53030; color: #c53030; background: #fff; border-radius: 4px;
   cursor: pointer; }
 button:disabled { opacity: .5; cursor: default; }
 button.keep { border-color: #2b6cb0; color: #2b6cb0; }
 input { font-size: .85rem; }
 #status { margin: .8rem 0; min-height: 1.2rem; }
</style></head>
<body>
<h1>Fargate environments</h1>
<p>Ephemeral environments managed by airflow-provider-fargate (found by their tags through
the connection the Variable <code>fargate_aws_conn_id</code> names, else <code>aws_default</code>).
Costs are estimates from Fargate on-demand prices.
<b>Extend</b> adds hours to an environment's time-to-live, <b>Keep until</b> sets when it expires (at most
__MAX_TTL_HOURS__ hours from now); the janitor destroys environments whose time has passed.</p>
<div id="status" role="status"></div>
<table id="environments"><thead><tr>
 <th>Environment</th><th>URL</th><th>Cluster / service</th><th>Task definition</th><th>Tasks (running/desired)</th>
 <th>Age</th><th>TTL left</th><th>Cost so far</th><th></th>
</tr></thead><tbody></tbody></table>
<script>
const MAX_TTL_HOURS = __MAX_TTL_HOURS__;
function duration(seconds) {
  if (seconds === null || seconds === undefined) return "-";
  const sign = seconds < 0 ? "expired " : "";
  let s = Math.abs(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return sign + (h ? h + " h " : "") + m + " min" + (sign ? " ago" : "");
}
function cell(row, text) {
  const td = document.createElement("td"); td.textContent = text; row.appendChild(td); return td;
}
async function load() {
  const response = await fetch("api/environments", {credentials: "same-origin"});
  const status = document.getElementById("status");
  if (!response.ok) { status.textContent = "Could not list environments: HTTP " + response.status; return; }
  const data = await response.json();
  const body = document.querySelector("#environments tbody");
  body.replaceChildren();
  if (!data.environments.length) { status.textContent = "No environments."; }
  for (const env of data.environments) {
    const row = document.createElement("tr");
    row.dataset.environment = env.environment;
    cell(row, env.environment);
    const links = cell(row, (env.urls || []).length ? "" : "-");
    for (const url of env.urls || []) {
      if (!/^https?:[/][/]/.test(url)) continue;  // a tag is data: only web addresses become links
      const a = document.createElement("a");
      a.href = url; a.textContent = url; a.rel = "noopener noreferrer"; a.target = "_blank";
      links.appendChild(a); links.appendChild(document.createTextNode(" "));
    }
    cell(row, env.cluster + " / " + (env.service || "-"));
    cell(row, env.task_definition || "-");
    cell(row, env.running_count + "/" + env.desired_count);
    cell(row, duration(env.age_seconds));
    cell(row, duration(env.ttl_left_seconds));
    cell(row, env.estimated_cost_usd === null ? "n/a" : "$" + env.estimated_cost_usd.toFixed(4)).title =
      env.cost_note || "";
    const actions = cell(row, "");
    const hours = document.createElement("input");
    hours.type = "number"; hours.min = 1; hours.max = MAX_TTL_HOURS; hours.value = 2; hours.size = 3;
    hours.name = "extend-hours-" + env.environment; hours.title = "hours";
    const extend = document.createElement("button");
    extend.textContent = "Extend"; extend.name = "extend-" + env.environment; extend.className = "keep";
    extend.onclick = () => changeExpiry(env.environment, {hours: Number(hours.value)}, extend);
    const until = document.createElement("input");
    until.type = "datetime-local"; until.name = "keep-until-" + env.environment; until.title = "your local time";
    const keep = document.createElement("button");
    keep.textContent = "Keep until"; keep.name = "keep-until-button-" + env.environment; keep.className = "keep";
    keep.onclick = () => {
      if (!until.value) {
        document.getElementById("status").textContent = "Keep " + env.environment + " until: pick a time.";
        return;
      }
      changeExpiry(env.environment, {until: new Date(until.value).toISOString()}, keep);
    };
    const button = document.createElement("button");
    button.textContent = "Destroy";
    button.name = "destroy-" + env.environment;
    button.onclick = () => destroy(env.environment, button);
    for (const element of [hours, extend, until, keep, button]) {
      actions.appendChild(element); actions.appendChild(document.createTextNode(" "));
    }
    row.cells[6].title = env.expires_at ? "expires " + env.expires_at : "";
    body.appendChild(row);
  }
}
async function changeExpiry(name, change, button) {
  button.disabled = true;
  const status = document.getElementById("status");
  const response = await fetch("api/environments/" + encodeURIComponent(name) + "/expiry",
    {method: "POST", credentials: "same-origin", body: JSON.stringify(change),
     headers: {"X-Requested-By": "fargate-environments", "Content-Type": "application/json"}});
  const body = await response.json();
  button.disabled = false;
  if (response.ok) {
    await load();
    status.textContent =
      name + " now expires at " + body.expires_at + " (" + duration(body.ttl_left_seconds) + " left).";
  } else {
    status.textContent = "Could not change the expiry of " + name + ": " + (body.detail || response.status);
  }
}
async function destroy(name, button) {
  button.disabled = true;
  const status = document.getElementById("status");
  const response = await fetch("api/environments/" + encodeURIComponent(name) + "/destroy",
    {method: "POST", credentials: "same-origin", headers: {"X-Requested-By": "fargate-environments"}});
  const body = await response.json();
  if (response.ok) {
    status.textContent = "Destroy of " + name + " requested: run " + body.dag_run_id + " of " + body.dag_id + ".";
  } else {
    status.textContent = "Destroy of " + name + " failed: " + (body.detail || response.status);
    button.disabled = false;
  }
}
load();
</script>
</body></html>
"""
