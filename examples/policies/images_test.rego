package main

import rego.v1

deployment(image) := {
	"kind": "Deployment",
	"metadata": {"name": "app"},
	"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
}

test_a_tagged_image_passes if {
	count(image_denials(deployment("registry.example.com:5000/team/app:1.2.3"))) == 0
}

test_latest_is_denied if {
	count(image_denials(deployment("team/app:latest"))) == 1
}

test_no_tag_is_denied if {
	count(image_denials(deployment("registry.example.com:5000/team/app"))) == 1
}

test_a_digest_passes if {
	count(image_denials(deployment("team/app@sha256:0123456789abcdef"))) == 0
}
