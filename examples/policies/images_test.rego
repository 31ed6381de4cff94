package main

import rego.v1

deployment(image) := {
	"kind": "Deployment",
	"metadata": {"name": "app"},
	"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
}

test_a_tagged_image_passes if {
	count(deny) == 0 with input as deployment("registry.example.com:5000/team/app:1.2.3")
}

test_latest_is_denied if {
	count(deny) == 1 with input as deployment("team/app:latest")
}

test_no_tag_is_denied if {
	count(deny) == 1 with input as deployment("registry.example.com:5000/team/app")
}

test_a_digest_passes if {
	count(deny) == 0 with input as deployment("team/app@sha256:0123456789abcdef")
}
