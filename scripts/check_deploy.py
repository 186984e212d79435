"""Checks deploy/ (run by scripts/check-deploy, which installs the validators this calls).

- Kubernetes (deploy/k8s): every manifest against the Kubernetes OpenAPI schemas of several
  versions (kubernetes-validate --strict: unknown fields are errors), the kustomization's
  rendering too, and what no schema sees: Service selectors and ports that reach a container,
  volumes naming objects that exist, the Job's shard count, the config's Redis and StatsD
  addresses naming Services.
- The StatsD exporter's mapping (in deploy/k8s/statsd-exporter.yaml): loaded as the exporter
  loads it (strict YAML, its name, label and match rules), then every StatsD line the tool
  sends (--statsd-lines, written by tests/deploy.rs) run through it as the exporter does:
  each must become a metric, with one type and one label set per metric name.
- Compose (deploy/compose.yaml): dclint (the compose-spec schema and its lint rules) and
  check-jsonschema against the same schema, then the shards: 1..N each once, their addresses
  as the config's DNS answers them, Pebble's resolver, the report paths merged.
- Grafana (deploy/grafana): the dashboard type-checked against @grafana/schema's Dashboard
  (TypeScript, excess properties refused), every query parsed as PromQL, and every metric and
  label it names produced by the mapping (and by the lines the tool sent, when given).

Exit 1 with one line per problem; 0 prints what was checked.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import promql_parser
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "compose.yaml"
DASHBOARDS = DEPLOY / "grafana"
# The oldest version whose Job has backoffLimitPerIndex and FailIndex on by default, the one
# where they are GA, and the newest the validator knows.
K8S_VERSIONS = ["1.29.0", "1.33.0", "1.37.0"]
# Style-only rules of dclint; every other rule and the schema stay errors (and warnings fail).
DCLINT_OFF = ["service-keys-order", "services-alphabetical-order", "top-level-properties-order"]

problems = []
checked = []


def problem(where, what):
    problems.append(f"{where}: {what}")


def run(cmd, where, cwd=None):
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        text = (out.stdout + out.stderr).strip()
        problem(where, f"{Path(cmd[0]).name} failed:\n{text}")
        return False
    return True


def rel(path):
    return os.path.relpath(path, ROOT)


# ---------------------------------------------------------------------------------------------
# Kubernetes


def k8s_files():
    return sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")


def k8s_objects():
    objects = []
    for path in k8s_files():
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc:
                    objects.append((path, doc))
    return objects


def check_k8s_schemas(tools):
    validate = tools / "venv" / "bin" / "kubernetes-validate"
    files = [str(p) for p in k8s_files()]
    for version in K8S_VERSIONS:
        if run([validate, "--strict", "--quiet", "-k", version, *files], f"deploy/k8s (Kubernetes {version})"):
            checked.append(f"deploy/k8s: {len(files)} files valid against Kubernetes {version} (strict)")
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization.get("resources", []))
    top = {p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"}
    for missing in sorted(top - listed):
        problem("deploy/k8s/kustomization.yaml", f"{missing} is not in resources")
    for extra in sorted(listed - top):
        problem("deploy/k8s/kustomization.yaml", f"resource {extra} does not exist")
    kubectl = shutil.which("kubectl")
    if kubectl:
        out = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True)
        if out.returncode != 0:
            problem("deploy/k8s/kustomization.yaml", f"kubectl kustomize: {out.stderr.strip()}")
        else:
            with tempfile.NamedTemporaryFile("w", suffix=".yaml") as rendered:
                rendered.write(out.stdout)
                rendered.flush()
                if run([validate, "--strict", "--quiet", "-k", K8S_VERSIONS[-1], rendered.name],
                       "deploy/k8s (kubectl kustomize)"):
                    checked.append("deploy/k8s: kubectl kustomize renders, output valid")
    else:
        checked.append("deploy/k8s: kubectl absent, kustomization checked for its file list only")


def pod_specs(objects):
    """(where, labels, pod spec) of every object that runs pods."""
    pods = []
    for path, obj in objects:
        kind = obj.get("kind")
        name = f"{rel(path)} {kind}/{obj['metadata']['name']}"
        if kind == "Pod":
            pods.append((name, obj["metadata"].get("labels", {}), obj["spec"]))
        elif kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
            template = obj["spec"]["template"]
            pods.append((name, template["metadata"].get("labels", {}), template["spec"]))
        elif kind == "Job":
            template = obj["spec"]["template"]
            pods.append((name, template["metadata"].get("labels", {}), template["spec"]))
    return pods


def check_k8s_references(objects):
    by_kind = {}
    for _, obj in objects:
        by_kind.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
    pods = pod_specs(objects)
    refs = 0
    for name, labels, spec in pods:
        for volume in spec.get("volumes", []):
            for key, kind, field in [("configMap", "ConfigMap", "name"),
                                     ("secret", "Secret", "secretName"),
                                     ("persistentVolumeClaim", "PersistentVolumeClaim", "claimName")]:
                source = volume.get(key)
                if source is None or source.get("optional"):
                    continue
                refs += 1
                if source[field] not in by_kind.get(kind, {}):
                    problem(name, f"volume {volume['name']} names {kind} {source[field]}, defined nowhere")
        containers = spec.get("containers", []) + spec.get("initContainers", [])
        for c in containers:
            mounts = {v["name"] for v in spec.get("volumes", [])}
            for m in c.get("volumeMounts", []):
                if m["name"] not in mounts:
                    problem(name, f"container {c['name']} mounts {m['name']}, not a volume of the pod")
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("configMapKeyRef")
                if ref and not ref.get("optional"):
                    refs += 1
                    cm = by_kind.get("ConfigMap", {}).get(ref["name"])
                    if cm is None or ref["key"] not in cm.get("data", {}):
                        problem(name, f"env {env['name']} names ConfigMap key {ref['name']}/{ref['key']}, defined nowhere")
    for svc_name, svc in by_kind.get("Service", {}).items():
        selector = svc["spec"].get("selector", {})
        targets = [(n, spec) for n, labels, spec in pods
                   if selector and all(labels.get(k) == v for k, v in selector.items())]
        if not targets:
            problem(f"Service/{svc_name}", f"selector {selector} matches no pod template")
            continue
        for port in svc["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            protocol = port.get("protocol", "TCP")
            for pod_name, spec in targets:
                found = any(
                    (p.get("name") == target if isinstance(target, str) else p["containerPort"] == target)
                    and p.get("protocol", "TCP") == protocol
                    for c in spec["containers"] for p in c.get("ports", []))
                if not found:
                    problem(f"Service/{svc_name}", f"port {port['name']} ({target}/{protocol}) is no container port of {pod_name}")
        refs += 1
    # The shards' Job: one shard per index, all at once.
    for path, obj in objects:
        if obj["kind"] != "Job":
            continue
        spec = obj["spec"]
        where = f"{rel(path)} Job/{obj['metadata']['name']}"
        containers = {c["name"]: c for c in spec["template"]["spec"]["containers"]}
        counts = [a.split("=", 1)[1] for c in containers.values() for a in c.get("args", [])
                  if a.startswith("--shard-count=")]
        if spec.get("completionMode") != "Indexed":
            problem(where, "not an Indexed Job: JOB_COMPLETION_INDEX is unset")
        if len(counts) != 1 or not (str(spec.get("completions")) == str(spec.get("parallelism")) == counts[0]):
            problem(where, f"completions {spec.get('completions')}, parallelism {spec.get('parallelism')} "
                           f"and --shard-count {counts} must be the same number")
        for rule in spec.get("podFailurePolicy", {}).get("rules", []):
            name = rule.get("onExitCodes", {}).get("containerName")
            if name and name not in containers:
                problem(where, f"podFailurePolicy names container {name}, not in the pod")
        subdomain = spec["template"]["spec"].get("subdomain")
        if subdomain and subdomain not in by_kind.get("Service", {}):
            problem(where, f"subdomain {subdomain} is no Service")
        elif subdomain and by_kind["Service"][subdomain]["spec"].get("clusterIP") != "None":
            problem(where, f"subdomain {subdomain} must be a headless Service (clusterIP: None)")
    checked.append(f"deploy/k8s: {refs} references between objects resolve, the Job's shard count agrees")
    return by_kind


def service_port(services, host, port, protocol, where, what):
    svc = services.get(host)
    if svc is None:
        problem(where, f"{what} names host {host}, which is no Service")
        return
    if not any(p["port"] == port and p.get("protocol", "TCP") == protocol for p in svc["spec"]["ports"]):
        problem(where, f"{what}: Service {host} has no port {port}/{protocol}")


def host_port(text):
    host, _, port = text.rpartition(":")
    return host, int(port)


def check_k8s_config(by_kind):
    where = "deploy/k8s/config.yaml"
    cm = by_kind.get("ConfigMap", {}).get("wec-config")
    if cm is None:
        problem(where, "no ConfigMap wec-config")
        return
    config = tomllib.loads(cm["data"]["wile-e-coyote.toml"])
    services = by_kind.get("Service", {})
    registry = config.get("challenge", {}).get("registry", "")
    m = re.fullmatch(r"redis://([^:/]+):(\d+)/?", registry)
    if not m:
        problem(where, f"challenge.registry {registry!r} is not redis://host:port")
    else:
        service_port(services, m[1], int(m[2]), "TCP", where, "challenge.registry")
    statsd = config.get("statsd", {})
    if "address" not in statsd:
        problem(where, "statsd.address is not set")
    else:
        host, port = host_port(statsd["address"])
        service_port(services, host, port, "UDP", where, "statsd.address")
    if statsd.get("timing_unit") != "ms":
        problem(where, "statsd.timing_unit must be \"ms\": the exporter reads |ms values as milliseconds")
    checked.append("deploy/k8s/config.yaml: the registry and StatsD addresses are Services")


# ---------------------------------------------------------------------------------------------
# The StatsD exporter's mapping, as github.com/prometheus/statsd_exporter (v0.28) loads and
# applies it: pkg/mapper/mapper.go, mapping.go, pkg/line/line.go, pkg/exporter/exporter.go.

MAPPING_KEYS = {"match", "name", "labels", "honor_labels", "observer_type", "match_type", "help",
                "action", "match_metric_type", "ttl", "summary_options", "histogram_options", "scale"}
DEFAULTS_KEYS = {"observer_type", "match_type", "glob_disable_ordering", "ttl", "summary_options",
                 "histogram_options"}
HISTOGRAM_KEYS = {"buckets", "native_histogram_bucket_factor", "native_histogram_max_buckets"}
SUMMARY_KEYS = {"quantiles", "max_age", "age_buckets", "buf_cap"}
STATSD_METRIC_RE = r"[a-zA-Z_]([a-zA-Z0-9_\-])*"
STATSD_METRIC_SUBSEQUENT_RE = r"[a-zA-Z0-9_]([a-zA-Z0-9_\-])*"
TEMPLATE_REPLACE_RE = r"(\$\{?\d+\}?)"
METRIC_LINE_RE = re.compile(r"^(\*|" + STATSD_METRIC_RE + r")(\.\*|\." + STATSD_METRIC_SUBSEQUENT_RE + r")*$")
METRIC_NAME_RE = re.compile(r"^([a-zA-Z_]|" + TEMPLATE_REPLACE_RE + r")([a-zA-Z0-9_]|" + TEMPLATE_REPLACE_RE + r")*$")
LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]+$")
# What Go's RE2 refuses and Python would accept: lookarounds, backreferences, possessives.
NOT_RE2 = re.compile(r"\(\?[=!<]|\(\?P=|\\[1-9]|[*+?}]\+")


class Mapping:
    def __init__(self, raw, defaults, index):
        self.raw = raw
        self.index = index
        self.match = raw["match"]
        self.name = raw["name"]
        self.labels = raw.get("labels") or {}
        self.action = raw.get("action", "map") or "map"
        self.match_type = raw.get("match_type") or defaults.get("match_type") or "glob"
        self.metric_type = raw.get("match_metric_type", "")
        self.observer = raw.get("observer_type") or defaults.get("observer_type") or "summary"
        self.regex = None
        self.hits = 0
        if self.match_type == "regex":
            self.regex = re.compile(self.match)
        else:
            parts = self.match.split(".")
            self.regex = re.compile("^" + r"\.".join("([^.]*)" if p == "*" else re.escape(p) for p in parts) + "$")


def go_expand(template, match):
    """Go's regexp.Expand: $1, ${1}, $name, ${name}; $$ is $; anything else after $ is kept."""
    out = []
    i = 0
    while i < len(template):
        c = template[i]
        if c != "$":
            out.append(c)
            i += 1
            continue
        rest = template[i + 1:]
        if rest.startswith("$"):
            out.append("$")
            i += 2
            continue
        m = re.match(r"\{([A-Za-z0-9_]+)\}", rest) or re.match(r"([A-Za-z0-9_]+)", rest)
        if not m:
            out.append("$")
            i += 1
            continue
        name = m[1]
        value = None
        if name.isdigit():
            n = int(name)
            if n <= (match.re.groups if match else 0):
                value = match.group(n)
        elif match and name in match.re.groupindex:
            value = match.group(name)
        out.append(value or "")
        i += 1 + m.end()
    return "".join(out)


def glob_expand(template, captures):
    """The glob mapper's formatter: ${N} and $N are the N-th captured field (1-based)."""
    def sub(m):
        n = int(m[1] or m[2])
        return captures[n - 1] if 0 < n <= len(captures) else ""
    return re.sub(r"\$\{(\d+)\}|\$(\d+)", sub, template)


def load_mapping(text, where):
    """The mapper's InitFromYAMLString: None (with problems) when the exporter would not start."""
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as e:
        problem(where, f"mapping is not YAML: {e}")
        return None
    start = len(problems)
    if not isinstance(config, dict):
        problem(where, "mapping is not a map")
        return None
    for key in set(config) - {"defaults", "mappings"}:
        problem(where, f"mapping: unknown field {key!r} (the exporter unmarshals strictly)")
    defaults = config.get("defaults") or {}
    for key in set(defaults) - DEFAULTS_KEYS:
        problem(where, f"mapping defaults: unknown field {key!r}")
    for key in set(defaults.get("histogram_options") or {}) - HISTOGRAM_KEYS:
        problem(where, f"mapping defaults.histogram_options: unknown field {key!r}")
    mappings = []
    for i, raw in enumerate(config.get("mappings") or []):
        at = f"{where} mapping {i} ({raw.get('match')!r})"
        for key in set(raw) - MAPPING_KEYS:
            problem(at, f"unknown field {key!r}")
        for key in set(raw.get("histogram_options") or {}) - HISTOGRAM_KEYS:
            problem(at, f"histogram_options: unknown field {key!r}")
        for key in set(raw.get("summary_options") or {}) - SUMMARY_KEYS:
            problem(at, f"summary_options: unknown field {key!r}")
        for label in raw.get("labels") or {}:
            if not LABEL_NAME_RE.match(label):
                problem(at, f"invalid label key: {label}")
        if not raw.get("name"):
            problem(at, "metric mapping didn't set a metric name")
            continue
        if not METRIC_NAME_RE.match(raw["name"]):
            problem(at, f"metric name {raw['name']!r} is not a valid Prometheus name")
        if raw.get("action", "map") not in ("map", "drop", ""):
            problem(at, f"invalid action type {raw['action']!r}")
        match_type = raw.get("match_type") or defaults.get("match_type") or "glob"
        if match_type not in ("glob", "regex"):
            problem(at, f"invalid match type {match_type!r}")
            continue
        if raw.get("match_metric_type", "") not in ("", "counter", "gauge", "observer"):
            problem(at, f"invalid metric type {raw['match_metric_type']!r}")
        observer = raw.get("observer_type") or defaults.get("observer_type") or ""
        if observer not in ("", "histogram", "summary"):
            problem(at, f"invalid observer type {observer!r}")
        if observer == "histogram" and raw.get("summary_options") is not None:
            problem(at, "cannot use histogram observer and summary options at the same time")
        if observer in ("", "summary") and raw.get("histogram_options") is not None:
            problem(at, "cannot use summary observer and histogram options at the same time")
        buckets = (raw.get("histogram_options") or {}).get("buckets")
        if buckets is not None and (not all(isinstance(b, (int, float)) for b in buckets) or buckets != sorted(set(buckets))):
            problem(at, f"histogram buckets must be increasing numbers: {buckets}")
        if match_type == "glob" and not METRIC_LINE_RE.match(raw.get("match", "")):
            problem(at, f"invalid match: {raw.get('match')}")
            continue
        if match_type == "regex":
            if NOT_RE2.search(raw["match"]):
                problem(at, "the regex uses syntax Go's RE2 does not have (lookaround, backreference, possessive)")
                continue
            try:
                re.compile(raw["match"])
            except re.error as e:
                problem(at, f"invalid regex: {e}")
                continue
            if not raw["match"].startswith("^") and raw.get("action") != "drop":
                problem(at, "a regex match is searched anywhere in the name: anchor it with ^ and $")
        if "scale" in raw and not isinstance(raw["scale"], (int, float)):
            problem(at, f"scale {raw['scale']!r} is not a number")
        mappings.append(Mapping(raw, defaults, i))
    if len(problems) > start:
        return None
    return mappings


LINE_TYPES = {"c": "counter", "g": "gauge", "ms": "observer", "h": "observer", "d": "observer"}


def map_line(mappings, name, metric_type):
    """GetMapping: glob mappings first (the first in order that matches), then regex ones."""
    globs = [m for m in mappings if m.match_type == "glob"]
    regexes = [m for m in mappings if m.match_type == "regex"]
    for m in globs:
        if m.metric_type and m.metric_type != metric_type:
            continue
        found = m.regex.match(name)
        if found:
            return m, glob_expand(m.name, found.groups()), {k: glob_expand(v, found.groups()) for k, v in m.labels.items()}
    for m in regexes:
        found = m.regex.search(name)
        if not found:
            continue
        if m.metric_type and m.metric_type != metric_type:
            continue
        return m, go_expand(m.name, found), {k: go_expand(v, found) for k, v in m.labels.items()}
    return None, None, None


def series_of(mapping, name, labels, metric_type):
    """The Prometheus series names an event of this mapping produces, and their labels."""
    keys = set(labels)
    if metric_type == "observer":
        if mapping.observer == "histogram":
            return {name + "_bucket": keys | {"le"}, name + "_sum": keys, name + "_count": keys}
        return {name: keys | {"quantile"}, name + "_sum": keys, name + "_count": keys}
    return {name: keys}


def static_series(mappings):
    """What the mapping can produce at all, from its names and label keys."""
    series = {}
    for m in mappings:
        if m.action == "drop" or "$" in m.name:
            continue
        types = [m.metric_type] if m.metric_type else ["counter", "gauge", "observer"]
        for t in types:
            for s, keys in series_of(m, m.name, m.labels, t).items():
                series.setdefault(s, set()).update(keys)
    return series


def check_lines(mappings, lines_file, where):
    produced = {}
    kinds = {}
    label_sets = {}
    count = 0
    for raw in Path(lines_file).read_text().splitlines():
        for line in raw.split("\n"):
            if not line.strip():
                continue
            count += 1
            m = re.fullmatch(r"([^:]+):([^|]+)\|([a-z]+)(\|@[0-9.]+)?", line)
            if not m:
                problem(where, f"StatsD line the exporter cannot parse: {line!r}")
                continue
            name, value, kind = m[1], m[2], m[3]
            try:
                float(value)
            except ValueError:
                problem(where, f"StatsD value is not a number: {line!r}")
            metric_type = LINE_TYPES.get(kind)
            if metric_type is None:
                problem(where, f"StatsD type {kind!r} the exporter refuses: {line!r}")
                continue
            mapping, prom, labels = map_line(mappings, name, metric_type)
            if mapping is None:
                problem(where, f"no mapping for {name} ({metric_type}): the exporter would invent a metric")
                continue
            mapping.hits += 1
            if mapping.action == "drop":
                problem(where, f"{name} ({metric_type}) is dropped by mapping {mapping.index} ({mapping.match!r})")
                continue
            if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", prom):
                problem(where, f"{name} becomes the metric name {prom!r}")
            for k, v in labels.items():
                if v == "":
                    problem(where, f"{name}: label {k} is empty (a capture that matched nothing)")
            kind_seen = kinds.setdefault(prom, (metric_type, name))
            if kind_seen[0] != metric_type:
                problem(where, f"metric {prom} is a {metric_type} for {name} but a {kind_seen[0]} for {kind_seen[1]}: the exporter refuses one")
            keys = frozenset(labels)
            seen = label_sets.setdefault(prom, (keys, name))
            if seen[0] != keys:
                problem(where, f"metric {prom} has labels {sorted(keys)} for {name} but {sorted(seen[0])} for {seen[1]}")
            for s, ks in series_of(mapping, prom, labels, metric_type).items():
                produced.setdefault(s, set()).update(ks)
    for m in mappings:
        if m.action != "drop" and m.hits == 0:
            problem(where, f"mapping {m.index} ({m.match!r}) matches no line the tool sent: a name that changed?")
    checked.append(f"StatsD mapping: {count} lines the tool sent each map to a metric ({len(produced)} series)")
    return produced


def mapping_from_k8s(by_kind):
    cm = by_kind.get("ConfigMap", {}).get("statsd-exporter-mapping")
    if cm is None:
        problem("deploy/k8s/statsd-exporter.yaml", "no ConfigMap statsd-exporter-mapping")
        return None
    mappings = load_mapping(cm["data"]["mapping.yaml"], "deploy/k8s/statsd-exporter.yaml")
    if mappings is not None:
        checked.append(f"StatsD mapping: {len(mappings)} mappings load as the exporter loads them")
    return mappings


# ---------------------------------------------------------------------------------------------
# Compose


def check_compose(tools):
    bin_dir = tools / "npm" / "node_modules" / ".bin"
    if run([bin_dir / "dclint", str(COMPOSE), "--max-warnings", "0", "--disable-rule", *DCLINT_OFF],
           "deploy/compose.yaml (dclint)"):
        checked.append("deploy/compose.yaml: dclint (compose-spec schema and lint rules)")
    schema = tools / "npm" / "node_modules" / "dclint" / "schemas" / "compose.schema.json"
    if run([tools / "venv" / "bin" / "check-jsonschema", "--schemafile", str(schema), str(COMPOSE)],
           "deploy/compose.yaml (check-jsonschema)"):
        checked.append("deploy/compose.yaml: check-jsonschema against the compose-spec schema")
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    where = "deploy/compose.yaml"
    shards = {}
    for name, svc in services.items():
        cmd = svc.get("command") or []
        if "--shard" in cmd:
            i, n = cmd[cmd.index("--shard") + 1].split("/")
            shards[int(i)] = (name, int(n), svc)
    counts = {n for _, n, _ in shards.values()}
    if len(counts) != 1 or sorted(shards) != list(range(1, max(counts, default=0) + 1)):
        problem(where, f"shards {sorted(shards)} of {sorted(counts)}: each of 1..N once, one N")
    prefixes = [svc.get("environment", {}).get("WEC_STATSD__PREFIX") for _, _, svc in shards.values()]
    if None in prefixes or len(set(prefixes)) != len(prefixes):
        problem(where, f"each shard needs its own WEC_STATSD__PREFIX (its gauges would overwrite the others'): {prefixes}")
    reports = []
    for i, (name, _, svc) in sorted(shards.items()):
        cmd = svc["command"]
        if "--report" not in cmd:
            problem(where, f"{name} writes no --report")
        else:
            reports.append(cmd[cmd.index("--report") + 1])
    merge = services.get("report-merge", {}).get("command", [])
    merged = merge[2:merge.index("--report")] if "--report" in merge else []
    if sorted(merged) != sorted(reports):
        problem(where, f"report-merge merges {merged}, the shards write {reports}")
    # The config every shard mounts, and what it says about the others.
    configs = set()
    for _, _, svc in shards.values():
        cmd = svc["command"]
        target = cmd[cmd.index("--config") + 1]
        for volume in svc.get("volumes", []):
            source, _, rest = volume.partition(":")
            if rest.split(":")[0] == target:
                configs.add(source)
    if len(configs) != 1:
        problem(where, f"the shards mount {sorted(configs)} as their config: one file for all")
        return
    path = (COMPOSE.parent / configs.pop()).resolve()
    config = tomllib.loads(path.read_text())
    challenge = config.get("challenge", {})
    base = config.get("chains", {}).get("issue", {}).get("base_domain", "wile.test")
    ip_of = {name: svc.get("networks", {}).get("wec", {}).get("ipv4_address") for name, svc in services.items()}
    answers = {d["domain"]: d["addresses"] for d in challenge.get("domain_addresses", [])}
    for i, (name, _, _) in shards.items():
        want = ip_of.get(name)
        got = answers.get(f"s{i}.{base}")
        if got != [want]:
            problem(rel(path), f"challenge.domain_addresses sends s{i}.{base} to {got}, shard {i} ({name}) is at {want}")
    pebble = services.get("pebble", {}).get("command", [])
    if "-dnsserver" in pebble:
        dns = pebble[pebble.index("-dnsserver") + 1]
        host, port = host_port(dns)
        dns_ports = {host_port(a)[1] for a in challenge.get("dns_listen", [])}
        if host not in ip_of.values() or port not in dns_ports:
            problem(where, f"Pebble resolves with {dns}: no shard's DNS listens there")
    for key in ("registry",):
        m = re.fullmatch(r"redis://([^:/]+):(\d+)/?", challenge.get(key, ""))
        if not m or m[1] not in services:
            problem(rel(path), f"challenge.registry {challenge.get(key)!r} names no service")
    statsd_host = host_port(config.get("statsd", {}).get("address", ":0"))[0]
    if statsd_host not in services:
        problem(rel(path), f"statsd.address names {statsd_host!r}, no service")
    ca = config.get("target", {}).get("ca_cert")
    if ca:
        mounted = [v.split(":")[1] for _, _, svc in shards.values() for v in svc.get("volumes", [])]
        if not any(ca.startswith(m.rstrip("/") + "/") for m in mounted):
            problem(rel(path), f"target.ca_cert {ca} is under no volume the shards mount")
    checked.append(f"deploy/compose.yaml: {len(shards)} shards, their addresses, DNS, registry, StatsD and reports agree")


# ---------------------------------------------------------------------------------------------
# Grafana


def walk(node, metrics, labels_used):
    """Metric names (with the labels their matchers name) and grouping labels of a PromQL AST."""
    kind = type(node).__name__
    if kind == "VectorSelector":
        matchers = [m.name for m in node.matchers.matchers]
        name = node.name
        for m in node.matchers.matchers:
            if m.name == "__name__":
                name = m.value
        metrics.append((name, [m for m in matchers if m != "__name__"]))
        return [name]
    if kind == "MatrixSelector":
        return walk(node.vector_selector, metrics, labels_used)
    if kind in ("ParenExpr", "UnaryExpr", "SubqueryExpr"):
        return walk(node.expr, metrics, labels_used)
    if kind == "AggregateExpr":
        names = walk(node.expr, metrics, labels_used)
        if node.param is not None:
            walk(node.param, metrics, labels_used)
        if node.modifier is not None:
            labels_used.append((list(node.modifier.labels), names))
        return names
    if kind == "Call":
        names = []
        for arg in node.args:
            names += walk(arg, metrics, labels_used)
        return names
    if kind == "BinaryExpr":
        names = walk(node.lhs, metrics, labels_used) + walk(node.rhs, metrics, labels_used)
        if node.modifier is not None and node.modifier.matching is not None:
            labels_used.append((list(node.modifier.matching.labels) + list(node.modifier.group_labels), names))
        return names
    return []


def check_dashboards(tools, series, produced):
    for path in sorted(DASHBOARDS.glob("*.json")):
        where = rel(path)
        try:
            dash = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            problem(where, f"not JSON: {e}")
            continue
        # The type check: @grafana/schema's Dashboard, an object literal (no excess properties).
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "check.ts").write_text(
                "import type { Dashboard } from '@grafana/schema';\n"
                f"export const dashboard: Dashboard = {path.read_text()};\n")
            (Path(tmp) / "tsconfig.json").write_text(json.dumps({
                "compilerOptions": {"strict": True, "noEmit": True, "module": "esnext",
                                    "moduleResolution": "bundler", "target": "es2022",
                                    "skipLibCheck": True, "types": []},
                "files": ["check.ts"]}))
            os.symlink(tools / "npm" / "node_modules", Path(tmp) / "node_modules")
            out = subprocess.run([tools / "npm" / "node_modules" / ".bin" / "tsc", "-p", "tsconfig.json"],
                                 cwd=tmp, capture_output=True, text=True)
            if out.returncode != 0:
                text = re.sub(r"check\.ts\((\d+),(\d+)\)", lambda m: f"{where}:{int(m[1]) - 1}:{m[2]}", out.stdout + out.stderr)
                problem(where, f"not a Grafana dashboard (@grafana/schema):\n{text.strip()}")
            else:
                checked.append(f"{where}: a Dashboard of @grafana/schema (TypeScript, strict)")
        variables = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
        if not any(v["type"] == "datasource" and v.get("query") == "prometheus" for v in variables.values()):
            problem(where, "no Prometheus datasource variable")

        def substitute(expr):
            def value(m):
                name = m[1] or m[2]
                if name.startswith("__"):
                    return "5m" if "interval" in name else "1"
                v = variables.get(name)
                if v is None:
                    problem(where, f"${name} is no variable of the dashboard")
                    return ".*"
                if v["type"] == "custom":
                    return str(v.get("current", {}).get("value", v["query"].split(",")[0]))
                return ".*"
            return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", value, expr)

        def check_expr(expr, at, legend=None):
            try:
                ast = promql_parser.parse(substitute(expr))
            except Exception as e:  # noqa: BLE001 - the parser's errors are ValueErrors
                problem(at, f"not PromQL: {e}: {expr}")
                return
            metrics, grouping = [], []
            walk(ast, metrics, grouping)
            for name, matcher_labels in metrics:
                if name not in series:
                    problem(at, f"{name}: the exporter's mapping produces no such metric")
                    continue
                if produced is not None and name not in produced:
                    problem(at, f"{name}: no line the tool sent becomes this metric")
                for label in matcher_labels:
                    if label not in series[name]:
                        problem(at, f"{name} has no label {label} (it has {sorted(series[name])})")
            for labels, names in grouping:
                have = set().union(*(series.get(n, set()) for n in names)) if names else set()
                for label in labels:
                    if label not in have:
                        problem(at, f"grouping by {label}, a label none of {sorted(set(names))} has")
            if legend:
                have = set().union(*(series.get(n, set()) for n, _ in metrics)) if metrics else set()
                for label in re.findall(r"\{\{\s*(\w+)\s*\}\}", legend):
                    if label not in have:
                        problem(at, f"legend {{{{{label}}}}}: a label none of the query's metrics has")

        queries = 0
        for v in variables.values():
            if v["type"] != "query":
                continue
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", q)
            if not m:
                problem(where, f"variable {v['name']}: query {q!r} is not label_values(metric, label)")
            elif m[1] not in series or m[2] not in series[m[1]]:
                problem(where, f"variable {v['name']}: {m[1]} has no label {m[2]}")
            queries += 1
        grid = []
        for panel in dash.get("panels", []):
            at = f"{where} panel {panel.get('id')} {panel.get('title')!r}"
            pos = panel.get("gridPos", {})
            cells = {(x, yy) for x in range(pos.get("x", 0), pos.get("x", 0) + pos.get("w", 0))
                     for yy in range(pos.get("y", 0), pos.get("y", 0) + pos.get("h", 0))}
            if pos.get("x", 0) + pos.get("w", 0) > 24:
                problem(at, "wider than the dashboard's 24 columns")
            for other, other_cells in grid:
                if cells & other_cells:
                    problem(at, f"overlaps panel {other}")
            grid.append((panel.get("id"), cells))
            if panel.get("type") == "row":
                continue
            if panel.get("datasource", {}).get("uid") != "${datasource}":
                problem(at, "datasource is not the ${datasource} variable")
            for target in panel.get("targets", []):
                if target.get("datasource", {}).get("uid") not in (None, "${datasource}"):
                    problem(at, "a query's datasource is not the ${datasource} variable")
                check_expr(target["expr"], at, target.get("legendFormat"))
                queries += 1
            for label in re.findall(r"\$(\w+)", panel.get("title", "")):
                if label not in variables:
                    problem(at, f"title names ${label}, no variable")
        checked.append(f"{where}: {queries} queries are PromQL over the exporter's metrics and labels")


# ---------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tools", required=True, type=Path, help="where scripts/check-deploy installed the validators")
    parser.add_argument("--statsd-lines", type=Path, help="StatsD lines the tool sent (tests/deploy.rs)")
    args = parser.parse_args()

    objects = k8s_objects()
    check_k8s_schemas(args.tools)
    by_kind = check_k8s_references(objects)
    check_k8s_config(by_kind)
    mappings = mapping_from_k8s(by_kind)
    series, produced = {}, None
    if mappings is not None:
        series = static_series(mappings)
        if args.statsd_lines:
            produced = check_lines(mappings, args.statsd_lines, "deploy/k8s/statsd-exporter.yaml")
        else:
            checked.append("StatsD mapping: no --statsd-lines, the tool's names not run through it (tests/deploy.rs does)")
    check_compose(args.tools)
    check_dashboards(args.tools, series, produced)

    for line in checked:
        print(f"ok: {line}")
    if problems:
        seen = {}
        for p in problems:
            seen[p] = seen.get(p, 0) + 1
        for p, times in seen.items():
            print(f"FAILED: {p}" + (f" ({times} times)" if times > 1 else ""), file=sys.stderr)
        print(f"check-deploy: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"check-deploy: {len(checked)} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
