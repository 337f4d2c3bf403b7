"""Forms generated from data: the catalog's entries and knobs, and the job spec's JSON schema.

A form is a tree of nodes (plain dicts, rendered by ``templates/_fields.html``):

- ``input``: one value (``type`` integer, number, string, boolean or json; ``choices`` make a select),
- ``checks``: a list of choices (an array of an enum),
- ``group``: an object's fields (``optional``: sent only when its box is ticked),
- ``union``: a tagged choice (catalog entries, discriminated unions) with one group per branch.

Input names are dotted spec paths; a union branch's fields are named ``<union>@<branch>.<knob>``
so branches may share knob names. :func:`collect` turns a submitted form back into a spec dict
(values stay strings where the spec's validation parses them, so its error messages are the ones
the API gives), and :func:`place_errors` puts the API's field errors next to their inputs.
A new catalog entry or spec field appears in the forms without any change here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

SCALARS = {"integer", "number", "string", "boolean"}
#: Nested objects deeper than this are edited as JSON.
MAX_DEPTH = 3

FormData = Mapping[str, list[str]]


def _label(name: str) -> str:
    return name.replace("_", " ")


def _resolve(schema: dict, defs: dict) -> dict:
    ref = schema.get("$ref")
    return defs.get(ref.rsplit("/", 1)[-1], {}) if ref else schema


def _options(schema: dict, defs: dict) -> list[dict]:
    schema = _resolve(schema, defs)
    alts = schema.get("anyOf")
    if not alts:
        return [schema]
    return [leaf for alt in alts for leaf in _options(alt, defs)]


def input_node(name: str, key: str, *, type_: str, choices=None, default=None, minimum=None, maximum=None,
           description: str | None = None, nullable: bool = False, required: bool = False) -> dict:
    if type_ == "object" and choices:
        # a union of specs (a transform...): edited as JSON, its kinds listed
        description = f"{description + '; ' if description else ''}JSON object of kind {', '.join(map(str, choices))}"
        choices = None
    if type_ not in SCALARS:
        type_ = "json"
    if choices is not None and type_ == "json":
        type_ = "string"
    if default is not None and type_ == "json":
        default = json.dumps(default)
    elif isinstance(default, bool):
        default = "true" if default else "false"
    return {"node": "input", "name": name, "key": key, "label": _label(key), "type": type_,
            "choices": list(choices) if choices is not None else None,
            "default": "" if default is None else str(default), "minimum": minimum, "maximum": maximum,
            "description": description, "nullable": nullable, "required": required}


def _range(main: dict) -> tuple[Any, Any]:
    return main.get("minimum", main.get("exclusiveMinimum")), main.get("maximum", main.get("exclusiveMaximum"))


def schema_node(name: str, key: str, prop: dict, defs: dict, *, required: bool = False, depth: int = 0) -> dict:
    """The form node of one property of a JSON schema."""
    options = _options(prop, defs)
    concrete = [o for o in options if o.get("type") != "null"]
    nullable = len(concrete) != len(options)
    main = concrete[0] if concrete else {}
    description = prop.get("description") or main.get("description")
    if description and "\n" in description:
        description = description.split("\n", 1)[0]
    union = main if ("oneOf" in main and "discriminator" in main) else None
    if union is not None and depth < MAX_DEPTH:
        tag = union["discriminator"]["propertyName"]
        branches = []
        for ref in union["oneOf"]:
            branch = _resolve(ref, defs)
            value = (branch.get("properties", {}).get(tag) or {}).get("const")
            if value is None:
                continue
            fields = object_fields(f"{name}@{value}", branch, defs, skip=(tag,), depth=depth + 1)
            branches.append({"name": value, "description": (branch.get("description") or "").split("\n", 1)[0], "fields": fields})
        return union_node(name, key, tag, branches, description=description, nullable=nullable)
    if main.get("type") == "object" and main.get("properties") and depth < MAX_DEPTH:
        return {"node": "group", "name": name, "key": key, "label": _label(key), "description": description,
                "optional": nullable, "fields": object_fields(name, main, defs, depth=depth + 1)}
    if main.get("type") == "array":
        items = _resolve(main.get("items", {}), defs)
        if "enum" in items:
            default = prop.get("default")
            return {"node": "checks", "name": name, "key": key, "label": _label(key), "description": description,
                    "choices": list(items["enum"]), "default": list(default) if default is not None else list(items["enum"])}
    minimum, maximum = _range(main)
    return input_node(name, key, type_=main.get("type", "json") if "enum" not in main else "string",
                  choices=main.get("enum"), default=prop.get("default", main.get("default")),
                  minimum=minimum, maximum=maximum, description=description, nullable=nullable, required=required)


def object_fields(name: str, schema: dict, defs: dict, *, skip: tuple[str, ...] = (), depth: int = 0,
                  overrides: Mapping[str, dict] | None = None) -> list[dict]:
    """The nodes of an object schema's properties (``overrides`` replaces some by prebuilt nodes)."""
    required = set(schema.get("required", ()))
    nodes = []
    for key, prop in schema.get("properties", {}).items():
        if key in skip:
            continue
        path = f"{name}.{key}" if name else key
        if overrides and key in overrides:
            nodes.append(overrides[key])
            continue
        nodes.append(schema_node(path, key, prop, defs, required=key in required, depth=depth))
    return nodes


def union_node(name: str, key: str, tag: str, branches: list[dict], *, description: str | None = None,
               nullable: bool = False, selected: str | None = None) -> dict:
    return {"node": "union", "name": name, "key": key, "label": _label(key), "tag": tag, "description": description,
            "branches": branches, "optional": nullable,
            "default": selected or (branches[0]["name"] if branches else "")}


def knob_node(prefix: str, knob: Mapping[str, Any]) -> dict:
    """The input of a catalog knob (``{"name", "type", "minimum", "maximum", "default", "choices"?}``)."""
    return input_node(f"{prefix}.{knob['name']}", knob["name"], type_=knob.get("type") or "json", choices=knob.get("choices"),
                  default=knob.get("default"), minimum=knob.get("minimum"), maximum=knob.get("maximum"),
                  description=knob.get("description"), nullable=bool(knob.get("nullable")))


def catalog_union(name: str, key: str, tag: str, entries: list[Mapping[str, Any]], selected: str | None = None) -> dict:
    """A union node with one branch per catalog entry, its knobs as inputs."""
    branches = [{"name": e["name"], "description": e.get("description", ""),
                 "fields": [knob_node(f"{name}@{e['name']}", k) for k in e.get("knobs", [])]} for e in entries]
    return union_node(name, key, tag, branches, selected=selected)


# --- submitted forms -> spec ------------------------------------------------------------------

def _number(text: str) -> Any:
    """A form's text as the number it spells (the spec's sizes are strict integers); other text
    stays text, so the spec's validation names the field and says what it expected."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _value(node: dict, raw: str) -> Any:
    """A submitted text as the spec value: numbers parsed when they are numbers (else left as text
    for the validation to name), JSON fields parsed, lists may be comma-separated."""
    text = raw.strip()
    if node["type"] in ("integer", "number"):
        return _number(text)
    if node["type"] not in ("json", "array"):
        return text
    if text[:1] in "[{\"" or text in ("true", "false", "null"):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text  # the validation says what it expected
    return [_number(part.strip()) for part in text.split(",") if part.strip()]


def _first(form: FormData, name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None


def collect(nodes: list[dict], form: FormData, paths: dict[str, str], prefix: str = "") -> dict:
    """The spec dict a submitted form describes; ``paths`` receives spec path -> input name."""
    out: dict[str, Any] = {}
    for node in nodes:
        spec_path = f"{prefix}{node['key']}"
        kind = node["node"]
        if kind == "input":
            raw = _first(form, node["name"])
            paths[spec_path] = node["name"]
            if raw is None or not raw.strip():
                continue
            out[node["key"]] = _value(node, raw)
        elif kind == "checks":
            paths[spec_path] = node["name"]
            out[node["key"]] = [v for v in form.get(node["name"], []) if v in node["choices"]]
        elif kind == "group":
            paths[spec_path] = node["name"]
            if node["optional"] and _first(form, node["name"] + ".enabled") != "on":
                continue
            out[node["key"]] = collect(node["fields"], form, paths, spec_path + ".")
        elif kind == "union":
            tag_name = f"{node['name']}.{node['tag']}"
            paths[spec_path] = tag_name
            paths[f"{spec_path}.{node['tag']}"] = tag_name
            if node["optional"] and _first(form, node["name"] + ".enabled") != "on":
                continue
            chosen = _first(form, tag_name) or ""
            value: dict[str, Any] = {node["tag"]: chosen}
            for branch in node["branches"]:
                if branch["name"] == chosen:
                    value.update(collect(branch["fields"], form, paths, spec_path + "."))
            out[node["key"]] = value
    return out


def place_errors(errors: list[Mapping[str, str]], paths: Mapping[str, str], branch_names: set[str]) -> tuple[dict[str, str], list[str]]:
    """Map the API's field errors (``body.target.p``) to input names; the rest are form-wide."""
    placed: dict[str, str] = {}
    general: list[str] = []
    for err in errors:
        field, message = str(err.get("field") or ""), str(err.get("message") or "invalid")
        parts = [p for p in field.split(".") if p]
        if parts[:1] == ["body"]:
            parts = parts[1:]
        parts = [p for p in parts if p not in branch_names]  # union tags pydantic puts in the path
        name = None
        while parts:
            name = paths.get(".".join(parts))
            if name is not None:
                break
            parts = parts[:-1]
        if name is None:
            general.append(f"{field}: {message}" if field else message)
        else:
            placed.setdefault(name, message)
    return placed, general


def branch_names(nodes: list[dict]) -> set[str]:
    names: set[str] = set()
    for node in nodes:
        if node["node"] == "union":
            for branch in node["branches"]:
                names.add(branch["name"])
                names |= branch_names(branch["fields"])
        elif node["node"] == "group":
            names |= branch_names(node["fields"])
    return names


def parse_urlencoded(body: bytes) -> dict[str, list[str]]:
    """An ``application/x-www-form-urlencoded`` body as name -> values."""
    from urllib.parse import parse_qsl

    out: dict[str, list[str]] = {}
    for key, value in parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True, max_num_fields=2000):
        out.setdefault(key, []).append(value)
    return out
