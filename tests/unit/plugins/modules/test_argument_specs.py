"""Each module's DOCUMENTATION and the spec its code validates with say the same.

ansible-test's validate-modules compares them only for modules that build an AnsibleModule; the action-only
modules (activate, deliver, fleet_plan, summary) are documentation files whose spec is in
module_utils/_argspecs.py, so this test is their check (and a second one for the in-process modules).
"""

import importlib
import os
import re

import pytest
import yaml

from ansible.utils.plugin_docs import merge_fragment

from ansible_collections.mxone.pki.plugins.module_utils._argspecs import ACTION_MODULES

PACKAGE = "ansible_collections.mxone.pki.plugins"
# Modules whose spec the code shares: the action-only ones, and every module that gives it (module_kwargs()) to
# its in-process action.
MODULES_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "plugins", "modules")


def _gives_its_spec(name):
    with open(os.path.join(MODULES_DIR, name), encoding="utf-8") as handle:
        return "\ndef module_kwargs(" in handle.read()


IN_PROCESS = tuple(sorted(n[:-3] for n in os.listdir(MODULES_DIR) if n.endswith(".py") and _gives_its_spec(n)))
# validate-modules' no-log-needed rule (ansible-test's is_potential_secret_option, short): an option named
# like a secret, not a path, flag or choice, must say no_log, True or False, on purpose.
NO_LOG_NAME = re.compile(r"(?:pass(?!ive)|secret|token|key)", re.I)
NOT_SECRET_SUFFIX = ("_count", "_type", "_alg", "_algorithm", "_timeout", "_name", "_comment", "_bits", "_id",
                     "_identifier", "_period", "_file", "_filename")
SECRET_NAME = re.compile(r"pass(?:word|phrase)", re.I)


def _fragment(name):
    """'mxone.pki.issue.lifetime' -> the YAML of doc_fragments/issue.py ModuleDocFragment.LIFETIME."""
    parts = name.split(".")
    assert parts[:2] == ["mxone", "pki"], name
    module = importlib.import_module("%s.doc_fragments.%s" % (PACKAGE, parts[2]))
    attribute = parts[3].upper() if len(parts) > 3 else "DOCUMENTATION"
    return yaml.safe_load(getattr(module.ModuleDocFragment, attribute))


def documented_options(name):
    """The module's options with its doc fragments merged in, as ansible-doc merges them."""
    doc = yaml.safe_load(importlib.import_module("%s.modules.%s" % (PACKAGE, name)).DOCUMENTATION)
    options = doc.get("options") or {}
    for fragment_name in doc.get("extends_documentation_fragment", []):
        merge_fragment(options, _fragment(fragment_name).get("options") or {})
    return options


def spec_kwargs(name):
    if name in ACTION_MODULES:
        return ACTION_MODULES[name]()
    return importlib.import_module("%s.modules.%s" % (PACKAGE, name)).module_kwargs()


def _differences(documented, spec, where):
    """Every way the documented options and the spec disagree, one line each."""
    problems = []
    for option in sorted(set(documented) ^ set(spec)):
        problems.append("%s%s: %s only" % (where, option, "documented" if option in documented else "in the spec"))
    for option in sorted(set(documented) & set(spec)):
        doc, arg = documented[option] or {}, spec[option]
        facts = dict(
            type=(doc.get("type", "str"), arg.get("type", "str")),
            default=(doc.get("default"), arg.get("default")),
            required=(bool(doc.get("required", False)), bool(arg.get("required", False))),
            choices=(doc.get("choices"), arg.get("choices")),
            elements=(doc.get("elements"), arg.get("elements")),
        )
        for fact, (said, done) in facts.items():
            if said != done:
                problems.append("%s%s: %s documented %r, spec %r" % (where, option, fact, said, done))
        if doc.get("suboptions") or arg.get("options"):
            problems += _differences(doc.get("suboptions") or {}, arg.get("options") or {}, "%s%s." % (where, option))
    return problems


@pytest.mark.parametrize("name", sorted(ACTION_MODULES) + list(IN_PROCESS))
def test_documentation_matches_the_spec(name):
    assert _differences(documented_options(name), spec_kwargs(name)["argument_spec"], "") == []


def _options(spec, where=""):
    for option, arg in spec.items():
        yield where + option, arg
        yield from _options(arg.get("options") or {}, "%s%s." % (where, option))


@pytest.mark.parametrize("name", sorted(ACTION_MODULES) + list(IN_PROCESS))
def test_secrets_are_no_log_and_key_names_say_so(name):
    for option, arg in _options(spec_kwargs(name)["argument_spec"]):
        last = option.split(".")[-1]
        if SECRET_NAME.search(last):
            assert arg.get("no_log") is True, "%s %s holds a secret: no_log=True" % (name, option)
        elif NO_LOG_NAME.search(last) and not last.endswith(NOT_SECRET_SUFFIX) and not arg.get("choices") \
                and arg.get("type", "str") not in ("path", "bool"):
            assert "no_log" in arg, "%s %s: say no_log=False if it is not a secret" % (name, option)


def test_the_differences_are_found():
    """The comparison itself: a changed default, a missing option, a suboption's type."""
    documented = dict(a=dict(type="int", default=1), b=dict(type="dict", suboptions=dict(c=dict(type="path"))))
    spec = dict(a=dict(type="int", default=2), b=dict(type="dict", options=dict(c=dict(type="str"))),
                d=dict(type="bool"))
    assert _differences(documented, spec, "") == [
        "d: in the spec only", "a: default documented 1, spec 2", "b.c: type documented 'path', spec 'str'"]
