# Rendered workloads, one manifest at a time: every container image pinned by a tag that is not `latest`.
package main

import rego.v1

deny contains msg if some msg in image_denials(input)

workload_kinds := {"Deployment", "StatefulSet", "DaemonSet", "Job"}

image_denials(doc) := {msg |
	some container in containers(doc)
	not pinned(container.image)
	msg := sprintf(
		"%s %s: container %s runs image %s, not pinned by a tag other than latest",
		[doc.kind, doc.metadata.name, container.name, container.image],
	)
}

containers(doc) := array.concat(
	object.get(doc.spec.template.spec, "containers", []),
	object.get(doc.spec.template.spec, "initContainers", []),
) if {
	workload_kinds[doc.kind]
} else := doc.spec.jobTemplate.spec.template.spec.containers if {
	doc.kind == "CronJob"
} else := []

pinned(image) if {
	# the tag follows the colon of the last path segment (a registry may have a port)
	parts := split(image, "/")
	name := parts[count(parts) - 1]
	contains(name, ":")
	not endswith(name, ":latest")
	not endswith(name, ":")
}

pinned(image) if contains(image, "@sha256:")
