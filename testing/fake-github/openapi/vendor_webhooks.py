#!/usr/bin/env python3
"""Vendors the `workflow_job` webhooks of GitHub's OpenAPI description into fake-github.

usage: vendor_webhooks.py <github-openapi-workflow-jobs.json>

- Inlines every `$ref` of the description's `x-webhooks` into
  `github-openapi-workflow-jobs.deref.json` (beside this script; its `paths` are left as
  they are), so that the contract checker validates the deliveries fake-github sends.
- Writes `webhook-templates.json`: the smallest objects the schemas accept for a delivery's
  `repository`, `organization`, `sender` and `workflow_job` (every required field, with a
  value of its declared type and format), which fake-github fills in for each job.
"""
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent


def deref(node, doc, seen=()):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if ref is not None:
            if ref in seen:
                raise SystemExit(f"recursive $ref {ref}")
            target = doc
            for part in ref.lstrip("#/").split("/"):
                target = target[part]
            return deref(target, doc, seen + (ref,))
        return {k: deref(v, doc, seen) for k, v in node.items()}
    if isinstance(node, list):
        return [deref(v, doc, seen) for v in node]
    return node


def merged(schema):
    """An `allOf` folded into one object schema (required lists and properties joined)."""
    if "allOf" not in schema:
        return schema
    out = {"type": "object", "properties": {}, "required": []}
    for part in schema["allOf"]:
        part = merged(part)
        out["properties"].update(part.get("properties", {}))
        out["required"] += [r for r in part.get("required", []) if r not in out["required"]]
    return out


def sample(schema, name=""):
    schema = merged(schema)
    if "enum" in schema:
        return next(v for v in schema["enum"] if v is not None)
    if "anyOf" in schema or "oneOf" in schema:
        return sample((schema.get("anyOf") or schema.get("oneOf"))[0], name)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next(k for k in kind if k != "null")
    if schema.get("nullable") and kind != "object":
        return None
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {k: sample(props.get(k, {"type": "string"}), k) for k in schema.get("required", [])}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return False
    fmt = schema.get("format")
    if fmt == "uri":
        return f"https://github.example/{name or 'x'}"
    if fmt == "date-time":
        return "2026-12-06T10:00:00Z"
    if fmt == "email":
        return "octocat@github.example"
    return name or "x"


def main():
    source = json.loads(pathlib.Path(sys.argv[1]).read_text())
    webhooks = deref(source["x-webhooks"], source)
    target = HERE / "github-openapi-workflow-jobs.deref.json"
    vendored = json.loads(target.read_text())
    vendored["x-webhooks"] = webhooks
    target.write_text(json.dumps(vendored, indent=1, sort_keys=True) + "\n")
    body = webhooks["workflow-job-queued"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    props = body["properties"]
    templates = {key: sample(props[key], key) for key in ("repository", "organization", "sender", "workflow_job")}
    (HERE / "webhook-templates.json").write_text(json.dumps(templates, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
