"""The YAML field-mapping engine: МИС SOAP data ↔ upstream JSON, described in mapping files.

Integrators edit ``mappings/<peer>/<name>.yaml`` (see ``docs/mappings.md``); code uses::

    mappings = MappingSet.load(Path("mappings"))
    account = mappings["esia.account"]
    payload = account.to_upstream(soap_dict)      # raises MappingValueError, never with values
    record = account.to_mis(esia_json)
"""

from bridge.mapping._errors import MappingLoadError, MappingValueError, TransformError
from bridge.mapping._examples import ExampleFailure, ExampleResult, check_directory, run_example, run_examples
from bridge.mapping._loader import MappingSet, load_mapping
from bridge.mapping._model import DIRECTIONS, TO_MIS, TO_UPSTREAM, Direction, Example, FieldMapping, Mapping
from bridge.mapping._transforms import TRANSFORMS, Converter, Transform, table_transform

__all__ = [
    "DIRECTIONS",
    "TO_MIS",
    "TO_UPSTREAM",
    "TRANSFORMS",
    "Converter",
    "Direction",
    "Example",
    "ExampleFailure",
    "ExampleResult",
    "FieldMapping",
    "Mapping",
    "MappingLoadError",
    "MappingSet",
    "MappingValueError",
    "Transform",
    "TransformError",
    "check_directory",
    "load_mapping",
    "run_example",
    "run_examples",
    "table_transform",
]
