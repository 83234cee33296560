"""spec.SchemaValidator lets jsonschema-rs say "valid" before python-jsonschema runs. It must never
say so where python-jsonschema (whose errors become the vendors' messages) would refuse: the two are
compared over every schema of every spec, on the spec's examples and on hostile edits of them."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mock_server import VENDORS, load_spec
from tests.test_specs import examples_with_schemas

SPECS = {vendor: load_spec(vendor) for vendor in VENDORS}


def every_schema():
    """(vendor, schema, examples): each operation's body and parameters, and each component."""
    for vendor, spec in SPECS.items():
        examples: dict[str, list] = {}
        for _, example, schema in examples_with_schemas(spec):
            examples.setdefault(repr(schema), []).append(example)
        for op in spec.operations:
            if op.body_schema is not None:
                yield vendor, op.body_schema, examples.get(repr(op.body_schema), [])
            for parameter in op.parameters:
                yield vendor, parameter.schema, examples.get(repr(parameter.schema), [])
        for name in spec.document.get("components", {}).get("schemas", {}):
            schema = spec.component_schema(name)
            yield vendor, schema, examples.get(repr(schema), []) + examples.get(
                repr(spec.resolve(schema)), [])


SCHEMAS = list(every_schema())

# Where jsonschema-rs and python-jsonschema could part: integral floats, int32/int64 edges, big
# integers, format corner cases (python-jsonschema's rules are the vendors'), surrogates, newlines
# before the end of a pattern match, booleans for numbers.
EDGES = [1.0, 0.0, -0.0, 1e18, 2.5, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**63 - 1, 2**63, -(2**63) - 1,
         2**70, True, False, None, "", "x", "1", "abc\n", "\ud800", "2024-01-31T10:00:00Z", "2024-01-31T10:00:00",
         "2024-13-01T00:00:00Z", "2024-01-31", "2024-02-30", "31/01/2024", "a@b.co", "not an email",
         "https://example.com/x", "example.com", "123e4567-e89b-12d3-a456-426614174000", "123e4567",
         "oppo_x", "lead_" + "a" * 43, "lead_" + "a" * 43 + "\n", "\u0662\u0660\u0662\u0664-01-31T10:00:00Z",
         "active,won", "won,", [], {}, [1], {"a": 1}]
# In place of each field of each example (the whole list made this sweep 5 s).
SWEEP = [1.0, 2**31, -(2**31) - 1, 2**63, 2**70, True, None, "", "abc\n", "\ud800", "2024-13-01T00:00:00Z",
         "2024-01-31", "not an email", "example.com", "123e4567", [], {}]
leaf = st.one_of(st.sampled_from(EDGES), st.integers(-(2**65), 2**65), st.floats(allow_nan=False),
                 st.text(max_size=10), st.booleans(), st.none())
value = st.recursive(leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                         max_size=3), max_leaves=8)


@st.composite
def instances(draw, case):
    """An example of the schema, or any value, with some fields replaced, removed or added."""
    _, schema, examples = case
    base = draw(st.sampled_from(examples)) if examples and draw(st.booleans()) else draw(value)
    if isinstance(base, dict):
        base = dict(base)
        for _ in range(draw(st.integers(0, 3))):
            keys = sorted(base)
            action = draw(st.sampled_from(["replace", "remove", "add"] if keys else ["add"]))
            if action == "add":
                base[draw(st.text(max_size=6))] = draw(value)
            else:
                key = draw(st.sampled_from(keys))
                if action == "remove":
                    del base[key]
                else:
                    base[key] = draw(value)
    return base


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_jsonschema_rs_never_accepts_what_python_jsonschema_refuses(data):
    case = data.draw(st.sampled_from(SCHEMAS))
    instance = data.draw(instances(case))
    validator = SPECS[case[0]].validator(case[1])
    answered = [(list(e.absolute_path), e.message) for e in validator.iter_errors(instance)]
    reference = [(list(e.absolute_path), e.message) for e in validator.python.iter_errors(instance)]
    assert answered == reference


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_schema_compiles_for_the_fast_path_and_takes_the_specs_examples(vendor):
    """Without this a schema jsonschema-rs cannot compile would quietly lose the speed-up."""
    cases = [case for case in SCHEMAS if case[0] == vendor]
    assert len(cases) > 10
    for _, schema, examples in cases:
        validator = SPECS[vendor].validator(schema)
        assert validator._fast is not None, schema
        for example in examples:
            assert validator._fast.is_valid(example) == (not list(validator.python.iter_errors(example))), example


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_edge_value_in_every_field_of_every_example_gets_python_jsonschemas_answer(vendor):
    """The sweep beside the random search: each edge value as each parameter, and in place of each
    field of each example."""
    for _, schema, examples in (case for case in SCHEMAS if case[0] == vendor):
        validator = SPECS[vendor].validator(schema)
        candidates = list(EDGES)
        for example in examples:
            if isinstance(example, dict):
                candidates += [{**example, field: edge} for field in example for edge in SWEEP]
        for instance in candidates:
            answered = [(list(e.absolute_path), e.message) for e in validator.iter_errors(instance)]
            reference = [(list(e.absolute_path), e.message) for e in validator.python.iter_errors(instance)]
            assert answered == reference, (schema, instance)
