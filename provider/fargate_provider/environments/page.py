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
from fargate_provider.environments.naming import (
    DAG_ID,
    MAX_TTL_HOURS,
    NAME_PATTERN,
    EnvironmentSpecError,
    run_id_for,
)
from fargate_provider.exceptions import NotOursError

log = logging.getLogger(__name__)

# How long a listing waits for services and costs not yet read (the first listing after the API server
# starts reads every service and its history: seconds at a hundred environments). The rest show
# "reading…" or "estimating…", and the page asks again 2 s later while any is.
PAGE_WAIT_SECONDS = 1.0

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
    environments = describe_environments(_hook(), now, wait=PAGE_WAIT_SECONDS)
    return {"environments": environments, "as_of": now.isoformat(timespec="seconds")}


async def _trigger(name: str, action: str, request: Request, x_requested_by: str | None) -> dict[str, Any]:
    """Trigger fargate_ephemeral_environment with ``action`` through Airflow's REST API as the
    signed-in user, under a run id that says what it does (``destroy-NAME-<UTC>``)."""
    if x_requested_by != CSRF_HEADER_VALUE:
        raise HTTPException(status_code=403, detail="missing X-Requested-By header")
    if not re.fullmatch(NAME_PATTERN, name):
        raise HTTPException(status_code=422, detail="environment: not an environment name")
    token = _request_token(request)
    body = {
        "dag_run_id": run_id_for(action, name, dt.datetime.now(dt.UTC)),
        "logical_date": None,
        "conf": {"environment": name, "action": action},
        "note": f"{action} {name} (Fargate environments page)",
    }
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{airflow_api_base_url()}/api/v2/dags/{DAG_ID}/dagRuns",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
    if response.status_code >= 300:
        raise HTTPException(status_code=response.status_code, detail=f"Airflow refused the run: {response.text[:300]}")
    run = response.json()
    return {
        "environment": name,
        "action": action,
        "dag_id": DAG_ID,
        "dag_run_id": run["dag_run_id"],
        "state": run.get("state"),
    }


@app.post("/api/environments/{name}/destroy", dependencies=[may_destroy_environments])
async def destroy_environment(
    name: str,
    request: Request,
    user: Annotated[Any, Depends(get_user)],
    x_requested_by: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    return await _trigger(name, "destroy", request, x_requested_by)


@app.post("/api/environments/{name}/sleep", dependencies=[may_destroy_environments])
async def sleep_environment(
    name: str,
    request: Request,
    user: Annotated[Any, Depends(get_user)],
    x_requested_by: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Sleep: 0 tasks, the route kept (a run of the environment DAG; same permission as Extend)."""
    return await _trigger(name, "sleep", request, x_requested_by)


@app.post("/api/environments/{name}/wake", dependencies=[may_destroy_environments])
async def wake_environment(
    name: str,
    request: Request,
    user: Annotated[Any, Depends(get_user)],
    x_requested_by: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Wake: the tasks it had, waited for until healthy (a run of the environment DAG)."""
    return await _trigger(name, "wake", request, x_requested_by)


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
 body { font-family: Inter, system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5rem 2rem; color: #1a202c; }
 h1 { font-size: 1.5rem; font-weight: 600; margin: 0 0 .5rem; }
 p.intro { max-width: 62rem; color: #4a5568; line-height: 1.45; }
 .toolbar { display: flex; gap: 1rem; align-items: center; margin: 1rem 0 .5rem; font-size: .9rem; }
 table { border-collapse: collapse; width: 100%; }
 th, td { text-align: left; padding: .45rem .6rem; border-bottom: 1px solid #e2e8f0; font-size: .88rem;
   vertical-align: top; }
 th { background: #f7fafc; font-weight: 600; color: #4a5568; }
 td .detail { display: block; color: #718096; font-size: .8rem; margin-top: .15rem; }
 .asleep { color: #6b46c1; } .busy { color: #b7791f; font-style: italic; }
 button { padding: .25rem .7rem; border: 1px solid #cbd5e0; color: #2d3748; background: #fff; border-radius: 6px;
   cursor: pointer; font-size: .85rem; }
 button.danger { border-color: #c53030; color: #c53030; } button.keep { border-color: #2b6cb0; color: #2b6cb0; }
 button:disabled { opacity: .45; cursor: default; }
 .actions { display: flex; flex-wrap: wrap; gap: .35rem; align-items: center; }
 .actions label { font-size: .8rem; color: #4a5568; }
 input, select { font-size: .85rem; }
 #status { margin: .6rem 0; min-height: 1.2rem; }
</style></head>
<body>
<h1>Fargate environments</h1>
<p class="intro">Preview environments: each is a Fargate service with its own URL, made by the
<a href="/dags/fargate_ephemeral_environment">fargate_ephemeral_environment</a> DAG (its Trigger form, or
<code>fargate-env up</code> from CI). Each one is destroyed when its time runs out.
<b>Sleep</b> stops its tasks (nothing to pay; its URL answers "asleep"), <b>Wake</b> starts them again,
<b>Extend</b> and <b>Keep until</b> move its expiry (at most __MAX_TTL_HOURS__ hours from now), <b>Destroy</b>
removes it. Costs are estimates at Fargate's on-demand prices.</p>
<div class="toolbar">
 <label>Owner <select id="owner-filter" name="owner-filter"><option value="">everyone</option></select></label>
 <button id="refresh" type="button">Refresh</button> <span id="as-of"></span>
</div>
<div id="status" role="status" aria-live="polite"></div>
<table id="environments"><thead><tr>
 <th>Environment</th><th>URL</th><th>Owner</th><th>Source</th><th>Image</th><th>State</th><th>Expires</th>
 <th>Cost so far</th><th>Actions</th>
</tr></thead><tbody></tbody></table>
<script>
const MAX_TTL_HOURS = __MAX_TTL_HOURS__;
const DAG_ID = "fargate_ephemeral_environment";
const pending = {};  // environment -> {action, run}: what this page asked for and is still waiting to see
let timer = null;
function duration(seconds) {
  if (seconds === null || seconds === undefined) return "-";
  const sign = seconds < 0 ? "expired " : "in ";
  let s = Math.abs(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return sign + (h ? h + " h " : "") + m + " min" + (seconds < 0 ? " ago" : "");
}
function local(iso) { return iso ? new Date(iso).toLocaleString() : "-"; }
function runLink(run) {
  const a = document.createElement("a");
  a.href = "/dags/" + DAG_ID + "/runs/" + encodeURIComponent(run); a.textContent = run;
  return a;
}
function link(url) {
  const a = document.createElement("a");
  a.href = url; a.textContent = url; a.rel = "noopener noreferrer"; a.target = "_blank";
  return a;
}
function cell(row, column, text) {
  const td = document.createElement("td"); td.dataset.column = column;
  if (text !== undefined) td.textContent = text;
  row.appendChild(td); return td;
}
function detail(td, content) {
  const span = document.createElement("span"); span.className = "detail";
  if (typeof content === "string") span.textContent = content; else span.appendChild(content);
  td.appendChild(span); return span;
}
function button(text, name, cls, onclick) {
  const b = document.createElement("button"); b.type = "button";
  b.textContent = text; b.name = name; if (cls) b.className = cls; b.onclick = onclick; return b;
}
function settled(env) {  // has the environment reached what this page asked for?
  const p = pending[env.environment];
  if (!p) return true;
  if (p.action === "sleep") return !!env.asleep_since && env.running_count === 0;
  if (p.action === "wake") return !env.asleep_since && env.desired_count > 0 && env.running_count === env.desired_count;
  return false;  // destroy: settled when the environment is gone
}
async function load() {
  const status = document.getElementById("status");
  const response = await fetch("api/environments", {credentials: "same-origin"});
  if (!response.ok) {
    status.textContent = "Could not list environments: HTTP " + response.status + "; trying again.";
    clearTimeout(timer); timer = setTimeout(load, 5000);  // a passing error must not stop the refresh
    return;
  }
  const data = await response.json();
  document.getElementById("as-of").textContent = "as of " + local(data.as_of);
  const names = new Set(data.environments.map(e => e.environment));
  for (const [name, p] of Object.entries(pending)) {
    if (p.action === "destroy" && !names.has(name)) { delete pending[name]; status.textContent = name + " destroyed."; }
  }
  const filter = document.getElementById("owner-filter");
  const chosen = filter.value;
  const owners = [...new Set(data.environments.map(e => e.owner).filter(Boolean))].sort();
  filter.replaceChildren(new Option("everyone", ""), ...owners.map(o => new Option(o, o)));
  filter.value = owners.includes(chosen) ? chosen : "";
  const shown = data.environments.filter(e => !filter.value || e.owner === filter.value);
  const body = document.querySelector("#environments tbody");
  body.replaceChildren();
  if (!shown.length) {
    const row = document.createElement("tr"); const td = cell(row, "empty", "No environments" +
      (filter.value ? " of " + filter.value : "") + "."); td.colSpan = 9; body.appendChild(row);
  }
  for (const env of shown) {
    if (pending[env.environment] && settled(env)) {
      status.textContent = env.environment + (env.asleep_since ? " is asleep." : " is awake.");
      delete pending[env.environment];
    }
    const busy = pending[env.environment];
    const row = document.createElement("tr");
    row.dataset.environment = env.environment;
    const name = cell(row, "environment", env.environment);
    detail(name, env.cluster + " / " + (env.service || "-") + " · " + (env.task_definition || "-"));
    if (env.last_run_id) { detail(name, "last changed by ").appendChild(runLink(env.last_run_id)); }
    const urls = cell(row, "url", (env.urls || []).length ? "" : "-");
    for (const url of env.urls || []) {
      if (!/^https?:[/][/]/.test(url)) continue;  // a tag is data: only web addresses become links
      urls.appendChild(link(url)); urls.appendChild(document.createTextNode(" "));
    }
    cell(row, "owner", env.owner || "-");
    const source = cell(row, "source", "");
    for (const part of (env.source || "-").split(" ")) {
      source.appendChild(/^https?:[/][/]/.test(part) ? link(part) : document.createTextNode(part));
      source.appendChild(document.createTextNode(" "));
    }
    cell(row, "image", env.image || "-");
    const state = cell(row, "state", "");
    if (busy) {
      state.className = "busy";
      state.textContent = {destroy: "destroying… ", sleep: "going to sleep… ", wake: "waking… "}[busy.action];
      state.appendChild(runLink(busy.run));
    } else if (env.asleep_since) {
      state.className = "asleep";
      state.textContent = "asleep since " + local(env.asleep_since);
      detail(state, "wakes with " + (env.awake_count || 1) + " task(s)");
    } else if (env.service_pending) {
      state.textContent = "awake: " + env.running_count + " task(s) running";
      detail(state, "reading the service…");
    } else {
      state.textContent = "awake: " + env.running_count + "/" + env.desired_count + " tasks running";
      if (env.targets_total !== null && env.targets_total !== undefined)
        detail(state, env.targets_healthy + "/" + env.targets_total + " targets healthy");
    }
    const expires = cell(row, "expires", local(env.expires_at));
    detail(expires, duration(env.ttl_left_seconds));
    cell(row, "cost", env.cost_pending ? "estimating…"
      : env.estimated_cost_usd === null ? "n/a" : "$" + env.estimated_cost_usd.toFixed(4)).title = env.cost_note || "";
    const actions = cell(row, "actions", ""); actions.className = "actions";
    const hoursLabel = document.createElement("label");
    const hours = document.createElement("input");
    hours.type = "number"; hours.min = 1; hours.max = MAX_TTL_HOURS; hours.value = 2; hours.style.width = "3.5em";
    hours.name = "extend-hours-" + env.environment;
    hoursLabel.append("+", hours, " h");
    const extend = button("Extend", "extend-" + env.environment, "keep",
      () => changeExpiry(env.environment, {hours: Number(hours.value)}, extend));
    const untilLabel = document.createElement("label");
    const until = document.createElement("input");
    until.type = "datetime-local"; until.name = "keep-until-" + env.environment;
    untilLabel.append("until ", until);
    const keep = button("Keep until", "keep-until-button-" + env.environment, "keep", () => {
      if (!until.value) { status.textContent = "Keep " + env.environment + " until: pick a time."; return; }
      changeExpiry(env.environment, {until: new Date(until.value).toISOString()}, keep);
    });
    const toggle = env.asleep_since
      ? button("Wake", "wake-" + env.environment, "keep", () => act(env.environment, "wake"))
      : button("Sleep", "sleep-" + env.environment, "", () => act(env.environment, "sleep"));
    const destroy = button("Destroy", "destroy-" + env.environment, "danger", () => {
      if (confirm("Destroy " + env.environment + "? Its service, task definition, route and cluster are deleted.")) {
        act(env.environment, "destroy");
      }
    });
    for (const element of [hoursLabel, extend, untilLabel, keep, toggle, destroy]) actions.appendChild(element);
    if (busy) for (const b of actions.querySelectorAll("button")) b.disabled = true;
    body.appendChild(row);
  }
  clearTimeout(timer);
  if (Object.keys(pending).length) timer = setTimeout(load, 5000);  // until what was asked for is done
  else if (data.environments.some(e => e.service_pending || e.cost_pending))
    timer = setTimeout(load, 2000);  // services or costs still being read
}
async function act(name, action) {
  const status = document.getElementById("status");
  const response = await fetch("api/environments/" + encodeURIComponent(name) + "/" + action,
    {method: "POST", credentials: "same-origin", headers: {"X-Requested-By": "fargate-environments"}});
  const body = await response.json();
  if (response.ok) {
    pending[name] = {action: action, run: body.dag_run_id};
    status.replaceChildren(document.createTextNode(
      {destroy: "Destroying ", sleep: "Putting to sleep ", wake: "Waking "}[action] + name + ": run "),
      runLink(body.dag_run_id), document.createTextNode("."));
    await load();
  } else {
    status.textContent = action + " " + name + " was refused: " + (body.detail || response.status);
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
    status.textContent = name + " now expires at " + local(body.expires_at) + " (" + body.expires_at + ", " +
      duration(body.ttl_left_seconds) + ").";
  } else {
    status.textContent = "Could not change the expiry of " + name + ": " + (body.detail || response.status);
  }
}
document.getElementById("refresh").onclick = load;
document.getElementById("owner-filter").onchange = load;
load();
</script>
</body></html>
"""
