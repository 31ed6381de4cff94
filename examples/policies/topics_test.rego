package main

import rego.v1

topic(name, config) := {"kind": "KafkaTopic", "metadata": {"name": name}, "spec": {"config": config}}

test_a_well_named_topic_passes if {
	count(deny) == 0 with input as topic("payments.orders.created", {})
}

test_a_topic_without_team_and_domain_is_denied if {
	count(deny) == 1 with input as topic("orders", {})
}

test_retention_within_bounds_passes if {
	count(deny) == 0 with input as topic("payments.orders.created", {"retention.ms": "86400000"})
}

test_retention_over_the_bound_is_denied if {
	count(deny) == 1 with input as topic("payments.orders.created", {"retention.ms": "-1"})
}

test_other_kinds_are_not_topics if {
	count(deny) == 0 with input as {"kind": "ConfigMap", "metadata": {"name": "x"}}
}
