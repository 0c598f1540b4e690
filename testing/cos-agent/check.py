"""The charm's cos-agent databag against the real library, as the agents run it.

Takes the `config` value the charm's hook set (through fake-juju) and checks, with the
vendored `lib/charms/grafana_agent/v0/cos_agent.py` and the agent's pinned ops, cosl and
pydantic (one virtual environment per agent):

  parse      it parses into CosAgentProviderUnitData, as COSAgentRequirer validates it;
  requirer   it goes through the real COSAgentRequirer (an agent charm in ops-scenario): no
             validation error, and its metrics jobs, alert rules and dashboards come out;
  reload     the rules the agent writes out survive the agent's reload through cosl (as
             prometheus_remote_write's AlertRules.add_path with the agent's topology): our
             labels kept (juju_charm too), and every PromQL expression parses;
  reference  it is what the real COSAgentProvider sends for the same rule and dashboard
             files, topology and metrics port (a Python charm in ops-scenario), in every
             field but those in KNOWN_DIFFERENCES (which the README explains).

--self-test breaks the databag in the ways that matter and insists each is caught.

usage: check.py --databag FILE --model NAME --uuid UUID --app APP --port PORT --charm-dir DIR
                [--self-test]
"""

import argparse
import copy
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "lib"))

import cosl  # noqa: E402
import ops  # noqa: E402
import promql_parser  # noqa: E402
import yaml  # noqa: E402
from charms.grafana_agent.v0 import cos_agent  # noqa: E402
from cosl import JujuTopology  # noqa: E402
from cosl.rules import AlertRules  # noqa: E402

try:  # ops 3 carries scenario as ops.testing; ops 2 has the ops-scenario package
    from ops import testing as scenario

    scenario.Context  # noqa: B018
except (ImportError, AttributeError):
    import scenario



def cosl_version():
    from importlib.metadata import version

    return tuple(int(p) for p in version("cosl").split(".")[:2])


# Fields where the charm deliberately differs from the Python provider under some cosl,
# each with the README's reason. A path ends in `[]` for every item of a list.
def known_differences():
    if cosl_version() < (1, 9):
        return {
            "metrics_alert_rules.groups[].name": "README, COS: group names end in `_rules` as cosl 1.9+ "
            "names them; cosl before 1.9 says `_alerts`"
        }
    return {}


class Failure(Exception):
    pass


def check_parse(raw, _ctx):
    try:
        return cos_agent.CosAgentProviderUnitData(**json.loads(raw))
    except Exception as e:  # pydantic v1 and v2 raise different types
        raise Failure(f"parse: not CosAgentProviderUnitData: {e}") from e


class AgentCharm(ops.CharmBase):
    """An agent charm: the requirer side, as grafana-agent and the collector set it up."""

    seen = {}

    def __init__(self, framework):
        super().__init__(framework)
        self.cos = cos_agent.COSAgentRequirer(self, is_tracing_ready=lambda: False)
        framework.observe(self.cos.on.validation_error, self._invalid)
        framework.observe(self.cos.on.data_changed, self._changed)

    def _invalid(self, event):
        AgentCharm.seen.setdefault("errors", []).append(event.message)

    def _changed(self, _):
        AgentCharm.seen["jobs"] = self.cos.metrics_jobs
        AgentCharm.seen["alerts"] = self.cos.metrics_alerts
        AgentCharm.seen["log_alerts"] = self.cos.logs_alerts
        AgentCharm.seen["dashboards"] = self.cos.dashboards


AGENT_META = {
    "name": "agent",
    "subordinate": True,
    "requires": {"cos-agent": {"interface": "cos_agent", "scope": "container"}},
    "peers": {"peers": {"interface": "agent_replica"}},
}


def check_requirer(raw, ctx):
    AgentCharm.seen = {}
    relation = scenario.SubordinateRelation(
        "cos-agent", remote_app_name=ctx.app, remote_unit_id=1, remote_unit_data={"config": raw}
    )
    peers = scenario.PeerRelation("peers")
    state = scenario.State(
        relations=[relation, peers], leader=True, model=scenario.Model(name=ctx.model, uuid=ctx.uuid)
    )
    context = scenario.Context(AgentCharm, meta=AGENT_META)
    context.run(context.on.relation_changed(relation, remote_unit=1), state)
    seen = AgentCharm.seen
    if seen.get("errors"):
        raise Failure(f"requirer: validation error: {seen['errors']}")
    if "jobs" not in seen:
        raise Failure("requirer: the agent saw no data")
    targets = [t for job in seen["jobs"] for c in job.get("static_configs", []) for t in c["targets"]]
    if targets != [f"localhost:{ctx.port}"]:
        raise Failure(f"requirer: scrape targets {targets}, not localhost:{ctx.port}")
    for job in seen["jobs"]:
        for config in job["static_configs"]:
            if config["labels"].get("juju_application") != ctx.app:
                raise Failure(f"requirer: the job is not labelled with {ctx.app}: {config['labels']}")
    # cos-tool (not installable here) injects each rule's juju_model, juju_model_uuid and
    # juju_application into its expression: they must be the labels the agent puts on our series.
    rules = json.loads(raw)["metrics_alert_rules"].get("groups", [])
    for config in (c for job in seen["jobs"] for c in job["static_configs"]):
        for rule in (r for g in rules for r in g["rules"]):
            for key in ("juju_model", "juju_model_uuid", "juju_application"):
                if rule["labels"].get(key) != config["labels"].get(key):
                    raise Failure(f"requirer: {rule['alert']}'s {key}={rule['labels'].get(key)!r} would not match "
                                  f"the series, labelled {config['labels'].get(key)!r}")
    if len(seen["alerts"]) != 1:
        raise Failure(f"requirer: alert rules for {len(seen['alerts'])} applications, not 1")
    titles = [d["title"] for d in seen["dashboards"]]
    if not titles or any(t.startswith("no_title") for t in titles):
        raise Failure(f"requirer: dashboards {titles}")
    return seen


def reload_rules(rules, agent_app="agent"):
    """The agent's reload: its rule file read back through cosl with the agent's topology."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "rules.rules")
        path.write_text(yaml.safe_dump(rules))
        topology = JujuTopology(model="m", model_uuid="00000000-0000-4000-8000-000000000000", application=agent_app, charm_name=agent_app)
        reloaded = AlertRules(query_type="promql", topology=topology)
        reloaded.add_path(tmp)
        return reloaded.as_dict()


def check_reload(raw, ctx):
    rules = json.loads(raw)["metrics_alert_rules"]
    for group in rules.get("groups", []):
        for rule in group["rules"]:
            try:
                promql_parser.parse(rule["expr"])
            except Exception as e:
                raise Failure(f"reload: {rule.get('alert')}: PromQL does not parse: {e}: {rule['expr']!r}") from e
    reloaded = reload_rules(rules)
    ours = [r for g in rules.get("groups", []) for r in g["rules"]]
    back = [r for g in reloaded.get("groups", []) for r in g["rules"]]
    if ours != back:
        changed = [(a.get("alert"), a.get("labels"), b.get("labels")) for a, b in zip(ours, back) if a != b]
        raise Failure(f"reload: the agent's reload changed rules: {changed}")
    if cosl_version() >= (1, 9):
        names = [g["name"] for g in rules.get("groups", [])]
        back_names = [g["name"] for g in reloaded.get("groups", [])]
        if names != back_names:
            raise Failure(f"reload: cosl renamed the groups {names} to {back_names}")
    for rule in back:
        if rule["labels"].get("juju_charm") != "github-runner":
            raise Failure(f"reload: {rule.get('alert')} carries juju_charm={rule['labels'].get('juju_charm')!r}")
    return reloaded


class ProviderCharm(ops.CharmBase):
    """A Python charm with the same files, using the real COSAgentProvider."""

    port = 0

    def __init__(self, framework):
        super().__init__(framework)
        self.cos = cos_agent.COSAgentProvider(
            self, metrics_endpoints=[{"path": "/metrics", "port": ProviderCharm.port}]
        )


def reference(ctx):
    """What COSAgentProvider sets, run in a copy of the charm's rule and dashboard directories
    (it reads ./src/...; scenario writes its metadata files into the charm root)."""
    import shutil

    ProviderCharm.port = ctx.port
    meta = {"name": "github-runner", "provides": {"cos-agent": {"interface": "cos_agent"}}}
    relation = scenario.Relation("cos-agent", remote_app_name="agent")
    state = scenario.State(relations=[relation], model=scenario.Model(name=ctx.model, uuid=ctx.uuid))
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as root:
        for sub in ("src/prometheus_alert_rules", "src/loki_alert_rules", "src/grafana_dashboards"):
            if Path(ctx.charm_dir, sub).exists():
                shutil.copytree(Path(ctx.charm_dir, sub), Path(root, sub))
        context = scenario.Context(ProviderCharm, meta=meta, app_name=ctx.app, charm_root=root)
        os.chdir(root)
        try:
            out = context.run(context.on.config_changed(), state)
        finally:
            os.chdir(here)
    return out.get_relation(relation.id).local_unit_data["config"]


def normalized(data):
    """The databag with dashboards decoded (their bytes depend on json.dumps and xz)."""
    data = copy.deepcopy(data)
    data["dashboards"] = [json.loads(cosl.LZMABase64.decompress(d)) for d in data.get("dashboards", [])]
    return data


def differences(a, b, path=""):
    if isinstance(a, dict) and isinstance(b, dict):
        found = []
        for key in sorted(set(a) | set(b)):
            sub = f"{path}.{key}" if path else key
            if key not in a or key not in b:
                found.append((sub, a.get(key, "<absent>"), b.get(key, "<absent>")))
            else:
                found += differences(a[key], b[key], sub)
        return found
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for x, y in zip(a, b) for d in differences(x, y, f"{path}[]")]
    return [] if a == b else [(path, a, b)]


def check_reference(raw, ctx):
    ours = normalized(json.loads(raw))
    theirs = normalized(json.loads(ctx.reference))
    allowed = known_differences()
    unexplained = [d for d in differences(ours, theirs) if d[0] not in allowed]
    if unexplained:
        lines = "\n".join(f"    {p}: ours {json.dumps(a)[:200]} / provider {json.dumps(b)[:200]}" for p, a, b in unexplained)
        raise Failure(f"reference: differs from COSAgentProvider in fields the README does not explain:\n{lines}")
    return [d[0] for d in differences(ours, theirs)]


CHECKS = [("parse", check_parse), ("requirer", check_requirer), ("reload", check_reload), ("reference", check_reference)]


def run(raw, ctx):
    failures = []
    for name, check in CHECKS:
        try:
            check(raw, ctx)
        except Failure as e:
            failures.append((name, str(e)))
        except Exception as e:  # the library raising is a failure of that check too
            failures.append((name, f"{name}: {type(e).__name__}: {e}"))
    return failures


def broken_inputs(raw):
    """(what is broken, the check that must catch it, the broken databag)."""
    def edit(change):
        data = json.loads(raw)
        change(data)
        return json.dumps(data)

    def first_rule(d):
        return d["metrics_alert_rules"]["groups"][0]["rules"][0]

    def rename(suffix):
        def change(d):
            group = d["metrics_alert_rules"]["groups"][0]
            group["name"] = group["name"].rsplit("_", 1)[0] + suffix
        return change

    # Under cosl < 1.9 group names are a known difference (`_alerts`), so only 1.9+ checks them.
    names = cosl_version() >= (1, 9)
    return [
        ("no dashboards field", "parse", edit(lambda d: d.pop("dashboards"))),
        ("a dashboard that is not xz", "requirer", edit(lambda d: d.update(dashboards=["bm90IHh6"]))),
        ("no juju_charm label", "reload", edit(lambda d: first_rule(d)["labels"].pop("juju_charm"))),
        ("an expression that does not parse", "reload", edit(lambda d: first_rule(d).update(expr="up <"))),
        ("the old scrape job name", "reference", edit(lambda d: d["metrics_scrape_jobs"][0].update(job_name="github-runner_0_default"))),
        ("no host-health group", "reference", edit(lambda d: d["metrics_alert_rules"]["groups"].pop())),
        ("a Loki rule back", "reference", edit(lambda d: d.update(log_alert_rules={"groups": [{"name": "x", "rules": []}]}))),
    ] + ([
        ("a group renamed", "reference", edit(lambda d: d["metrics_alert_rules"]["groups"][0].update(name="renamed_rules"))),
        ("the old `_alerts` group suffix", "reload", edit(rename("_alerts"))),
    ] if names else [])


def main():
    parser = argparse.ArgumentParser()
    for option in ("--databag", "--model", "--uuid", "--app", "--charm-dir"):
        parser.add_argument(option, required=True)
    parser.add_argument("--port", type=int, required=True, help="the metrics-port the unit was given")
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    raw = Path(args.databag).read_text()
    ctx = argparse.Namespace(
        model=args.model, uuid=args.uuid, app=args.app, charm_dir=os.path.abspath(args.charm_dir), port=args.port
    )
    ctx.reference = reference(ctx)
    from importlib.metadata import version

    print(f"cos-agent library check: ops {version('ops')}, cosl {version('cosl')}, pydantic {version('pydantic')}")
    failures = run(raw, ctx)
    for name, _ in CHECKS:
        failed = [message for check, message in failures if check == name]
        print(f"  {name:<10} {'FAILED' if failed else 'ok'}")
        for message in failed:
            print(f"    {message}")
    if not failures:
        explained = check_reference(raw, ctx)
        if explained:
            print(f"  differences the README explains: {sorted(set(explained))}")
    if failures:
        sys.exit(1)
    if args.self_test:
        missed = []
        for what, expected, broken in broken_inputs(raw):
            caught = sorted({check for check, _ in run(broken, ctx)})
            print(f"  broken: {what:<36} caught by {', '.join(caught) or 'NOTHING'}")
            if expected not in caught:
                missed.append(what)
        if missed:
            sys.exit(f"self-test: not caught where expected: {missed}")


if __name__ == "__main__":
    main()
