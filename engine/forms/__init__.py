"""User-task forms: JSON Schema (draft 2020-12) with an rjsf-style UI schema, checked at deploy time,
validated with Chinese messages, and coerced from HTML form posts.

Public face: ``check_schema``, ``resolve_options``, ``validate``, ``FORMAT_PATTERNS``, ``personal_fields`` (schema.py);
``coerce``, ``normalise``, ``field_type``, ``local_input_to_utc``, ``utc_to_local_input`` (coerce.py);
``normalise_phone``, ``is_phone``, ``is_mobile`` and the input limits (limits.py).
"""

from engine.forms.coerce import coerce, field_type, local_input_to_utc, normalise, utc_to_local_input
from engine.forms.limits import is_mobile, is_phone, normalise_phone
from engine.forms.schema import (
           FORMAT_PATTERNS,
           FormErrors,
           check_schema,
           personal_fields,
           resolve_options,
           validate,
)

__all__ = ["FORMAT_PATTERNS", "FormErrors", "check_schema", "coerce", "field_type", "is_mobile", "is_phone",
           "local_input_to_utc", "normalise", "normalise_phone", "personal_fields", "resolve_options", "utc_to_local_input",
           "validate"]
