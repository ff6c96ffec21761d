// {{name}}: a gavel policy plugin written in JavaScript.
//
// It denies Kubernetes objects that lack any label listed in its settings
// (default: `team`). `build.sh` turns this module into a WebAssembly
// component; `gavel test tests/suite.yaml` runs its test suite.
//
// How WIT maps to JavaScript here: the world's exports are this module's
// exported functions, in camelCase (`validate-settings` is
// `validateSettings`); records are plain objects with camelCase keys; enums
// are their case names as strings ("deny", "medium"); variants are
// `{ tag, val }`; an absent `option` is `null`. A function returning
// `result<T, E>` returns T, or throws E to return the error. Every call runs
// in a fresh instance, so nothing here keeps state from one call to the next.

import { log } from "gavel:policy/log@0.1.0";

const DEFAULT_LABELS = ["team"];

const SETTINGS_SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  properties: {
    labels: {
      description: "labels every object must carry",
      type: "array",
      items: { type: "string", minLength: 1 },
      default: DEFAULT_LABELS,
    },
  },
  additionalProperties: false,
};

export function metadata() {
  return {
    name: "{{name}}",
    version: "0.1.0",
    description: "Deny Kubernetes objects that lack required labels",
    category: "other",
    subjects: ["admission", "manifest"],
    settingsSchema: JSON.stringify(SETTINGS_SCHEMA),
  };
}

// result<_, string>: return to accept, throw the message to refuse.
export function validateSettings(settings) {
  const problem = settingsProblem(settings);
  if (problem !== null) {
    throw problem;
  }
}

// result<verdict, error>: throw a case of the WIT `error` variant to fail.
export function evaluate(subject, settings) {
  const problem = settingsProblem(settings);
  if (problem !== null) {
    throw { tag: "invalid-settings", val: problem };
  }
  const labels = requiredLabels(settings);
  const object = judgedObject(subject);
  const missing =
    object === undefined ? [] : labels.filter((label) => !hasLabel(object, label));
  if (missing.length === 0) {
    return verdict("allow", []);
  }
  // Log counts, never names or values from the subject: log lines land in
  // the host's logs.
  log("debug", `${missing.length} required label(s) missing`);
  return verdict("deny", [
    {
      code: "labels.missing",
      message: `add labels: ${missing.join(", ")}`,
      severity: "medium",
      path: "/metadata/labels",
    },
  ]);
}

function verdict(decision, findings) {
  return { decision, findings, metrics: [], actions: [] };
}

// Parse settings: empty text and `null` mean the defaults.
function parseSettings(settings) {
  return settings.trim() === "" ? null : JSON.parse(settings);
}

// What is wrong with the settings, for the policy author, or null.
function settingsProblem(settings) {
  let value;
  try {
    value = parseSettings(settings);
  } catch (e) {
    return `invalid settings: not JSON (${e.message})`;
  }
  if (value === null) {
    return null;
  }
  if (typeof value !== "object" || Array.isArray(value)) {
    return 'invalid settings: expected an object such as {"labels": ["team"]}';
  }
  const unknown = Object.keys(value).filter((key) => key !== "labels");
  if (unknown.length > 0) {
    return `invalid settings: unknown field \`${unknown[0]}\`: the only field is \`labels\``;
  }
  const labels = value.labels;
  if (
    labels !== undefined &&
    !(
      Array.isArray(labels) &&
      labels.every((label) => typeof label === "string" && label !== "")
    )
  ) {
    return 'invalid settings: labels must be an array of non-empty strings, such as ["team"]';
  }
  return null;
}

function requiredLabels(settings) {
  return parseSettings(settings)?.labels ?? DEFAULT_LABELS;
}

// The object a label policy judges, parsed, or undefined when there is none.
// DELETE requests carry no object, and CONNECT requests and sub-resources
// (`status`, `scale`, `exec`, ...) carry something other than the resource.
function judgedObject(subject) {
  let text;
  if (subject.tag === "admission") {
    const request = subject.val;
    if (request.operation === "connect" || request.subResource != null) {
      return undefined;
    }
    text = request.object;
  } else if (subject.tag === "manifest") {
    text = subject.val.document;
  } else {
    return undefined;
  }
  if (text == null) {
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw { tag: "invalid-subject", val: `object is not valid JSON: ${e.message}` };
  }
}

// A label counts when metadata.labels has it with a string value.
function hasLabel(object, key) {
  const labels = object?.metadata?.labels;
  return (
    typeof labels === "object" &&
    labels !== null &&
    Object.hasOwn(labels, key) &&
    typeof labels[key] === "string"
  );
}
