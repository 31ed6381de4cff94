from __future__ import annotations

import pytest

from kpops_bot.helm.manifests import TemplateParseError, render_template_output


def test_orders_by_kind_then_keeps_file_order_and_puts_hooks_last() -> None:
    rendered = {
        "app/templates/_helpers.tpl": "",
        "app/templates/NOTES.txt": "Thanks for installing",
        "app/templates/deployment.yaml": "kind: Deployment\nmetadata:\n  name: d\n",
        "app/templates/hook.yaml": (
            "kind: Job\nmetadata:\n  name: h\n  annotations:\n    helm.sh/hook: post-install\n"
        ),
        "app/templates/multi.yaml": "kind: Service\nmetadata:\n  name: s\n---\nkind: ConfigMap\nmetadata:\n  name: c\n",
        "app/templates/empty.yaml": "\n",
        "app/templates/zz-custom.yaml": "kind: ScaledObject\nmetadata:\n  name: so\n",
        "app/templates/aa-custom.yaml": "kind: KafkaTopic\nmetadata:\n  name: t\n",
    }
    output = render_template_output(rendered)
    sources = [line.removeprefix("# Source: ") for line in output.splitlines() if line.startswith("# Source:")]
    assert sources == [
        "app/templates/multi.yaml",  # ConfigMap
        "app/templates/multi.yaml",  # Service
        "app/templates/deployment.yaml",
        "app/templates/aa-custom.yaml",  # unknown kinds last, alphabetically
        "app/templates/zz-custom.yaml",
        "app/templates/hook.yaml",
    ]
    assert output.startswith("---\n# Source: app/templates/multi.yaml\nkind: ConfigMap\n")
    assert "Thanks for installing" not in output


def test_test_hooks_are_dropped_on_request() -> None:
    rendered = {"a/templates/t.yaml": "kind: Pod\nmetadata:\n  name: p\n  annotations:\n    helm.sh/hook: test\n"}
    assert "kind: Pod" in render_template_output(rendered)
    assert render_template_output(rendered, skip_tests=True) == ""


def test_invalid_yaml_names_the_template() -> None:
    with pytest.raises(TemplateParseError, match=r"YAML parse error on a/templates/bad\.yaml"):
        render_template_output({"a/templates/bad.yaml": "kind: [Job\n"})
