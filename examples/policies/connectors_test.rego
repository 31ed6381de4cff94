package kpops

import rego.v1

connector(class) := {"components": [{
	"name": "sink",
	"type": "kafka-sink-connector",
	"head": {"config": {"config": {"connector.class": class}}},
}]}

test_an_allowed_class_passes if {
	count(connector_denials(connector("io.confluent.connect.s3.S3SinkConnector"))) == 0
}

test_another_class_is_denied if {
	count(connector_denials(connector("org.example.EvilConnector"))) == 1
}
