"""The study data dictionary: one YAML file, the single source of truth for every form."""

from latc.dictionary._model import (
    Condition,
    Dictionary,
    DictionaryError,
    Field,
    Form,
    default_dictionary_path,
    load_dictionary,
    parse_condition,
)

__all__ = [
    "Condition",
    "Dictionary",
    "DictionaryError",
    "Field",
    "Form",
    "default_dictionary_path",
    "load_dictionary",
    "parse_condition",
]
