#!/usr/bin/env python3
"""Validate OCSF records, one JSON object a line on standard input (the output of
`jit audit export --format ocsf`), offline, against the OCSF 1.5.0 schema as the
`ocsf-emitter` package from PyPI carries it (Pydantic models generated from the schema).

Each record is checked three ways:
  1. the model of its class (by class_uid): required attributes, types, enumerations;
  2. ocsf_emitter.validate: category, type_uid = class_uid*100 + activity_id, the sibling
     name fields, metadata.version;
  3. here: no attribute the schema does not define, at any depth (the models let unknown
     attributes through), outside `unmapped` and the free-form `data` objects; and
     activity_name is the schema's name of activity_id.

Prints one line per valid record (`LINE CLASS_UID TYPE_UID`); each problem goes to standard
error; exits 1 when any record is invalid, 2 when there is no input.
"""

import json
import sys
import typing

import pydantic
from ocsf_emitter import InvalidFindingError, _models, defaults, validate

FREE_FORM = {"unmapped", "data"}


def model_classes(annotation):
    """The pydantic model classes an annotation admits (through Optional, list, ...)."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return [annotation]
    found = []
    for arg in typing.get_args(annotation):
        found.extend(model_classes(arg))
    return found


def unknown_keys(model, value, path, problems):
    if isinstance(value, list):
        for i, item in enumerate(value):
            unknown_keys(model, item, f"{path}[{i}]", problems)
        return
    if not isinstance(value, dict):
        return
    fields = {(f.alias or name): f for name, f in model.model_fields.items()}
    for key, item in value.items():
        where = f"{path}.{key}" if path else key
        field = fields.get(key)
        if field is None:
            problems.append(f"{where}: not an attribute of {model.__name__}")
            continue
        if key in FREE_FORM:
            continue
        for inner in model_classes(field.annotation):
            unknown_keys(inner, item, where, problems)


def check(record):
    problems = []
    spec = defaults.class_spec_by_uid(record.get("class_uid"))
    if spec is None:
        return [f"class_uid {record.get('class_uid')!r} is not an OCSF 1.5.0 class"], None
    model = getattr(_models, spec.model_name)
    try:
        event = model.model_validate(record)
        validate(event)
    except pydantic.ValidationError as err:
        problems.extend(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
    except InvalidFindingError as err:
        problems.append(str(err))
        problems.extend(getattr(err, "field_errors", []) or [])
    unknown_keys(model, record, "", problems)
    try:
        expected = spec.action(record.get("activity_id")).name.replace("_", " ").title()
        if record.get("activity_name", "").title() != expected:
            problems.append(
                f"activity_name: {record.get('activity_name')!r}, the schema says {expected!r}"
            )
    except ValueError:
        problems.append(f"activity_id {record.get('activity_id')!r} is not one of {spec.class_name}'s")
    return problems, spec


def main():
    bad = 0
    seen = 0
    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        seen += 1
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            print(f"line {number}: not JSON: {err}", file=sys.stderr)
            bad += 1
            continue
        problems, _ = check(record)
        if problems:
            bad += 1
            for problem in problems:
                print(f"line {number} ({record.get('unmapped', {}).get('kind')}): {problem}", file=sys.stderr)
        else:
            print(number, record["class_uid"], record["type_uid"])
    if seen == 0:
        print("no records on standard input", file=sys.stderr)
        sys.exit(2)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
