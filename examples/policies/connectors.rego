# Pipelines (`package kpops`): every Kafka Connect connector runs a class from the allow-list.
package kpops

import rego.v1

deny contains result if some result in connector_denials(input)

connector_types := {"kafka-sink-connector", "kafka-source-connector"}

connector_denials(doc) := {result |
	some component in doc.components
	component.type in connector_types
	component.head != null
	class := component.head.config.config["connector.class"]
	not class in data.kafka.connector_classes
	result := {
		"msg": sprintf("connector %s uses class %s, which is not on the allow-list", [component.name, class]),
		"component": component.name,
		"path": ["config", "connector.class"],
	}
}
