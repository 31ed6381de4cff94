# Pipelines, one environment at a time (`package kpops`): topics in production are replicated and safe to write.
# Reads each component's enriched configuration at head, which every operation mode has (managed mode renders no
# KafkaTopic manifests).
package kpops

import rego.v1

deny contains result if some result in production_denials(input)

production_denials(doc) := replicas(doc) | insync(doc) if {
	doc.environment in data.kafka.production_environments
} else := set()

topics(doc) := [entry |
	some component in doc.components
	component.head != null
	declared := object.get(component.head.config, ["to", "topics"], {})
	some name
	topic := declared[name]
	entry := [component.name, name, topic]
]

replicas(doc) := {result |
	some [component, name, topic] in topics(doc)
	n := object.get(topic, "replication_factor", 0)
	n < data.kafka.min_replicas
	result := {
		"msg": sprintf("topic %s has %v replicas; production needs at least %v", [name, n, data.kafka.min_replicas]),
		"component": component,
		"topic": name,
		"path": ["replication_factor"],
	}
}

insync(doc) := {result |
	some [component, name, topic] in topics(doc)
	least := to_number(object.get(topic, ["configs", "min.insync.replicas"], 1))
	least < data.kafka.min_insync_replicas
	result := {
		"msg": sprintf(
			"topic %s has min.insync.replicas %v; production needs at least %v",
			[name, least, data.kafka.min_insync_replicas],
		),
		"component": component,
		"topic": name,
		"path": ["configs"],
	}
}
