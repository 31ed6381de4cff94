package kpops

import rego.v1

connector(class) := {"components": [{
	"name": "sink",
	"type": "kafka-sink-connector",
	"head": {"config": {"config": {"connector.class": class}}},
}]}

test_an_allowed_class_passes if {
	count(deny) == 0 with input as connector("io.confluent.connect.s3.S3SinkConnector")
}

test_another_class_is_denied if {
	count(deny) == 1 with input as connector("org.example.EvilConnector")
}
