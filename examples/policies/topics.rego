# Rendered KafkaTopic manifests, one at a time, as `conftest test` reads them: names and retention.
# The checks are functions of the document, so that the tests call them directly (see docs/policies.md).
package main

import rego.v1

deny contains msg if some msg in topic_denials(input)

topic_denials(doc) := naming(doc) | retention(doc)

naming(doc) := {msg |
	doc.kind == "KafkaTopic"
	not regex.match(data.kafka.topic_name, doc.metadata.name)
	msg := sprintf("topic %s is not named <team>.<domain>.<name>", [doc.metadata.name])
}

retention(doc) := {msg |
	doc.kind == "KafkaTopic"
	ms := to_number(doc.spec.config["retention.ms"])
	not within_bounds(ms)
	msg := sprintf(
		"topic %s keeps data for retention.ms %v, outside %v..%v",
		[doc.metadata.name, ms, data.kafka.retention_ms.min, data.kafka.retention_ms.max],
	)
}

within_bounds(ms) if {
	ms >= data.kafka.retention_ms.min
	ms <= data.kafka.retention_ms.max
}
