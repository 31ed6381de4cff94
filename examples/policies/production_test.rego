package kpops

import rego.v1

pipeline(environment, topic) := {
	"environment": environment,
	"components": [{"name": "app", "head": {"config": {"to": {"topics": {"t": topic}}}}}],
}

safe := {"replication_factor": 3, "configs": {"min.insync.replicas": "2"}}

test_a_replicated_prod_topic_passes if {
	count(deny) == 0 with input as pipeline("prod", safe)
}

test_one_replica_in_prod_is_denied if {
	[result] := [r | some r in deny] with input as pipeline("prod", object.union(safe, {"replication_factor": 1}))
	result.topic == "t"
	result.path == ["replication_factor"]
}

test_min_insync_replicas_1_in_prod_is_denied if {
	count(deny) == 1 with input as pipeline("prod", {"replication_factor": 3, "configs": {"min.insync.replicas": "1"}})
}

test_dev_may_have_one_replica if {
	count(deny) == 0 with input as pipeline("dev", {"replication_factor": 1})
}
