"""Which warehouse column types a Data Analyst dataset can carry, and what they become in the CSV.

The assistant reads CSV, so every value becomes text; what matters is that the text parses back
into something the assistant's generated code can compute with. Semi-structured and binary types
(VARIANT, OBJECT, ARRAY, BINARY, GEOGRAPHY...) do not survive that round trip, and a bare TIME has
no unambiguous meaning without a date, so they are refused at build time instead of published.
The build (cicd/dataservices/build.py) maps a contract's type to one of these; this module stays free
of build-time dependencies because the published bundle's model imports it.
"""

from __future__ import annotations

from typing import Literal

AssistantType = Literal["string", "integer", "float", "boolean", "date", "datetime"]
ACCEPTED: tuple[AssistantType, ...] = ("string", "integer", "float", "boolean", "date", "datetime")
