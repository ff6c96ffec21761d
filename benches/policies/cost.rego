# The cost plugin's pricing and budgets in Rego, for regorus.
# input: the AdmissionReview; data.settings: cost.settings.json (every price
# spelt out, since Rego does not know the plugin's defaults).
#
# Follows plugins/cost (objects.rs, pod.rs, workload.rs, pricing.rs) for
# Pods, Deployments, StatefulSets, ReplicaSets, ReplicationControllers,
# DaemonSets and KServe InferenceServices. Not carried over (see
# benches/README.md): Jobs, CronJobs, LLMInferenceServices and Ray; MIG and
# time-sliced prices; pod-level resources and overhead; sidecars started
# before an init container; validation of quantities and replica counts.
package gavel.bench.cost

import rego.v1

s := data.settings

gib := 1073741824

hours_per_month := 730

request := input.request

obj := request.object

judged if {
	request.operation != "CONNECT"
	not request.subResource
	is_object(obj)
}

# The object's API group and kind, else the request's.
kind := obj.kind if is_string(obj.kind) else := request.kind.kind

group := parts[0] if {
	is_string(obj.kind)
	parts := split(obj.apiVersion, "/")
	count(parts) == 2
} else := "" if {
	is_string(obj.kind)
} else := request.kind.group

replicated := {
	["apps", "Deployment"], ["apps", "StatefulSet"],
	["apps", "ReplicaSet"], ["", "ReplicationController"],
}

priced if [group, kind] in replicated

priced if [group, kind] == ["", "Pod"]

priced if [group, kind] == ["apps", "DaemonSet"]

priced if [group, kind] == ["serving.kserve.io", "InferenceService"]

kserve_frameworks := [
	"model", "sklearn", "xgboost", "tensorflow", "pytorch", "triton", "onnx",
	"huggingface", "pmml", "lightgbm", "paddle", "alibi", "art",
]

# Groups of identical pods: the pod spec, containers outside it (KServe's
# model server), the pod template's labels and the replica count.
groups["pod"] := {"spec": obj.spec, "extra": [], "labels": {}, "replicas": 1} if {
	[group, kind] == ["", "Pod"]
}

groups["template"] := {
	"spec": obj.spec.template.spec,
	"extra": [],
	"labels": object.get(obj.spec.template, ["metadata", "labels"], {}),
	"replicas": object.get(obj.spec, "replicas", 1),
} if {
	[group, kind] in replicated
}

groups["template"] := {
	"spec": obj.spec.template.spec,
	"extra": [],
	"labels": object.get(obj.spec.template, ["metadata", "labels"], {}),
	"replicas": 1,
} if {
	[group, kind] == ["apps", "DaemonSet"]
}

groups[component] := {
	"spec": spec,
	"extra": [spec[f] | some f in kserve_frameworks; is_object(spec[f])],
	"labels": {},
	"replicas": object.get(spec, "minReplicas", 1),
} if {
	[group, kind] == ["serving.kserve.io", "InferenceService"]
	some component in ["predictor", "transformer", "explainer"]
	spec := obj.spec[component]
	is_object(spec)
}

app(g) := array.concat(object.get(g.spec, "containers", []), g.extra)

inits(g) := object.get(g.spec, "initContainers", [])

all_containers := [c | some g in groups; some c in array.concat(app(g), inits(g))]

# A Kubernetes quantity: a JSON number, or a string such as 500m, 4Gi, 20G.
quantity(q) := q if is_number(q)

quantity(q) := units.parse(q) if is_string(q)

# A container's effective requests: the request, else the limit.
effective(c) := {r: quantity(q) |
	some r, q in object.union(
		object.get(c, ["resources", "limits"], {}),
		object.get(c, ["resources", "requests"], {}),
	)
}

# What one pod of a group reserves: app containers and sidecars add up, the
# pod reserves the larger of that sum and its largest init container.
pod_amounts[name] := {r: amount |
	some r in {k | some a in array.concat(running, plain); some k, _ in a}
	amount := max([sum([a[r] | some a in running; a[r]]), max(array.concat([0], [a[r] | some a in plain; a[r]]))])
} if {
	some name, g in groups
	running := array.concat(
		[effective(c) | some c in app(g)],
		[effective(c) | some c in inits(g); c.restartPolicy == "Always"],
	)
	plain := [effective(c) | some c in inits(g); not c.restartPolicy == "Always"]
}

# GPU products a pod may land on: the nodeSelector value of the first
# product label it sets, else the In values of its required node affinity.
selector_products(spec) := [p | some l in s.gpuProductLabels; p := spec.nodeSelector[l]; is_string(p)]

products(spec) := [ps[0]] if {
	ps := selector_products(spec)
	count(ps) > 0
} else := [v |
	some term in object.get(spec, ["affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms"], [])
	some e in object.get(term, "matchExpressions", [])
	e.operator == "In"
	e.key in s.gpuProductLabels
	some v in e.values
	is_string(v)
]

gpu_hour(p) := object.get(s.prices.gpuProducts, p, s.prices.gpuHour)

# The dearest product's price: a budget check never under-counts.
gpu_price(spec) := max([gpu_hour(p) | some p in ps]) if {
	ps := products(spec)
	count(ps) > 0
} else := s.prices.gpuHour

unit_price(r, _) := s.prices.cpuCoreHour if r == "cpu"

unit_price(r, _) := s.prices.ramGiBHour / gib if r == "memory"

unit_price(r, gpu) := gpu if r == "nvidia.com/gpu"

unit_price(r, gpu) := gpu if startswith(r, "nvidia.com/gpu.")

group_hourly[name] := sum([h |
	some r, amount in pod_amounts[name]
	h := (amount * g.replicas) * unit_price(r, gpu)
]) if {
	some name, g in groups
	gpu := gpu_price(g.spec)
}

hourly := sum([h | some h in group_hourly])

monthly := hourly * hours_per_month

label(key) := obj.metadata.labels[key] if {
	is_string(obj.metadata.labels[key])
} else := vs[0] if {
	vs := [v | some g in groups; v := g.labels[key]; is_string(v)]
	count(vs) > 0
}

namespace := obj.metadata.namespace if {
	is_string(obj.metadata.namespace)
} else := request.namespace if {
	is_string(request.namespace)
} else := ""

team := t if {
	t := label(s.teamLabel)
} else := ""

is_gpu(r) if r == "nvidia.com/gpu"

is_gpu(r) if startswith(r, "nvidia.com/gpu.")

is_gpu(r) if startswith(r, "nvidia.com/mig-")

findings contains "cost.budget-exceeded" if {
	namespace != ""
	monthly > s.budgets.namespaces[namespace]
}

findings contains "cost.budget-exceeded" if {
	team != ""
	monthly > s.budgets.teams[team]
}

findings contains "cost.missing-allocation-labels" if {
	some l in s.requiredLabels
	not label(l)
}

findings contains "cost.missing-requests" if {
	some g in groups
	some c in app(g)
	a := effective(c)
	not a.cpu
	not a.memory
}

findings contains "cost.gpu-fractional" if {
	some c in all_containers
	some field in ["requests", "limits"]
	some r, q in object.get(c, ["resources", field], {})
	is_gpu(r)
	n := quantity(q)
	floor(n) != n
}

findings contains "cost.gpu-request-limit-mismatch" if {
	some c in all_containers
	some r, q in object.get(c, ["resources", "requests"], {})
	is_gpu(r)
	not quantity(object.get(c, ["resources", "limits"], {})[r]) == quantity(q)
}

effect("cost.budget-exceeded") := s.onBudgetExceeded

effect("cost.missing-allocation-labels") := s.onMissingLabels

effect("cost.gpu-fractional") := "deny"

effect("cost.gpu-request-limit-mismatch") := "deny"

effect("cost.missing-requests") := "none"

decision := "deny" if {
	some f in findings
	effect(f) == "deny"
} else := "warn" if {
	some f in findings
	effect(f) == "warn"
} else := "allow"

result := {"decision": decision, "codes": findings, "hourly_cost": hourly} if {
	judged
	priced
} else := {"decision": "allow", "codes": set()}
