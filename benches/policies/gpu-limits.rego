# gpu-limits in Rego: the same rules as plugins/gpu-limits, for regorus.
# input: the AdmissionReview; data.settings: gpu-limits.settings.json.
package gavel.bench.gpu_limits

import rego.v1

gpu := "nvidia.com/gpu"

request := input.request

obj := request.object

# What Subject::parse_object judges: not CONNECT, not a sub-resource, an object.
judged if {
	request.operation != "CONNECT"
	not request.subResource
	is_object(obj)
}

pod_spec_paths := {
	"Pod": ["spec"],
	"Deployment": ["spec", "template", "spec"],
	"StatefulSet": ["spec", "template", "spec"],
	"DaemonSet": ["spec", "template", "spec"],
	"ReplicaSet": ["spec", "template", "spec"],
	"ReplicationController": ["spec", "template", "spec"],
	"Job": ["spec", "template", "spec"],
	"PodTemplate": ["template", "spec"],
	"CronJob": ["spec", "jobTemplate", "spec", "template", "spec"],
}

kserve_frameworks := [
	"model", "sklearn", "xgboost", "tensorflow", "pytorch", "triton", "onnx",
	"huggingface", "pmml", "lightgbm", "paddle", "alibi", "art",
]

# An array, not a set: two identical containers are two containers.
containers := array.concat(pod_containers, kserve_containers)

pod_containers := [c |
	spec := object.get(obj, pod_spec_paths[obj.kind], {})
	some field in ["initContainers", "containers", "ephemeralContainers"]
	some c in object.get(spec, field, [])
]

kserve_containers := array.concat(
	[c |
		obj.kind == "InferenceService"
		some component in ["predictor", "transformer", "explainer"]
		some c in object.get(obj.spec, [component, "containers"], [])
	],
	[c |
		obj.kind == "InferenceService"
		some component in ["predictor", "transformer", "explainer"]
		some framework in kserve_frameworks
		c := obj.spec[component][framework]
		is_object(c)
	],
)

# A GPU count: a non-negative JSON integer, or a string of decimal digits.
count_of(q) := to_number(q) if {
	is_string(q)
	regex.match(`^[0-9]+$`, q)
}

count_of(q) := q if {
	is_number(q)
	q >= 0
	floor(q) == q
}

gpu_values := [q |
	some c in containers
	some field in ["requests", "limits"]
	q := c.resources[field][gpu]
]

violations contains "gpu.limit-missing" if {
	some c in containers
	c.resources.requests[gpu]
	not c.resources.limits[gpu]
}

violations contains "gpu.invalid-quantity" if {
	some q in gpu_values
	not count_of(q)
}

violations contains "gpu.too-many" if {
	some q in gpu_values
	count_of(q) > data.settings.maxGpusPerContainer
}

violations contains "labels.missing" if {
	some label in data.settings.labels
	not is_string(obj.metadata.labels[label])
}

codes := violations if {
	judged
} else := set()

decision := "deny" if {
	count(codes) > 0
} else := "allow"

result := {"decision": decision, "codes": codes}
