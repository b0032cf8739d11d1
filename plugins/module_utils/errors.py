# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One error type for everything mxone.pki refuses.

It carries *where* the problem is (host, file, field) besides *what* it is,
so a module can hand all three to ``fail_json`` and a user with fifty
systems knows which one to fix. Messages never contain key material.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re


class MxonePkiError(Exception):
    def __init__(self, msg, host=None, file=None, field=None):
        super(MxonePkiError, self).__init__(msg)
        self.msg = msg
        self.host = host
        self.file = file
        self.field = field

    def where(self, host=None, file=None, field=None):
        """Fill in location fields the raiser did not know; keep the ones it did."""
        self.host = self.host or host
        self.file = self.file or file
        self.field = self.field or field
        return self

    def context(self):
        return dict((k, v) for k, v in (("host", self.host), ("file", self.file), ("field", self.field)) if v)

    def __str__(self):
        parts = ["%s=%s" % (k, v) for k, v in sorted(self.context().items())]
        return "%s (%s)" % (self.msg, ", ".join(parts)) if parts else self.msg


def name_variables(result, variables):
    """``result`` (a failed task result) with its ``field`` named as the user set it.

    ``variables`` maps a module option to the variable a caller fills it from, e.g. ``{"ca_passphrase":
    "mxone_ca_passphrase"}``: a user of the collection's roles never wrote ``ca_passphrase`` and must fix
    ``mxone_ca_passphrase``. The message's ``(field=...)`` part (``MxonePkiError.__str__``) says the same. Any
    other result is returned as it is.
    """
    if not isinstance(result, dict) or not result.get("failed"):
        return result
    field = result.get("field")
    variable = variables.get(field) if isinstance(field, str) else None
    if not variable:
        return result
    named = dict(result, field=variable)
    if isinstance(named.get("msg"), str):
        named["msg"] = re.sub(r"(?<=[(\s])field=%s(?=[,)])" % re.escape(field), "field=" + variable, named["msg"])
    return named
