"""{{name}}: a gavel policy plugin written in Python.

It denies Kubernetes objects that lack any label listed in its settings
(default: `team`). `build.sh` turns this module into a WebAssembly component
with componentize-py; `gavel test tests/suite.yaml` runs its test suite.

The modules imported below are generated from the WIT in `wit/` when the
component is built; `componentize-py -d wit -w plugin bindings .bindings`
writes them out for your editor. The code runs on the CPython that
componentize-py embeds (3.14), with its standard library. Every call runs in
a fresh instance, so nothing here can keep state from one call to the next.
"""

import json

from componentize_py_types import Err
from wit_world import WitWorld as Plugin
from wit_world.imports import log
from wit_world.imports.types import (
    Category,
    Decision,
    Error_InvalidSettings,
    Error_InvalidSubject,
    Finding,
    Operation,
    PluginMetadata,
    Severity,
    Subject,
    Subject_Admission,
    Subject_Manifest,
    SubjectKind,
    Verdict,
)

DEFAULT_LABELS = ["team"]

SETTINGS_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "labels": {
            "description": "labels every object must carry",
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "default": DEFAULT_LABELS,
        }
    },
    "additionalProperties": False,
}


class WitWorld(Plugin):
    """The plugin. componentize-py looks for a class with this exact name."""

    def metadata(self) -> PluginMetadata:
        return PluginMetadata(
            name="{{name}}",
            version="0.1.0",
            description="Deny Kubernetes objects that lack required labels",
            category=Category.OTHER,
            subjects=[SubjectKind.ADMISSION, SubjectKind.MANIFEST],
            settings_schema=json.dumps(SETTINGS_SCHEMA),
        )

    def validate_settings(self, settings: str) -> None:
        # A WIT `result<_, string>` error is raised as `Err(message)`.
        try:
            required_labels(settings)
        except ValueError as e:
            raise Err(str(e))

    def evaluate(self, subject: Subject, settings: str) -> Verdict:
        # A WIT `result<verdict, error>` error is raised as `Err(<error case>)`.
        try:
            labels = required_labels(settings)
        except ValueError as e:
            raise Err(Error_InvalidSettings(str(e)))
        obj = judged_object(subject)
        if obj is None:
            return Verdict(Decision.ALLOW, [], [], [])
        missing = [label for label in labels if not has_label(obj, label)]
        if not missing:
            return Verdict(Decision.ALLOW, [], [], [])
        # Log counts, never names or values from the subject: log lines land
        # in the host's logs.
        log.log(log.Level.DEBUG, f"{len(missing)} required label(s) missing")
        finding = Finding(
            code="labels.missing",
            message="add labels: " + ", ".join(missing),
            severity=Severity.MEDIUM,
            path="/metadata/labels",
        )
        return Verdict(Decision.DENY, [finding], [], [])


def required_labels(settings: str) -> list[str]:
    """Parse settings; raise ValueError with a message for the policy author."""
    if settings.strip() == "":
        return DEFAULT_LABELS
    try:
        value = json.loads(settings)
    except ValueError as e:
        raise ValueError(f"invalid settings: not JSON ({e})")
    if value is None:
        return DEFAULT_LABELS
    if not isinstance(value, dict):
        raise ValueError(
            'invalid settings: expected an object such as {"labels": ["team"]}'
        )
    unknown = sorted(set(value) - {"labels"})
    if unknown:
        raise ValueError(
            f"invalid settings: unknown field `{unknown[0]}`: the only field is `labels`"
        )
    labels = value.get("labels", DEFAULT_LABELS)
    if not isinstance(labels, list) or not all(
        isinstance(label, str) and label for label in labels
    ):
        raise ValueError(
            'invalid settings: labels must be an array of non-empty strings, such as ["team"]'
        )
    return labels


def judged_object(subject: Subject):
    """The object a label policy judges, parsed, or None when there is none.

    DELETE requests carry no object, and CONNECT requests and sub-resources
    (`status`, `scale`, `exec`, ...) carry something other than the resource.
    """
    if isinstance(subject, Subject_Admission):
        request = subject.value
        if request.operation == Operation.CONNECT or request.sub_resource is not None:
            return None
        text = request.object  # a WIT option<string> is a str or None
    elif isinstance(subject, Subject_Manifest):
        text = subject.value.document
    else:
        return None
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as e:
        raise Err(Error_InvalidSubject(f"object is not valid JSON: {e}"))


def has_label(obj, key: str) -> bool:
    """A label counts when metadata.labels has it with a string value."""
    metadata = obj.get("metadata") if isinstance(obj, dict) else None
    labels = metadata.get("labels") if isinstance(metadata, dict) else None
    return isinstance(labels, dict) and isinstance(labels.get(key), str)
