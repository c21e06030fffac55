"""An ephemeral environment on Fargate, started from the Airflow UI's Trigger form.

``create`` (default): preflight (read-only: roles, image, log group, routes; every problem at
once, nothing created) → cluster (ours or new) → task definition and route side by side → service → wait until
stable. Same name, same resources: creating an existing environment updates it (new image, size
or count) and resets its time-to-live. If a step fails, teardown tasks remove what this run
created (service → route and task definition → cluster); an environment that existed before the run is left
as the circuit breaker rolled it back. ``destroy`` removes the environment. ``sleep`` scales it
to 0 tasks and keeps its route (the load balancer answers "asleep"); ``wake`` brings back the
tasks it had and waits until they are healthy.

``fargate_environment_janitor`` destroys environments whose time-to-live has passed.
Nothing here calls AWS when the file is parsed.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from fargate_provider.environments.form import (
    AWS_CONN_ID,
    aws_conn_id,
    size_param,
    subnet_kind_param,
    task_role_param,
    who_and_what_param,
)
from fargate_provider.environments.naming import (
    ACTIONS,
    CIDR_PATTERN,
    CONTAINER_NAME,
    ENV_VAR_NAME_PATTERN,
    ENVIRONMENT_TAG,
    EXPOSE_AUTO,
    HEALTHY_CODES_PATTERN,
    MAX_ALLOWED_CIDRS,
    MAX_TTL_HOURS,
    NAME_PATTERN,
    READY_TASK_ID,
)
from fargate_provider.environments.report import EnvironmentReportOperator
from fargate_provider.environments.task_definition import task_definition_from_form
from fargate_provider.environments.teardown import only_after_failure
from fargate_provider.exceptions import fail_fast_on_input_errors
from fargate_provider.operators.cluster import FargateCreateClusterOperator, FargateDeleteClusterOperator
from fargate_provider.operators.preflight import FargatePreflightOperator
from fargate_provider.operators.service import (
    FargateCreateServiceOperator,
    FargateDeleteServiceOperator,
    FargateUpdateServiceOperator,
)
from fargate_provider.operators.task_definition import (
    FargateDeregisterTaskDefinitionOperator,
    FargateRegisterTaskDefinitionOperator,
)
from fargate_provider.settings import RESUME_NOT_BEFORE_SECONDS
from fargate_provider.utils.tags import MANAGED_BY_KEY, MANAGED_BY_VALUE

MAX_ACTIVE_RUNS = 16  # environments changed at once; more runs queue (Airflow starts them as these end)
TURN_TIMEOUT_SECONDS = 2 * 3600  # a run waits this long for the run before it, then fails saying which
POLL_INTERVAL = 5  # seconds between DescribeServices calls while waiting (cheap, well under ECS's rate limits)
# Behind a load balancer, new tasks get this long to start answering health checks.
HEALTH_CHECK_GRACE_SECONDS = 60
# Destroy touches only what carries these tags: the provider's, for this environment.
ENVIRONMENT_RESOURCE_TAGS = {MANAGED_BY_KEY: MANAGED_BY_VALUE, ENVIRONMENT_TAG: "{{ params.environment }}"}
# The task definition is built from the form where it is used (preflight, register), so the
# environment variables' values are in no XCom; secret-looking ones show as *** in rendered fields.
TASK_DEFINITION = "{{ environment_task_definition(params, ti.xcom_pull(task_ids='prepare')) }}"

with DAG(
    dag_id="fargate_ephemeral_environment",
    description="Create, update or destroy an ephemeral environment (a Fargate service) from the Trigger form.",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    # Runs of different environments go side by side (a burst of pull requests); runs of one
    # environment take turns (take_turn below).
    max_active_runs=MAX_ACTIVE_RUNS,
    render_template_as_native_obj=True,
    user_defined_macros={"environment_task_definition": task_definition_from_form},
    tags=["fargate", "environments"],
    default_args={"aws_conn_id": AWS_CONN_ID},
    doc_md=__doc__,
    params={
        "environment": Param(
            "preview",
            type="string",
            pattern=NAME_PATTERN,
            minLength=2,
            maxLength=30,
            title="Environment name",
            description="2-30 lower-case letters, digits and hyphens. Names the cluster (env-NAME), service and task "
            "definition; creating an existing name updates that environment.",
        ),
        "action": Param(
            "create",
            type="string",
            enum=list(ACTIONS),
            title="Action",
            values_display={
                "create": "Create or update",
                "destroy": "Destroy",
                "sleep": "Sleep (0 tasks, nothing to pay; the URL answers: asleep)",
                "wake": "Wake (the tasks it had before it slept)",
            },
            description="create: start the environment, or update it if it exists. destroy: remove it. "
            "sleep / wake: stop its tasks and keep everything else / start them again.",
        ),
        "image": Param(
            "public.ecr.aws/nginx/nginx:1.27",
            type="string",
            minLength=1,
            maxLength=255,
            pattern=r"^\S+$",
            title="Container image",
            description="Image reference the service runs, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1.4.",
        ),
        "size": size_param("256/512", "vCPU and memory of each task."),
        "desired_count": Param(
            1,
            type="integer",
            minimum=0,
            maximum=10,
            title="Tasks",
            description="How many tasks the service keeps running (0-10).",
        ),
        "container_port": Param(
            80,
            type="integer",
            minimum=1,
            maximum=65535,
            title="Container port",
            description="Port the container listens on (1-65535).",
        ),
        "subnet_kind": subnet_kind_param("private"),
        "expose": Param(
            EXPOSE_AUTO,
            type="string",
            enum=[EXPOSE_AUTO, "load_balancer", "public_ip", "none"],
            title="Reach it through",
            values_display={
                EXPOSE_AUTO: "Automatic",
                "load_balancer": "Load balancer (https://NAME.<domain>)",
                "public_ip": "Public IP of each task",
                "none": "Inside the VPC only",
            },
            description=(
                "Where people open the environment. Automatic: the load balancer if the platform team set it up "
                "(Variables fargate_environments_listener_arn and _domain), else a public IP in public subnets, "
                "else inside the VPC. The URL is on the report task and the environments page."
            ),
        ),
        "allowed_cidrs": Param(
            None,
            type=["null", "array"],
            items={"type": "string", "pattern": CIDR_PATTERN},
            maxItems=MAX_ALLOWED_CIDRS,
            section="Behind the load balancer",
            title="Allowed addresses",
            description=(
                f"Behind the load balancer: only these CIDR blocks reach the environment (one per line, up to "
                f"{MAX_ALLOWED_CIDRS}, e.g. 203.0.113.0/24); others get 403 from the load balancer. Empty: open to all."
            ),
        ),
        "health_check_path": Param(
            "/",
            type="string",
            pattern=r"^/[\x21-\x7e]{0,1023}$",
            section="Behind the load balancer",
            title="Health check path",
            description=(
                "Behind the load balancer: the path its health checks request. "
                "The environment is stable only once every task answers."
            ),
        ),
        "healthy_codes": Param(
            "200-399",
            type="string",
            pattern=HEALTHY_CODES_PATTERN,
            section="Behind the load balancer",
            title="Healthy HTTP codes",
            description="Behind the load balancer: the answers that count as healthy, e.g. 200 or 200-399 or 200,302.",
        ),
        "environment_variables": Param(
            None,
            type=["null", "object"],
            propertyNames={"pattern": ENV_VAR_NAME_PATTERN, "maxLength": 255},
            maxProperties=100,
            additionalProperties={"type": "string", "maxLength": 4096},
            title="Environment variables",
            description='Optional. Plain variables for the container, as JSON: {"LOG_LEVEL": "debug"}. '
            "Not for secrets: they show in the task definition.",
        ),
        "task_role": task_role_param(),
        "owner": who_and_what_param(
            "Owner",
            "Who the environment is for (shown on the environments page). "
            "Empty: the Airflow user who triggers the run.",
        ),
        "source": who_and_what_param(
            "Source",
            "Where it comes from, e.g. a pull request and commit: "
            "https://github.com/org/app/pull/42 3f2c1ab (letters, digits, spaces and _ . : / = + - @).",
        ),
        "ttl_hours": Param(
            8,
            type="integer",
            minimum=1,
            maximum=MAX_TTL_HOURS,
            title="Time to live (hours)",
            description=(
                f"After this many hours (1-{MAX_TTL_HOURS}) the janitor destroys the environment. "
                "Creating it again resets the clock."
            ),
        ),
    },
) as dag:
    # A waiting run asks again every [fargate] resume_not_before_seconds (15 s), not sooner: Airflow 3.3
    # can fail a reschedule-mode sensor whose next poke is queued before the executor reports the last
    # one (apache/airflow#71172, fix open in #71194), the same race our triggers guard against.
    @task.sensor(
        poke_interval=RESUME_NOT_BEFORE_SECONDS.get(),
        timeout=TURN_TIMEOUT_SECONDS,
        mode="reschedule",
        max_active_tis_per_dag=1,  # one instance at a time across runs: the turns' read-check-write is safe
    )
    def take_turn(params: dict, dag_run=None, ti=None) -> bool:
        """Wait until no other queued or running run is changing this environment, then hold its turn."""
        from fargate_provider.environments import turns

        def is_active(run_id: str) -> bool:
            if not ti.get_dr_count(dag_id=dag.dag_id, run_ids=[run_id], states=list(turns.ACTIVE_RUN_STATES)):
                return False
            states = ti.get_task_states(dag_id=dag.dag_id, task_ids=[READY_TASK_ID], run_ids=[run_id])
            return turns.still_changing(True, states.get(run_id, {}))

        holder = turns.take_turn(params["environment"], dag_run.run_id, is_active)
        if holder:
            print(f"Run {holder} is changing {params['environment']}: this run waits for it to end")
            return False
        print(f"This run holds {params['environment']}'s turn: no other run changes it until this one ends")
        return True

    @task(multiple_outputs=True)
    @fail_fast_on_input_errors
    def prepare(params: dict, dag_run=None) -> dict:
        """Check the form (before any AWS call), then find the network, the roles and whether the environment exists."""
        from fargate_provider.environments import exposure, naming, task_definition
        from fargate_provider.hooks.fargate import FargateHook
        from fargate_provider.roles import find_roles
        from fargate_provider.utils.networking import find_network

        env = naming.names(params["environment"])
        result: dict = {**env.as_dict(), "action": params["action"]}
        if params["action"] != "create":
            return result
        hook = FargateHook(aws_conn_id=aws_conn_id())
        region = hook.region_name or "us-east-1"
        # Checked here, built again where it is used (TASK_DEFINITION): the variables' values stay out of XCom.
        task_definition.environment_task_definition(
            env,
            image=params["image"],
            size=params["size"],
            container_port=params["container_port"],
            variables=params["environment_variables"],
            region=region,
        )
        tags = naming.environment_tags(
            env.environment,
            params["ttl_hours"],
            pendulum.now("UTC"),
            owner=params.get("owner") or getattr(dag_run, "triggering_user_name", None),
            source=params.get("source"),
            image=params["image"],
            run_id=getattr(dag_run, "run_id", None),
        )
        from fargate_provider import settings

        listener_arn = settings.ENVIRONMENTS_LISTENER_ARN.get()
        domain = settings.ENVIRONMENTS_DOMAIN.get()
        expose = exposure.resolve_expose(params["expose"], params["subnet_kind"], listener_arn, domain)
        cidrs = naming.allowed_cidrs(params.get("allowed_cidrs"))
        if cidrs and expose != "load_balancer":
            raise naming.EnvironmentSpecError(
                f"allowed_cidrs: only an environment behind the load balancer can be limited to addresses "
                f"(expose is {expose}); set expose to load_balancer or leave allowed_cidrs empty"
            )
        # The form is sound: now the (read-only) lookups.
        roles = find_roles(params.get("task_role"), aws_conn_id=aws_conn_id())
        network = find_network(params["subnet_kind"], aws_conn_id=aws_conn_id())
        print(f"Network for {params['subnet_kind']} subnets: {network['source']}; {roles['source']}")
        cluster = hook.describe_cluster(env.cluster)
        return {
            **result,
            **network,
            **roles,
            "region": region,
            "tags": tags,
            "existed": bool(cluster and cluster["status"] == "ACTIVE"),
            # A create wakes a sleeping environment: the report task then removes the sleep tags.
            "was_asleep": any(t["key"] == naming.ASLEEP_SINCE_TAG for t in (cluster or {}).get("tags") or []),
            "expose": expose,
            "listener_arn": listener_arn if expose == "load_balancer" else None,
            "allowed_cidrs": cidrs,
            "domain": domain if expose == "load_balancer" else None,
        }

    @task.branch
    def choose_action(params: dict) -> str:
        return {
            "create": "preflight",
            "destroy": "destroy_service",
            "sleep": "answer_asleep",
            "wake": "prepare_wake",
        }[params["action"]]

    prepared = prepare()
    take_turn() >> prepared
    action = choose_action()

    # ---------------------------------------------------------------- create (or update)
    preflight = FargatePreflightOperator(
        task_id="preflight",
        task_definition=TASK_DEFINITION,
        cluster=prepared["cluster"],
        subnets=prepared["subnets"],
        security_groups=prepared["security_groups"],
        assign_public_ip=prepared["assign_public_ip"],
    )
    # An existing cluster or service of the name is reused only if it is this environment's.
    create_cluster = FargateCreateClusterOperator(
        task_id="create_cluster",
        cluster_name=prepared["cluster"],
        tags=prepared["tags"],
        require_tags=ENVIRONMENT_RESOURCE_TAGS,
    )
    register = FargateRegisterTaskDefinitionOperator(
        task_id="register_task_definition",
        task_definition=TASK_DEFINITION,
        tags=prepared["tags"],
        skip_if_unchanged=True,
    )

    @task(multiple_outputs=True)
    @fail_fast_on_input_errors
    def route(prepared: dict, params: dict) -> dict:
        """With expose=load_balancer: the environment's target group and listener rule (NAME.<domain>)."""
        from fargate_provider.environments import exposure
        from fargate_provider.hooks.fargate import AwsServiceHook

        if prepared["expose"] != "load_balancer":
            return {"load_balancers": None, "grace_seconds": None, "url": None}
        ec2 = AwsServiceHook(aws_conn_id=aws_conn_id(), client_type="ec2").conn
        vpc_id = ec2.describe_subnets(SubnetIds=prepared["subnets"][:1])["Subnets"][0]["VpcId"]
        made = exposure.ensure_route(
            aws_conn_id=aws_conn_id(),
            environment=prepared["environment"],
            listener_arn=prepared["listener_arn"],
            domain=prepared["domain"],
            vpc_id=vpc_id,
            container_port=params["container_port"],
            health_check_path=params["health_check_path"],
            healthy_codes=params["healthy_codes"],
            tags={**prepared["tags"], MANAGED_BY_KEY: MANAGED_BY_VALUE},
            allowed_cidrs=prepared["allowed_cidrs"],
        )
        print(f"Route: {made.url} → target group {made.target_group_arn} (listener rule priority {made.priority})")
        return {
            "load_balancers": [
                {
                    "targetGroupArn": made.target_group_arn,
                    "containerName": CONTAINER_NAME,
                    "containerPort": params["container_port"],
                }
            ],
            "grace_seconds": HEALTH_CHECK_GRACE_SECONDS,
            "url": made.url,
        }

    routed = route(prepared)

    create_service = FargateCreateServiceOperator(
        task_id="create_service",
        cluster=prepared["cluster"],
        service_name=prepared["service"],
        task_definition=register.output,
        desired_count="{{ params.desired_count }}",
        subnets=prepared["subnets"],
        security_groups=prepared["security_groups"],
        assign_public_ip=prepared["assign_public_ip"],
        tags=prepared["tags"],
        require_tags=ENVIRONMENT_RESOURCE_TAGS,
        load_balancers=routed["load_balancers"],
        health_check_grace_period_seconds=routed["grace_seconds"],
        poll_interval=POLL_INTERVAL,
        timeout=1800,
    )

    def report(
        cluster: str,
        service: str,
        task_definition_arn: str,
        tags: dict,
        expose: str,
        route_url: str | None,
        was_asleep: bool,
        params: dict,
    ) -> dict:
        """Log what the environment is now, and return it (the demo's summary and the task's
        "Environment URL" link read it)."""
        from fargate_provider.environments import exposure
        from fargate_provider.hooks.fargate import FargateHook
        from fargate_provider.utils.pricing import PriceNotKnown, fargate_cost
        from fargate_rules.arns import name_from_arn
        from fargate_rules.sizes import parse_size_choice

        hook = FargateHook(aws_conn_id=aws_conn_id())
        described = hook.describe_service(cluster, service) or {}
        cpu, memory = parse_size_choice(params["size"])
        try:
            per_task_hour = fargate_cost(cpu, memory, 3600, region=hook.region_name or "us-east-1").usd
            per_hour = round(per_task_hour * described.get("desiredCount", 0), 6)
        except PriceNotKnown as err:
            per_hour = None
            print(f"No cost estimate: {err}")
        summary = {
            "environment": params["environment"],
            "cluster": cluster,
            "service": service,
            "task_definition": name_from_arn(task_definition_arn),
            "running": f"{described.get('runningCount')}/{described.get('desiredCount')}",
            "subnets": params["subnet_kind"],
            "expires_at": tags.get("fargate-expires-at"),
            "owner": tags.get("fargate-owner"),
            "source": tags.get("fargate-source"),
            "estimated_usd_per_hour": per_hour,
            "expose": expose,
            "urls": exposure.environment_urls(
                aws_conn_id=aws_conn_id(),
                cluster=cluster,
                service=service,
                expose=expose,
                container_port=params["container_port"],
                route_url=route_url,
            ),
        }
        if described.get("clusterArn"):  # the environments page shows it
            from fargate_provider.environments.naming import URL_TAG, url_tag_value

            hook.tag_resource(described["clusterArn"], {URL_TAG: url_tag_value(summary["urls"])})
            if was_asleep:
                from fargate_provider.environments.naming import ASLEEP_SINCE_TAG, AWAKE_COUNT_TAG

                hook.untag_resource(described["clusterArn"], [ASLEEP_SINCE_TAG, AWAKE_COUNT_TAG])
        where = " (inside the VPC only)" if expose == "none" else ""
        print(f"Environment URL: {', '.join(summary['urls']) or 'none yet'}{where}")
        print(f"Environment ready: {summary}")
        return summary

    # An operator rather than @task: the operator carries the "Environment URL" extra link.
    reported = EnvironmentReportOperator(
        task_id=READY_TASK_ID,
        python_callable=report,
        doc_md=report.__doc__,
        op_kwargs={
            "cluster": prepared["cluster"],
            "service": prepared["service"],
            "task_definition_arn": register.output,
            "tags": prepared["tags"],
            "expose": prepared["expose"],
            "route_url": routed["url"],
            "was_asleep": prepared["was_asleep"],
        },
    )

    # Teardown: runs after the create steps whatever happened, but acts only if one failed.
    cleanup = only_after_failure(existed_xcom=("prepare", "existed"))
    cleanup_service = FargateDeleteServiceOperator(
        task_id="cleanup_service",
        cluster=prepared["cluster"],
        service=prepared["service"],
        require_tags=ENVIRONMENT_RESOURCE_TAGS,
        poll_interval=POLL_INTERVAL,
        pre_execute=cleanup,
    ).as_teardown(setups=[create_cluster, create_service])

    @task(pre_execute=cleanup)
    def cleanup_route(params: dict) -> list:
        from fargate_provider import settings
        from fargate_provider.environments import exposure

        return exposure.delete_route(
            aws_conn_id=aws_conn_id(),
            environment=params["environment"],
            listener_arn=settings.ENVIRONMENTS_LISTENER_ARN.get(),
        )

    cleaned_route = cleanup_route().as_teardown(setups=[create_cluster, routed])
    cleanup_task_definition = FargateDeregisterTaskDefinitionOperator(
        task_id="cleanup_task_definition",
        task_definition=prepared["family"],
        delete=True,
        require_tags=ENVIRONMENT_RESOURCE_TAGS,
        pre_execute=cleanup,
    ).as_teardown(setups=[create_cluster, register])
    cleanup_cluster = FargateDeleteClusterOperator(
        task_id="cleanup_cluster",
        cluster_name=prepared["cluster"],
        require_tags=ENVIRONMENT_RESOURCE_TAGS,
        stop_own_tasks=True,
        pre_execute=cleanup,
    ).as_teardown(setups=create_cluster)

    # The cluster first: it finds out whether a cluster of the name is ours, and nothing is registered
    # or routed for one that is not (a failed create changes nothing). Then the task definition and
    # the route side by side (a create is a chain of tasks, each a process start: fewer in a row, sooner up).
    prepared >> action >> preflight >> create_cluster >> [register, routed] >> create_service >> reported
    # Undone in reverse: the service first (its target group and task definition are in use), the cluster last.
    reported >> cleanup_service >> [cleaned_route, cleanup_task_definition] >> cleanup_cluster

    # ---------------------------------------------------------------- destroy
    destroy_service = FargateDeleteServiceOperator(
        task_id="destroy_service",
        cluster=prepared["cluster"],
        service=prepared["service"],
        require_tags=ENVIRONMENT_RESOURCE_TAGS,
        poll_interval=POLL_INTERVAL,
    )
    destroy_task_definition = FargateDeregisterTaskDefinitionOperator(
        task_id="destroy_task_definition",
        task_definition=prepared["family"],
        delete=True,
        require_tags=ENVIRONMENT_RESOURCE_TAGS,
    )
    destroy_cluster = FargateDeleteClusterOperator(
        task_id="destroy_cluster",
        cluster_name=prepared["cluster"],
        require_tags=ENVIRONMENT_RESOURCE_TAGS,
        stop_own_tasks=True,
    )

    @task
    def destroy_route(params: dict) -> list:
        """The environment's listener rule and target group (only ones tagged as this environment's)."""
        from fargate_provider import settings
        from fargate_provider.environments import exposure

        return exposure.delete_route(
            aws_conn_id=aws_conn_id(),
            environment=params["environment"],
            listener_arn=settings.ENVIRONMENTS_LISTENER_ARN.get(),
        )

    action >> destroy_service >> destroy_route() >> destroy_task_definition >> destroy_cluster

    # ---------------------------------------------------------------- sleep
    @task
    @fail_fast_on_input_errors
    def answer_asleep(params: dict) -> dict:
        """Record the task count (wake restores it); the load balancer rule answers "asleep"."""
        from fargate_provider import settings
        from fargate_provider.environments import sleep
        from fargate_provider.hooks.fargate import FargateHook

        slept = sleep.put_to_sleep(
            FargateHook(aws_conn_id=aws_conn_id()),
            aws_conn_id=aws_conn_id(),
            environment=params["environment"],
            listener_arn=settings.ENVIRONMENTS_LISTENER_ARN.get(),
            now=pendulum.now("UTC"),
        )
        print(f"{params['environment']}: asleep; wakes with {slept['awake_count']} task(s)")
        return slept

    scale_to_zero = FargateUpdateServiceOperator(
        task_id="scale_to_zero",
        cluster=prepared["cluster"],
        service=prepared["service"],
        desired_count=0,
        poll_interval=POLL_INTERVAL,
    )
    action >> answer_asleep() >> scale_to_zero

    # ---------------------------------------------------------------- wake
    @task(multiple_outputs=True)
    @fail_fast_on_input_errors
    def prepare_wake(params: dict) -> dict:
        """How many tasks the environment had when it fell asleep."""
        from fargate_provider.environments import sleep
        from fargate_provider.hooks.fargate import FargateHook

        return sleep.prepare_wake(FargateHook(aws_conn_id=aws_conn_id()), environment=params["environment"])

    woken = prepare_wake()
    scale_up = FargateUpdateServiceOperator(
        task_id="scale_up",
        cluster=woken["cluster"],
        service=woken["service"],
        desired_count=woken["desired_count"],
        poll_interval=POLL_INTERVAL,
    )

    @task
    def forward_again(params: dict) -> dict:
        """The tasks are healthy: the load balancer forwards to them again; the sleep tags go."""
        from fargate_provider import settings
        from fargate_provider.environments import sleep
        from fargate_provider.hooks.fargate import FargateHook

        return sleep.finish_wake(
            FargateHook(aws_conn_id=aws_conn_id()),
            aws_conn_id=aws_conn_id(),
            environment=params["environment"],
            listener_arn=settings.ENVIRONMENTS_LISTENER_ARN.get(),
        )

    action >> woken >> scale_up >> forward_again()
